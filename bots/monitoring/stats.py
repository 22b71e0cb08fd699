"""Statistics for a period: what funders ask for, as plain data the text and the chart show.

The period defaults to assisto's ("von Anfang des aktuellen Jahres bis zum aktuellen
Monat"): 1 January to the last day of the current month. Monitorings count by the day of
the contact; requests by the day they were made, with the time to the counsellor's first
answer (``answered_at - created_at``, which the request lifecycle records).

Who is counted is the shell's business (a counsellor: their own; an admin: the centre):
these functions take the records they are given.
"""

from __future__ import annotations

import calendar
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bots.framework.dates import DEFAULT_TZ, parse_day

from .forms import DATE_KEY, Field, Form
from .values import EARLIEST, Answer, Record, display, to_date

__all__ = [
    "STATUSES",
    "Breakdown",
    "Period",
    "PeriodProblem",
    "RequestStats",
    "RequestTimes",
    "Row",
    "Table",
    "Tally",
    "default_period",
    "hours_of",
    "monitoring_stats",
    "parse_period",
    "request_stats",
    "request_view",
    "tables",
]

#: Request statuses in lifecycle order (appservice/db/request.py); others follow by name.
STATUSES = ("new", "assigned", "answered", "closed", "withdrawn")
#: The group of monitorings that left a breakdown field empty.
NOT_GIVEN = ""

_MONTH = re.compile(r"(\d{1,2})[./](\d{4})|(\d{4})-(\d{1,2})")
_YEAR = re.compile(r"\d{4}")


# ----------------------------------------------------------------------------- period


@dataclass(frozen=True)
class Period:
    """Whole days from ``first`` to ``last``, both included."""

    first: date
    last: date

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last

    def bounds_ms(self, tz: ZoneInfo = DEFAULT_TZ) -> tuple[int, int]:
        """[start, end) in epoch milliseconds, the way request times are stored."""
        start = datetime.combine(self.first, time.min, tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=tz)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


@dataclass(frozen=True)
class PeriodProblem:
    """Why FROM/TO was refused: ``bad_from``, ``bad_to``, ``from_after_to``, ``too_early``,
    ``too_many``; ``given`` is the word concerned."""

    code: str
    given: str = ""


def default_period(today: date) -> Period:
    """1 January of this year to the end of this month."""
    return Period(date(today.year, 1, 1), _month_end(today.year, today.month))


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_period(words: Sequence[str], today: date) -> Period | PeriodProblem:
    """``[FROM] [TO]``: a day (``1.3.2026``, ``2026-03-01``, ``heute``), a month (``3.2026``,
    ``2026-03``) or a year (``2026``). FROM takes the first day of a month or year, TO the
    last; a missing FROM or TO is the default period's."""
    if len(words) > 2:
        return PeriodProblem("too_many", " ".join(words[2:]))
    default = default_period(today)
    first, last = default.first, default.last
    if words:
        span = _span(words[0], today)
        if span is None:
            return PeriodProblem("bad_from", words[0])
        first = span[0]
    if len(words) > 1:
        span = _span(words[1], today)
        if span is None:
            return PeriodProblem("bad_to", words[1])
        last = span[1]
    if first < EARLIEST:
        return PeriodProblem("too_early", words[0])
    if first > last:
        return PeriodProblem("from_after_to", " ".join(words))
    return Period(first, last)


def _span(word: str, today: date) -> tuple[date, date] | None:
    """The first and last day ``word`` stands for."""
    text = word.strip().casefold()
    if text in ("heute", "today"):
        return today, today
    if day := parse_day(text):
        return day, day
    try:
        if match := _MONTH.fullmatch(text):
            month, year = (match.group(1), match.group(2)) if match.group(2) else match.group(4, 3)
            start = date(int(year), int(month), 1)
            return start, _month_end(start.year, start.month)
        if _YEAR.fullmatch(text):
            return date(int(text), 1, 1), date(int(text), 12, 31)
    except ValueError:  # month 13, year 0
        return None
    return None


# ------------------------------------------------------------------------ monitorings


@dataclass(frozen=True)
class Tally:
    """How many monitorings, persons and minutes."""

    count: int = 0
    persons: int = 0
    minutes: int = 0

    def plus(self, persons: int, minutes: int) -> Tally:
        return Tally(self.count + 1, self.persons + persons, self.minutes + minutes)


@dataclass(frozen=True)
class Breakdown:
    """The tallies per value of one field (choice id; ``yes``/``no``; "" for not given)."""

    field: str
    groups: tuple[tuple[str, Tally], ...]


@dataclass(frozen=True)
class MonitoringStats:
    period: Period
    total: Tally
    by_field: tuple[Breakdown, ...]
    by_counsellor: tuple[tuple[str, Tally], ...]


