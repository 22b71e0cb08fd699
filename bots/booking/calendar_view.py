"""The rows of ``calendar [list|day|week|month] [DATE] [mine|@colleague|all]``.

What each view shows follows the reference: the list shows booked appointments and
blockers; day and week show everything, free slots included; the month shows everything
but free slots. A live hold is shown as an appointment marked held (a client is choosing;
the slot reappears or becomes a request within minutes), so staff see why a slot is missing;
lapsed holds, declined and cancelled appointments are not. Each row is one local
day, so an absence over a week is a row on each of its days. The text table is a template.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo

from bots.framework.dates import parse_day

from .model import DEFAULT_TZ, Appointment, Blocked, GroupAppointment, Service, Slot
from .slots import local_ms

__all__ = [
    "CalendarProblem",
    "CalendarQuery",
    "CalendarRow",
    "calendar_rows",
    "parse_calendar_args",
    "view_range",
]

View = Literal["list", "day", "week", "month"]
RowKind = Literal["holiday", "closing", "absence", "blocker", "appointment", "group", "free"]
_KIND_ORDER = {kind: i for i, kind in enumerate(get_args(RowKind))}
_VIEWS: dict[str, View] = {
    "list": "list",
    "liste": "list",
    "day": "day",
    "tag": "day",
    "week": "week",
    "woche": "week",
    "month": "month",
    "monat": "month",
}
_MINE = ("mine", "meine", "mein")
_ALL = ("all", "alle")
LIST_WEEKS = 8
# What each view shows (the reference's "Liste, Tag, Woche, Monat").
_SHOWN: dict[View, frozenset[str]] = {
    "list": frozenset({"appointment", "group", "blocker"}),
    "day": frozenset(_KIND_ORDER),
    "week": frozenset(_KIND_ORDER),
    "month": frozenset(_KIND_ORDER) - {"free"},
}


class CalendarProblem(StrEnum):
    UNKNOWN_WORD = "calendar_unknown_word"
    TWICE = "calendar_twice"


@dataclass(frozen=True, slots=True)
class CalendarQuery:
    view: View
    first: date
    end: date  # exclusive
    who: str  # "mine", "all" or a colleague's Matrix id (the wiring checks the centre)


class CalendarRow(NamedTuple):
    day: date
    starts: str  # local "HH:MM"
    ends: str  # local "HH:MM", "24:00" for a day's end
    kind: RowKind
    counsellor: str | None  # None: the whole centre (holidays, closing days)
    title: str
    state: str = ""  # held | requested | confirmed for appointments
    ref: int = 0  # the id commands take (confirm ID, cancel ID)
    client: str = ""  # the pseudonym, for staff only


def view_range(view: View, day: date) -> tuple[date, date]:
    """The dates a view covers: [first, end)."""
    if view == "day":
        return day, day + timedelta(days=1)
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if view == "month":
        first = day.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1)
    return day, day + timedelta(weeks=LIST_WEEKS)


def parse_calendar_args(words: Iterable[str], today: date) -> CalendarQuery | CalendarProblem:
    """A view, a date and whose calendar, each at most once, in any order.

    Defaults: the week (where the reference shows everything), today, one's own calendar.
    """
    view: View | None = None
    day: date | None = None
    who: str | None = None
    for word in words:
        lower = word.lower()
        parsed_day = parse_day(word)
        if lower in _VIEWS:
            if view is not None:
                return CalendarProblem.TWICE
            view = _VIEWS[lower]
        elif parsed_day is not None:
            if day is not None:
                return CalendarProblem.TWICE
            day = parsed_day
        elif lower in _MINE or lower in _ALL or word.startswith("@"):
            if who is not None:
                return CalendarProblem.TWICE
            who = "mine" if lower in _MINE else "all" if lower in _ALL else word
        else:
            return CalendarProblem.UNKNOWN_WORD
    view = view or "week"
    first, end = view_range(view, day or today)
    return CalendarQuery(view, first, end, who or "mine")


def calendar_rows(
    query: CalendarQuery,
    *,
    viewer: str,
    now: int,
    appointments: Iterable[Appointment] = (),
    groups: Iterable[GroupAppointment] = (),
    blocked: Iterable[Blocked] = (),
    holidays: Mapping[date, str] | None = None,
    free: Iterable[Slot] = (),
    services: Mapping[int, Service] | None = None,
    pseudonyms: Mapping[str, str] | None = None,
    tz: ZoneInfo = DEFAULT_TZ,
) -> list[CalendarRow]:
    """The rows of one view, sorted by day, time, kind and counsellor.

    Pass the centre's facts for the query's dates; this picks whose they are and what the
    view shows. Holidays and closing days concern everyone, so every filter shows them.
    ``now`` tells live holds (shown) from lapsed ones.
    """
    person = None if query.who == "all" else viewer if query.who == "mine" else query.who

    def mine(counsellor: str | None) -> bool:
        return counsellor is None or person is None or counsellor == person

    def spread(starts_at: int, ends_at: int) -> Iterator[tuple[date, str, str]]:
        return _per_day(starts_at, ends_at, query, tz)

    names = pseudonyms or {}
    titles = {sid: s.title for sid, s in (services or {}).items()}
    rows = [
        CalendarRow(d, "00:00", "24:00", "holiday", None, name)
        for d, name in (holidays or {}).items()
        if query.first <= d < query.end
    ]
    rows += [
        CalendarRow(d, start, end, b.kind, b.counsellor, b.label, ref=b.id)
        for b in blocked
        if mine(b.counsellor)
        for d, start, end in spread(b.starts_at, b.ends_at)
    ]
    rows += [
        CalendarRow(d, start, end, "appointment", a.counsellor, a.title, a.state, a.id, client)
        for a in appointments
        if a.state in ("held", "requested", "confirmed") and a.occupies(now) and mine(a.counsellor)
        for client in [names.get(a.client or "", "")]
        for d, start, end in spread(a.starts_at, a.ends_at)
    ]
    rows += [
        CalendarRow(d, start, end, "group", g.counsellor, g.title, ref=g.id)
        for g in groups
        if not g.cancelled and mine(g.counsellor)
        for d, start, end in spread(g.starts_at, g.ends_at)
    ]
    if "free" in _SHOWN[query.view]:
        rows += [
            CalendarRow(d, start, end, "free", s.counsellor, titles.get(s.service_id, ""))
            for s in free
            if mine(s.counsellor)
            for d, start, end in spread(s.starts_at, s.ends_at)
        ]
    rows = [r for r in rows if r.kind in _SHOWN[query.view]]
    rows.sort(key=lambda r: (r.day, r.starts, _KIND_ORDER[r.kind], r.counsellor or "", r.ref))
    return rows


def _per_day(
    starts_at: int, ends_at: int, query: CalendarQuery, tz: ZoneInfo
) -> Iterator[tuple[date, str, str]]:
    """The local days a span touches within the query, with its local times on each day."""
    start = datetime.fromtimestamp(starts_at / 1000, tz)
    end = datetime.fromtimestamp(ends_at / 1000, tz)
    day = max(start.date(), query.first)
    while day < query.end and local_ms(day, datetime.min.time(), tz) < ends_at:
        shown_start = start.strftime("%H:%M") if start.date() == day else "00:00"
        shown_end = end.strftime("%H:%M") if end.date() == day else "24:00"
        yield day, shown_start, shown_end
        day += timedelta(days=1)
