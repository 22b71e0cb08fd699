"""The rows of `calendar day|week|month|list [DATE] [mine|@colleague|all]` and their text."""

from __future__ import annotations

from datetime import date

import pytest

from appservice.i18n import Renderer
from bots.booking.calendar_view import (
    CalendarProblem,
    CalendarQuery,
    calendar_rows,
    parse_calendar_args,
    view_range,
)
from bots.booking.closed_days import holiday_names
from bots.booking.model import Blocked, GroupAppointment
from bots.booking.slots import SlotPolicy, busy_spans, free_slots

from .support import (
    CHAT,
    CLIENT,
    COLLEAGUE,
    COUNSELLOR,
    MONDAY,
    ONSITE,
    SERVICES,
    SUNDAY_BEFORE,
    at,
    booked,
    window,
)

TODAY = date(2026, 6, 10)  # a Wednesday
NOW = at(SUNDAY_BEFORE, "12:00")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], CalendarQuery("week", date(2026, 6, 8), date(2026, 6, 15), "mine")),
        (["day"], CalendarQuery("day", TODAY, date(2026, 6, 11), "mine")),
        (
            ["Tag", "24.12.2026"],
            CalendarQuery("day", date(2026, 12, 24), date(2026, 12, 25), "mine"),
        ),
        (["alle", "woche"], CalendarQuery("week", date(2026, 6, 8), date(2026, 6, 15), "all")),
        (
            ["month", "2026-02-14", "@kollegin:lotse.test"],
            CalendarQuery("month", date(2026, 2, 1), date(2026, 3, 1), COLLEAGUE),
        ),
        (
            ["monat", "31.12.2026"],
            CalendarQuery("month", date(2026, 12, 1), date(2027, 1, 1), "mine"),
        ),
        (["list"], CalendarQuery("list", TODAY, date(2026, 8, 5), "mine")),
        (["week", "month"], CalendarProblem.TWICE),
        (["mine", "all"], CalendarProblem.TWICE),
        (["1.1.2026", "2.1.2026"], CalendarProblem.TWICE),
        (["morgen"], CalendarProblem.UNKNOWN_WORD),
        (["31.02.2026"], CalendarProblem.UNKNOWN_WORD),
    ],
)
def test_parse_calendar_args(words: list[str], expected: object) -> None:
    """View, date and whose calendar, in any order, each once; the week of today by default."""
    assert parse_calendar_args(words, TODAY) == expected


@pytest.mark.parametrize(
    ("view", "day", "first", "end"),
    [
        ("week", date(2026, 6, 14), date(2026, 6, 8), date(2026, 6, 15)),  # Sunday → its Monday
        ("week", date(2026, 12, 31), date(2026, 12, 28), date(2027, 1, 4)),
        ("month", date(2026, 2, 28), date(2026, 2, 1), date(2026, 3, 1)),
        ("month", date(2028, 2, 29), date(2028, 2, 1), date(2028, 3, 1)),
    ],
)
def test_view_range(view: str, day: date, first: date, end: date) -> None:
    """Weeks run Monday to Sunday (ISO), months from the first to the last day."""
    assert view_range(view, day) == (first, end)  # type: ignore[arg-type]


WINDOWS = [
    window(1, 0, "09:00", "12:00", CHAT),
    window(2, 0, "10:00", "11:00", ONSITE),
    window(3, 0, "09:00", "10:00", CHAT, counsellor=COLLEAGUE),
]
APPOINTMENTS = [
    booked(ONSITE, "10:00", "confirmed", id=11),
    booked(CHAT, "11:00", "requested", id=12),
    booked(CHAT, "11:30", "held", id=13, held_until=NOW + 60_000),
    booked(CHAT, "09:00", "cancelled", id=14),
    booked(CHAT, "09:00", "confirmed", id=15, counsellor=COLLEAGUE),
]
BLOCKED = [
    Blocked("blocker", at(MONDAY, "13:00"), at(MONDAY, "14:00"), COUNSELLOR, "Team", 21),
    Blocked("absence", at("2026-06-10"), at("2026-06-12"), COLLEAGUE, "Urlaub", 22),
    Blocked("closing", at("2026-06-12"), at("2026-06-13"), None, "Betriebsausflug", 23),
]
GROUPS = [
    GroupAppointment(31, COUNSELLOR, "Elterngruppe", at(MONDAY, "18:00"), at(MONDAY, "19:30"), 6)
]
HOLIDAYS = holiday_names("DE-NW", [2026])  # 4 June: Fronleichnam


def _rows(words: list[str]) -> list[tuple[str, str, str, str, str | None, str]]:
    query = parse_calendar_args(words, date(2026, 6, 8))
    assert isinstance(query, CalendarQuery)
    free = free_slots(
        WINDOWS,
        SERVICES,
        now=NOW,
        policy=SlotPolicy(),
        busy=busy_spans(NOW, BLOCKED, APPOINTMENTS, GROUPS),
    )
    rows = calendar_rows(
        query,
        viewer=COUNSELLOR,
        appointments=APPOINTMENTS,
        groups=GROUPS,
        blocked=BLOCKED,
        holidays=HOLIDAYS,
        free=free,
        services=SERVICES,
        pseudonyms={CLIENT: "Wolke"},
        now=NOW,
    )
    return [(r.day.isoformat()[5:], r.starts, r.ends, r.kind, r.counsellor, r.title) for r in rows]