def monitoring_stats(form: Form, records: Iterable[Record], period: Period) -> MonitoringStats:
    """Counts, persons and minutes in ``period``: in total, per breakdown field of the form
    (``statistics.by``) and per counsellor.

    A monitoring without a persons value counts one person. A multichoice monitoring counts
    once under each value chosen, so a breakdown may add up to more than the total.
    """
    inside = [r for r in records if (d := to_date(r.values.get(DATE_KEY))) and period.contains(d)]
    total = Tally()
    per_field: dict[str, dict[str, Tally]] = {key: {} for key in form.stats.by}
    per_counsellor: dict[str, Tally] = {}
    for record in inside:
        persons = _number(form.stats.persons, record, 1)
        minutes = _number(form.stats.minutes, record, 0)
        total = total.plus(persons, minutes)
        for key, groups in per_field.items():
            for group in _groups(record.values.get(key)):
                groups[group] = groups.get(group, Tally()).plus(persons, minutes)
        tally = per_counsellor.get(record.counsellor, Tally())
        per_counsellor[record.counsellor] = tally.plus(persons, minutes)
    by_field = tuple(
        Breakdown(key, _in_form_order(form.field(key), per_field[key])) for key in form.stats.by
    )
    counsellors = sorted(per_counsellor.items(), key=lambda item: (-item[1].count, item[0]))
    return MonitoringStats(period, total, by_field, tuple(counsellors))


def _number(key: str | None, record: Record, default: int) -> int:
    value = record.values.get(key) if key else None
    return value if type(value) is int else default


def _groups(value: Answer | None) -> list[str]:
    if value is None:
        return [NOT_GIVEN]
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    return list(value) if isinstance(value, list) else [str(value)]


def _in_form_order(f: Field | None, groups: Mapping[str, Tally]) -> tuple[tuple[str, Tally], ...]:
    """Every choice in the form's order (zero ones too, so charts compare periods), then
    values the form no longer lists (a dropped topic), then "not given" if any."""
    keys = ["yes", "no"] if f is not None and f.kind == "yesno" else []
    keys += [c.id for c in f.choices] if f is not None else []
    keys += sorted(k for k in groups if k not in keys and k != NOT_GIVEN)
    if NOT_GIVEN in groups:
        keys.append(NOT_GIVEN)
    return tuple((k, groups.get(k, Tally())) for k in keys)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class RequestTimes:
    """A request as statistics see it (``counselling_request``): status and times in ms."""

    status: str
    created_at: int
    answered_at: int | None = None


@dataclass(frozen=True)
class RequestStats:
    """Requests made in the period by status, and how long the first answer took."""

    total: int
    by_status: tuple[tuple[str, int], ...]
    answered: int
    median_ms: int | None
    mean_ms: int | None


def request_stats(
    requests: Iterable[RequestTimes], period: Period, tz: ZoneInfo = DEFAULT_TZ
) -> RequestStats:
    start, end = period.bounds_ms(tz)
    inside = [r for r in requests if start <= r.created_at < end]
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for r in inside:
        counts[r.status] = counts.get(r.status, 0) + 1
    waits = [max(r.answered_at - r.created_at, 0) for r in inside if r.answered_at is not None]
    statuses = [*STATUSES, *sorted(s for s in counts if s not in STATUSES)]
    return RequestStats(
        len(inside),
        tuple((s, counts[s]) for s in statuses),
        len(waits),
        round(statistics.median(waits)) if waits else None,
        round(statistics.fmean(waits)) if waits else None,
    )


# ------------------------------------------------------------------------- for people


@dataclass(frozen=True)
class Row:
    """One line of a table: a label and its tally."""

    label: str
    count: int
    persons: int
    minutes: int


@dataclass(frozen=True)
class Table:
    """A breakdown ready to show: ``label`` is the field's label, or "" for counsellors."""

    key: str
    label: str
    rows: tuple[Row, ...]


def tables(
    form: Form,
    stats: MonitoringStats,
    lang: str,
    yes_no: tuple[str, str],
    not_given: str,
    name_of: Callable[[str], str] = str,
) -> list[Table]:
    """The breakdowns with labels in ``lang``, then the counsellors (key ``counsellor``),
    for the ``monitoring_stats`` template and the chart alike."""
    result: list[Table] = []
    for breakdown in stats.by_field:
        f = form.field(breakdown.field)
        if f is None:
            continue
        rows = [
            _row(_group_label(f, key, lang, yes_no, not_given), tally)
            for key, tally in breakdown.groups
        ]
        result.append(Table(f.key, f.label(lang), tuple(rows)))
    counsellors = tuple(_row(name_of(key), tally) for key, tally in stats.by_counsellor)
    result.append(Table("counsellor", "", counsellors))
    return result


def _group_label(f: Field, key: str, lang: str, yes_no: tuple[str, str], not_given: str) -> str:
    if key == NOT_GIVEN:
        return not_given
    if f.kind == "yesno":
        return display(f, key == "yes", lang, yes_no)
    return display(f, key, lang, yes_no)


def _row(label: str, tally: Tally) -> Row:
    return Row(label, tally.count, tally.persons, tally.minutes)


def request_view(stats: RequestStats, status_label: Callable[[str], str]) -> dict[str, object]:
    """The ``requests`` variable of the ``monitoring_stats`` template: statuses labelled,
    waiting times in hours (the template prints them with the language's decimal mark)."""
    return {
        "total": stats.total,
        "answered": stats.answered,
        "statuses": [(status_label(status), count) for status, count in stats.by_status],
        "median_hours": hours_of(stats.median_ms),
        "mean_hours": hours_of(stats.mean_ms),
    }


def hours_of(ms: int | None) -> float | None:
    """Milliseconds (as request times are stored) in hours."""
    return None if ms is None else ms / 3_600_000
