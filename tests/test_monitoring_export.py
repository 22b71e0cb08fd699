"""The monitoring CSV export: BOM, ``;``, CRLF, German dates, labels; read back with csv."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from appservice.i18n import Renderer
from bots.monitoring.export import BOM, csv_filename, export_csv
from bots.monitoring.values import Record
from tests.monitoring_support import TOPICS, default_form

FORM = default_form(TOPICS[:1])
RECORDS = [
    Record(
        7,
        "Wolke",
        "Berta Beraterin",
        {
            "date": "2026-03-02",
            "duration": 45,
            "subject": "Erstgespräch; Trennung",
            "channel": "phone",
            "topic": "family",
            "persons": 2,
            "follow_up": True,
        },
    ),
    Record(3, "=HYPERLINK(1)", "Anna", {"date": "2026-01-15", "duration": 30, "subject": "-x"}),
    Record(9, "Sonne", "Anna", {"date": "2026-03-02", "duration": 60, "subject": 'zwei\n"Zeilen"'}),
]
COLUMNS = ("Nr.", "Ratsuchende:r", "Berater:in")


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_excel_framing() -> None:
    """UTF-8 with BOM (Excel then reads umlauts), ``;`` between cells and CRLF after rows."""
    data = export_csv(FORM, RECORDS, "de", ("ja", "nein"), COLUMNS)
    assert data.startswith(BOM) and not data.startswith(BOM + BOM)
    text = data[len(BOM) :].decode("utf-8")
    first_line = text.split("\r\n")[0]
    assert first_line.count(";") == 9 and "," not in first_line
    assert text.endswith("\r\n") and text.count("\r\n") == 1 + len(RECORDS)
    assert "ä" in text  # written as UTF-8, not escaped


def test_rows_read_back() -> None:
    """One column per form field after number, date, client and counsellor; oldest contact
    first (then by number); dates German, choices as labels, yes/no as words, empty cells
    for fields not filled in; ``;`` and line breaks in text survive the round trip."""
    rows = _read(export_csv(FORM, RECORDS, "de", ("ja", "nein"), COLUMNS))
    assert rows[0] == [
        "Nr.",
        "Datum des Kontakts",
        "Ratsuchende:r",
        "Berater:in",
        "Beratungsdauer (Min.)",
        "Betreff (Monitoring)",
        "Kanal",
        "Thema",
        "Anzahl Personen",
        "Folgetermin vereinbart",
    ]
    assert [r[0] for r in rows[1:]] == ["3", "7", "9"]
    assert rows[2] == [
        "7",
        "02.03.2026",
        "Wolke",
        "Berta Beraterin",
        "45",
        "Erstgespräch; Trennung",
        "Telefon",
        "Familie",
        "2",
        "ja",
    ]
    assert rows[3][5] == 'zwei\n"Zeilen"'
    assert rows[3][6:] == ["", "", "", ""]


def test_formulas_are_defused() -> None:
    """A pseudonym or subject starting like a formula is written with a leading ``'`` so
    Excel shows it instead of running it; numbers are left alone."""
    rows = _read(export_csv(FORM, RECORDS, "de", ("ja", "nein"), COLUMNS))
    assert rows[1][2] == "'=HYPERLINK(1)"
    assert rows[1][5] == "'-x"
    assert rows[1][4] == "30"


def test_english_headings_and_labels() -> None:
    """The reader's language chooses headings and labels; the file format stays German
    Excel's (``;``, dd.mm.yyyy)."""
    rows = _read(export_csv(FORM, RECORDS, "en", ("yes", "no"), ("No.", "Client", "Counsellor")))
    assert rows[0][:6] == [
        "No.",
        "Date of contact",
        "Client",
        "Counsellor",
        "Duration (min.)",
        "Subject (monitoring)",
    ]
    assert rows[2][6:] == ["Phone", "Family", "2", "yes"]
    assert rows[2][1] == "02.03.2026"


def test_empty_export_has_the_heading() -> None:
    """No monitorings in the period still gives a file with the heading row."""
    rows = _read(export_csv(FORM, [], "de", ("ja", "nein"), COLUMNS))
    assert len(rows) == 1 and rows[0][0] == "Nr."


@pytest.mark.parametrize("lang", ["de", "en"])
def test_column_headings_come_from_templates(lang: str) -> None:
    """The headings of number, client and counsellor are template texts in both languages."""
    renderer = Renderer.default()
    columns = tuple(
        renderer.render(lang, "monitoring_csv_column", column=c)
        for c in ("id", "client", "counsellor")
    )
    rows = _read(export_csv(FORM, RECORDS, lang, ("ja", "nein"), columns))  # type: ignore[arg-type]
    assert rows[0][0] in ("Nr.", "No.") and rows[0][2] in ("Ratsuchende:r", "Client")


def test_filename() -> None:
    """The file name carries the period, ISO-dated so that files sort by period."""
    name = csv_filename(date(2026, 1, 1), date(2026, 5, 31))
    assert name == "monitoring_2026-01-01_2026-05-31.csv"
