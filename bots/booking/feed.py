"""A counsellor's appointments as an iCalendar feed (RFC 5545) for their own calendar app.

The feed sits behind a secret URL, but calendar apps sync it to phones and cloud services,
so it says as little as possible: the service's title and the channel, and the client's
initials only where the centre allows it; never a name, a topic or a video link.
Times are UTC, which needs no VTIMEZONE and which every calendar shows in local time.
UIDs are stable (kind, row id and the centre's domain), SEQUENCE follows the row's
changes, and cancelled or declined appointments stay in the feed as STATUS:CANCELLED so
subscribed calendars remove them instead of keeping a stale copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from icalendar import Calendar, Event

from .model import Appointment, Channel, GroupAppointment

__all__ = ["PRODID", "calendar_feed", "initials"]

PRODID = "-//Lotse//Booking//DE"
_STATUS = {
    "requested": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "declined": "CANCELLED",
    "cancelled": "CANCELLED",
}
_WORD_RE = re.compile(r"[^\W\d_]+")


def initials(pseudonym: str) -> str:
    """``Anna Berg`` → ``A. B.``, ``wolke7`` → ``W.``: at most two letters of a pseudonym."""
    letters = [word[0].upper() for word in _WORD_RE.findall(pseudonym)][:2]
    return " ".join(f"{letter}." for letter in letters)


def calendar_feed(
    counsellor: str,
    appointments: Iterable[Appointment],
    groups: Iterable[GroupAppointment] = (),
    *,
    now: int,
    domain: str,
    name: str = "Lotse",
    pseudonyms: Mapping[str, str] | None = None,
) -> bytes:
    """The counsellor's appointments and group appointments as one VCALENDAR.

    ``pseudonyms`` (client id → pseudonym) is passed only where the centre shows initials;
    holds are left out (they are a client's few minutes of choosing, not an appointment).
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    stamp = _utc(now)
    for a in appointments:
        if a.counsellor == counsellor and a.state in _STATUS:
            cal.add_component(_appointment_event(a, domain, stamp, pseudonyms))
    for g in groups:
        if g.counsellor == counsellor:
            cal.add_component(_group_event(g, domain, stamp))
    return cal.to_ical()


def _appointment_event(
    a: Appointment, domain: str, stamp: datetime, pseudonyms: Mapping[str, str] | None
) -> Event:
    summary = a.title or a.channel
    if pseudonyms is not None and a.client is not None and a.client in pseudonyms:
        shown = initials(pseudonyms[a.client])
        summary = f"{summary} · {shown}" if shown else summary
    return _event(
        f"appointment-{a.id}@{domain}",
        summary,
        a.starts_at,
        a.ends_at,
        _STATUS[a.state],
        a.channel,
        a.sequence,
        stamp,
    )


def _group_event(g: GroupAppointment, domain: str, stamp: datetime) -> Event:
    status = "CANCELLED" if g.cancelled else "CONFIRMED"
    return _event(
        f"group-{g.id}@{domain}",
        g.title,
        g.starts_at,
        g.ends_at,
        status,
        g.channel,
        g.sequence,
        stamp,
    )


def _event(
    uid: str,
    summary: str,
    starts_at: int,
    ends_at: int,
    status: str,
    channel: Channel,
    sequence: int,
    stamp: datetime,
) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", _utc(starts_at))
    event.add("dtend", _utc(ends_at))
    event.add("summary", summary)
    event.add("status", status)
    event.add("sequence", sequence)
    event.add("categories", [channel])
    event.add("transp", "TRANSPARENT" if status == "CANCELLED" else "OPAQUE")
    return event


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC)