def test_day_view_shows_everything_with_free_slots() -> None:
    """My Monday: free slots, requests and confirmations, the live hold, blocker and group."""
    assert _rows(["day"]) == [
        ("06-08", "09:00", "09:30", "free", COUNSELLOR, CHAT.title),
        ("06-08", "09:30", "10:00", "free", COUNSELLOR, CHAT.title),
        ("06-08", "10:00", "10:30", "appointment", COUNSELLOR, ONSITE.title),
        ("06-08", "10:30", "11:00", "free", COUNSELLOR, CHAT.title),
        ("06-08", "10:30", "11:00", "free", COUNSELLOR, ONSITE.title),
        ("06-08", "11:00", "11:30", "appointment", COUNSELLOR, CHAT.title),
        ("06-08", "11:30", "12:00", "appointment", COUNSELLOR, CHAT.title),
        ("06-08", "13:00", "14:00", "blocker", COUNSELLOR, "Team"),
        ("06-08", "18:00", "19:30", "group", COUNSELLOR, "Elterngruppe"),
    ]


def test_week_view_of_a_colleague_has_absences_and_closing_days() -> None:
    """A colleague's week: their appointment, their absence per day, the centre's closing day."""
    assert _rows(["week", COLLEAGUE]) == [
        ("06-08", "09:00", "09:30", "appointment", COLLEAGUE, CHAT.title),
        ("06-08", "09:30", "10:00", "free", COLLEAGUE, CHAT.title),
        ("06-10", "00:00", "24:00", "absence", COLLEAGUE, "Urlaub"),
        ("06-11", "00:00", "24:00", "absence", COLLEAGUE, "Urlaub"),
        ("06-12", "00:00", "24:00", "closing", None, "Betriebsausflug"),
    ]


def test_month_view_has_no_free_slots_but_holidays() -> None:
    """The month shows booked times, blockers, absences, closing days, holidays; no free slots."""
    rows = _rows(["month", "all"])
    kinds = {kind for _, _, _, kind, _, _ in rows}
    assert kinds == {"holiday", "appointment", "blocker", "absence", "closing", "group"}
    assert ("06-04", "00:00", "24:00", "holiday", None, "Fronleichnam") in rows
    assert len([r for r in rows if r[3] == "appointment"]) == 4  # the live hold included


def test_list_view_has_booked_appointments_and_blockers_only() -> None:
    """The list (8 weeks from the date) leaves out free slots, absences and holidays."""
    kinds = {kind for _, _, _, kind, _, _ in _rows(["list", "all"])}
    assert kinds == {"appointment", "blocker", "group"}


def test_rows_carry_ids_states_and_pseudonyms_for_staff() -> None:
    """Appointment rows say their id (for confirm/cancel), state and the client's pseudonym."""
    query = CalendarQuery("day", date(2026, 6, 8), date(2026, 6, 9), "mine")
    rows = calendar_rows(
        query,
        viewer=COUNSELLOR,
        now=NOW,
        appointments=APPOINTMENTS,
        pseudonyms={CLIENT: "Wolke"},
    )
    assert [(r.ref, r.state, r.client) for r in rows] == [
        (11, "confirmed", "Wolke"),
        (12, "requested", "Wolke"),
        (13, "held", "Wolke"),
    ]


def test_a_live_hold_is_marked_held_and_a_lapsed_one_is_gone() -> None:
    """Staff see why a slot is missing while a client chooses; once the hold lapses, not."""
    query = CalendarQuery("day", date(2026, 6, 8), date(2026, 6, 9), "mine")

    def states(now: int) -> list[tuple[int, str]]:
        rows = calendar_rows(query, viewer=COUNSELLOR, appointments=APPOINTMENTS, now=now)
        return [(r.ref, r.state) for r in rows]

    assert states(NOW) == [(11, "confirmed"), (12, "requested"), (13, "held")]
    assert states(NOW + 60_000) == [(11, "confirmed"), (12, "requested")]


SAMPLE_ROWS = [
    {
        "day": date(2026, 6, 8),
        "starts": "10:00",
        "ends": "10:30",
        "kind": "appointment",
        "counsellor": COUNSELLOR,
        "title": "Chat 30",
        "state": "requested",
        "ref": 12,
        "client": "Wolke",
    },
    {
        "day": date(2026, 6, 8),
        "starts": "10:30",
        "ends": "11:00",
        "kind": "free",
        "counsellor": COUNSELLOR,
        "title": "Chat 30",
        "state": "",
        "ref": 0,
        "client": "",
    },
]


@pytest.mark.parametrize(
    ("lang", "snippets"),
    [
        ("de", ["Kalender", "Mo 08.06.", "angefragt", "Nr. 12", "Wolke", "frei"]),
        ("en", ["Calendar", "Mon 08.06.", "requested", "no. 12", "Wolke", "free"]),
    ],
)
def test_calendar_template(lang: str, snippets: list[str]) -> None:
    """The rows render as a readable table in both languages; empty views say so."""
    renderer = Renderer.default()
    text = renderer.render(
        lang,
        "calendar_view",
        view="day",
        first="08.06.2026",
        last="08.06.2026",
        who="mine",
        rows=SAMPLE_ROWS,
    )
    assert all(s in text for s in snippets), text
    empty = renderer.render(
        lang, "calendar_view", view="week", first="a", last="b", who="all", rows=[]
    )
    assert ("Keine Einträge" if lang == "de" else "Nothing") in empty
