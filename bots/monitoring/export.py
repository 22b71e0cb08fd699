"""The monitoring export as a CSV file that German Excel opens by double-click.

Excel decides how to read a CSV from the locale and the first bytes: a UTF-8 byte order mark
makes it read UTF-8 (umlauts intact), ``;`` is the list separator of German locales, and
rows end with CRLF. Dates are written ``31.12.2026`` (Excel reads them as dates there),
numbers as plain digits (no thousands separator, and none of the field types has decimals;
a decimal would need a comma). Choices are written as their labels in the reader's
language, several in one cell separated by ``, ``.

A cell that starts with ``=``, ``+``, ``-``, ``@`` or a tab/CR would be run by Excel as a
formula (pseudonyms and subjects are typed by people), so it gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from .forms import DATE_KEY, Form
from .values import Record, display, to_date

__all__ = ["BOM", "SEPARATOR", "csv_filename", "export_csv"]

BOM = b"\xef\xbb\xbf"
SEPARATOR = ";"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_csv(
    form: Form,
    records: Sequence[Record],
    lang: str,
    yes_no: tuple[str, str],
    columns: tuple[str, str, str],
) -> bytes:
    """One row per monitoring, oldest contact first; columns: number, date, client,
    counsellor, then every other field of the form in its order.

    ``columns`` are the headings of number, client and counsellor (from the
    ``monitoring_csv_column`` template); the fields' headings are their labels in ``lang``.
    """
    fields = [f for f in form.fields if f.key != DATE_KEY]
    date_field = form.field(DATE_KEY)
    date_label = date_field.label(lang) if date_field else DATE_KEY
    number, client, counsellor = columns
    out = io.StringIO()
    writer = csv.writer(out, delimiter=SEPARATOR, lineterminator="\r\n")
    header = [number, date_label, client, counsellor, *(f.label(lang) for f in fields)]
    writer.writerow([_safe(h) for h in header])
    for record in sorted(records, key=_order):
        day = to_date(record.values.get(DATE_KEY))
        cells = [
            str(record.id),
            day.strftime("%d.%m.%Y") if day else "",
            _safe(record.client),
            _safe(record.counsellor),
        ]
        for f in fields:
            value = record.values.get(f.key)
            text = display(f, value, lang, yes_no)
            cells.append(text if isinstance(value, int) else _safe(text))
        writer.writerow(cells)
    return BOM + out.getvalue().encode("utf-8")


def _order(record: Record) -> tuple[date, int]:
    return to_date(record.values.get(DATE_KEY)) or date.min, record.id


def _safe(text: str) -> str:
    """Text Excel shows as typed instead of evaluating it as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_filename(first: date, last: date) -> str:
    """``monitoring_2026-01-01_2026-05-31.csv``: sorts by period in a file list."""
    return f"monitoring_{first.isoformat()}_{last.isoformat()}.csv"
