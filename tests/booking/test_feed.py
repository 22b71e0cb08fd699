"""The iCalendar feed, read back by two independent parsers (icalendar and ical)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from ical.calendar_stream import IcsCalendarStream
from ical.event import EventStatus
from icalendar import Calendar

from bots.booking.feed import PRODID, calendar_feed, initials
from bots.booking.model import GroupAppointment

from .support import CHAT, CLIENT, COLLEAGUE, COUNSELLOR, MONDAY, VIDEO, at, booked

NOW = at(MONDAY, "08:00")
PSEUDONYMS = {CLIENT: "Wolke Sieben"}
LONG_TITLE = (
    "Erstberatung für Familien mit Kindern unter drei Jahren – ausführlich, mit Nachgespräch"
)
APPOINTMENTS = [
    booked(CHAT, "09:00", "confirmed", id=1),
    booked(VIDEO, "10:00", "requested", id=2),
    replace(booked(CHAT, "11:00", "cancelled", id=3), sequence=2),
    booked(CHAT, "12:00", "declined", id=4),
    booked(CHAT, "13:00", "held", id=5, held_until=NOW + 60_000),
    booked(CHAT, "14:00", "confirmed", id=6, counsellor=COLLEAGUE),
    replace(booked(CHAT, "15:00", "confirmed", id=7), title=LONG_TITLE),
]
GROUPS = [
    GroupAppointment(8, COUNSELLOR, "Elterngruppe", at(MONDAY, "18:00"), at(MONDAY, "19:30"), 6),
    GroupAppointment(
        9, COUNSELLOR, "Abgesagt", at(MONDAY, "20:00"), at(MONDAY, "21:00"), 6, cancelled=True
    ),
    GroupAppointment(10, COLLEAGUE, "Fremd", at(MONDAY, "20:00"), at(MONDAY, "21:00"), 6),
]
EXPECTED = {
    "appointment-1@lotse.test": ("CONFIRMED", "09:00", 0),
    "appointment-2@lotse.test": ("TENTATIVE", "10:00", 0),
    "appointment-3@lotse.test": ("CANCELLED", "11:00", 2),
    "appointment-4@lotse.test": ("CANCELLED", "12:00", 0),
    "appointment-7@lotse.test": ("CONFIRMED", "15:00", 0),
    "group-8@lotse.test": ("CONFIRMED", "18:00", 0),
    "group-9@lotse.test": ("CANCELLED", "20:00", 0),
}


def _feed(pseudonyms: dict[str, str] | None = None) -> bytes:
    return calendar_feed(
        COUNSELLOR, APPOINTMENTS, GROUPS, now=NOW, domain="lotse.test", pseudonyms=pseudonyms
    )


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_feed_parses_with_icalendar() -> None:
    """The feed is a VCALENDAR whose events carry stable UIDs, UTC times, STATUS, SEQUENCE."""
    cal = Calendar.from_ical(_feed())
    assert str(cal["VERSION"]) == "2.0" and str(cal["PRODID"]) == PRODID
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == set(EXPECTED)  # no hold, nobody else's
    for uid, (status, clock, sequence) in EXPECTED.items():
        event = events[uid]
        start = event.decoded("DTSTART")
        assert start == _utc(at(MONDAY, clock)) and start.tzinfo is not None
        assert start.utcoffset().total_seconds() == 0
        assert event.decoded("DTEND") > start
        assert str(event["STATUS"]) == status
        assert int(event["SEQUENCE"]) == sequence
        assert event.decoded("DTSTAMP") == _utc(NOW)
    assert str(events["appointment-7@lotse.test"]["SUMMARY"]) == LONG_TITLE


def test_feed_parses_with_a_second_parser() -> None:
    """The `ical` package (strict RFC 5545, pydantic) reads the same events and statuses."""
    calendar = IcsCalendarStream.calendar_from_ics(_feed().decode())
    found = {e.uid: e for e in calendar.events}
    assert set(found) == set(EXPECTED)
    statuses = {
        "CONFIRMED": EventStatus.CONFIRMED,
        "TENTATIVE": EventStatus.TENTATIVE,
        "CANCELLED": EventStatus.CANCELLED,
    }
    for uid, (status, clock, sequence) in EXPECTED.items():
        assert found[uid].status == statuses[status]
        assert found[uid].dtstart == _utc(at(MONDAY, clock))
        assert (found[uid].sequence or 0) == sequence


def test_feed_is_stable_and_well_formed() -> None:
    """The same facts give the same bytes; CRLF lines of at most 75 octets (RFC 5545 3.1)."""
    feed = _feed()
    assert feed == _feed()
    lines = feed.split(b"\r\n")
    assert lines[0] == b"BEGIN:VCALENDAR" and lines[-2] == b"END:VCALENDAR" and lines[-1] == b""
    assert all(len(line) <= 75 for line in lines)
    assert b"\n" not in feed.replace(b"\r\n", b"")


def test_feed_names_no_client() -> None:
    """No pseudonym or Matrix id in the feed; initials only where the centre allows them."""
    plain = _feed()
    assert b"Wolke" not in plain and b"wolke" not in plain and b"W. S." not in plain
    with_initials = _feed(PSEUDONYMS)
    assert b"Wolke" not in with_initials and b"wolke" not in with_initials
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(with_initials).walk("VEVENT")]
    assert f"{CHAT.title} · W. S." in summaries


@pytest.mark.parametrize(
    ("pseudonym", "expected"),
    [
        ("Wolke Sieben", "W. S."),
        ("wolke7", "W."),
        ("anna-lena berg schmidt", "A. L."),
        ("Ümit", "Ü."),
        ("1234", ""),
        ("", ""),
    ],
)
def test_initials(pseudonym: str, expected: str) -> None:
    """At most two initials, from letters only."""
    assert initials(pseudonym) == expected
