"""Shared facts of the booking tests: local times in, local times out."""

from __future__ import annotations

from datetime import date, datetime, time

from bots.booking.model import (
    DEFAULT_TZ,
    Appointment,
    AppointmentState,
    BookingWindow,
    Service,
    Slot,
)
from bots.booking.slots import local_ms

# A Monday in June, far from any summer-time switch and from holidays in DE-NW.
MONDAY = "2026-06-08"
SUNDAY_BEFORE = "2026-06-07"
COUNSELLOR = "@berater:lotse.test"
COLLEAGUE = "@kollegin:lotse.test"
CLIENT = "@wolke:lotse.test"

CHAT = Service(1, "Chat 30", 30, 0, "chat", description="Chat mit einer Fachkraft")
ONSITE = Service(2, "Vor Ort 30", 30, 0, "onsite")
ONSITE_FOLLOW_UP = Service(3, "Vor Ort 30+15", 30, 15, "onsite")
VIDEO = Service(4, "Video 50+10", 50, 10, "video")
SERVICES = {s.id: s for s in (CHAT, ONSITE, ONSITE_FOLLOW_UP, VIDEO)}


def at(day: str, clock: str = "00:00") -> int:
    """Milliseconds (UTC) of a local wall-clock time in the centre's zone."""
    return local_ms(date.fromisoformat(day), time.fromisoformat(clock), DEFAULT_TZ)


def local(ms: int) -> str:
    """``2026-06-08 09:30`` in the centre's zone, how people read it."""
    return datetime.fromtimestamp(ms / 1000, DEFAULT_TZ).strftime("%Y-%m-%d %H:%M")


def window(
    wid: int,
    weekday: int,
    starts: str,
    ends: str,
    service: Service,
    weeks: int = 1,
    counsellor: str = COUNSELLOR,
) -> BookingWindow:
    return BookingWindow(
        wid,
        counsellor,
        weekday,
        time.fromisoformat(starts),
        time.fromisoformat(ends),
        service.id,
        weeks,
    )


def starts(slots: list[Slot], service: Service | None = None) -> list[str]:
    """Local start times of the slots (of one service), sorted."""
    return sorted(
        local(s.starts_at) for s in slots if service is None or s.service_id == service.id
    )


def booked(
    service: Service,
    clock: str,
    state: AppointmentState = "confirmed",
    *,
    day: str = MONDAY,
    held_until: int | None = None,
    id: int = 1,
    counsellor: str = COUNSELLOR,
    client: str = CLIENT,
) -> Appointment:
    """An appointment of ``service`` at a local time, as booking from a slot makes it."""
    start = at(day, clock)
    return Appointment(
        id=id,
        counsellor=counsellor,
        client=client,
        starts_at=start,
        ends_at=start + service.duration_min * 60_000,
        state=state,
        title=service.title,
        channel=service.channel,
        follow_up_min=service.follow_up_min,
        service_id=service.id,
        held_until=held_until,
    )
