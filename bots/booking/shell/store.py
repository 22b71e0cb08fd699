"""Booking's shell between the rows and the pure core: what the centre offers right now.

Reads the centre's services, windows, absences and appointments, and turns them into the
core's types (bots/booking/model.py), so ``slots`` and ``book`` compute free slots with the
same pure functions the table tests cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Literal, cast

from appservice.centre_settings import CentreSettings
from appservice.db import (
    Appointment,
    BookingService,
    BookingWindowRow,
    GroupAppointmentRow,
    Person,
    Rows,
)

from ..closed_days import holiday_names, years_between
from ..model import MINUTE_MS, Blocked, BookingWindow, Channel, GroupAppointment, Service
from ..model import Appointment as CoreAppointment
from ..slots import SlotPolicy, Span, busy_spans, local_date

__all__ = [
    "Centre",
    "core_appointment",
    "core_group",
    "core_service",
    "core_window",
    "load_centre",
]


def core_service(row: BookingService) -> Service:
    return Service(
        id=row.id,
        title=row.title,
        duration_min=row.duration_min,
        follow_up_min=row.follow_up_min,
        channel=cast(Channel, row.channel),
        topic=row.topic,
        description=row.description,
    )


def core_window(row: BookingWindowRow) -> BookingWindow:
    return BookingWindow(
        id=row.id,
        counsellor=row.counsellor,
        weekday=row.weekday,
        starts=_clock(row.starts_min),
        ends=_clock(row.ends_min),
        service_id=row.service_id,
        horizon_weeks=row.horizon_weeks,
    )


def core_appointment(row: Appointment) -> CoreAppointment:
    State = Literal["held", "requested", "confirmed", "declined", "cancelled"]
    return CoreAppointment(
        id=row.id,
        counsellor=row.counsellor,
        client=row.client,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        state=cast(State, row.state),
        title=row.title,
        channel=cast(Channel, row.channel),
        follow_up_min=(row.busy_until - row.ends_at) // MINUTE_MS,
        service_id=row.service_id,
        held_until=row.held_until,
        sequence=row.sequence,
    )


def core_group(row: GroupAppointmentRow, participants: list[str]) -> GroupAppointment:
    return GroupAppointment(
        id=row.id,
        counsellor=row.counsellor,
        title=row.title,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        max_participants=row.max_participants,
        bookable=row.bookable,
        participants=frozenset(participants),
        remarks=row.remarks,
        channel=cast(Channel, row.channel),
        follow_up_min=(row.busy_until - row.ends_at) // MINUTE_MS,
        cancelled=row.cancelled_at is not None,
        sequence=row.sequence,
    )


# Beyond the longest booking horizon (8 weeks) no slot exists to be blocked.
HORIZON_MS = 9 * 7 * 24 * 60 * MINUTE_MS


def _clock(minutes: int) -> time:
    return time(23, 59, 59) if minutes >= 1440 else time(minutes // 60, minutes % 60)


@dataclass
class Centre:
    """Everything the free slots of one centre depend on, read once per command."""

    services: dict[int, Service]
    windows: list[BookingWindow]
    staff: dict[str, Person]
    home_only: set[str]
    policy: SlotPolicy
    busy: dict[str | None, list[Span]] = field(default_factory=dict)


async def load_centre(
    rows: Rows, centre_id: str, settings: CentreSettings, tz: object, now: int
) -> Centre:
    """The centre's bookable world at ``now``: only active staff offer slots."""
    from zoneinfo import ZoneInfo

    assert isinstance(tz, ZoneInfo)
    staff = {
        p.user_id: p
        for p in await rows.Person.all_in_centre(centre_id, roles=("counsellor", "admin"))
        if p.deleted_at is None and p.locked_at is None and p.status != "unavailable"
    }
    services = {s.id: core_service(s) for s in await rows.BookingService.of_centre(centre_id)}
    windows = [
        core_window(w)
        for w in await rows.BookingWindowRow.of_centre(centre_id)
        if w.counsellor in staff
    ]
    today = local_date(now, tz)
    region = settings.holiday_region
    holidays = holiday_names(region, years_between(today, today + timedelta(weeks=9)))
    policy = SlotPolicy(tz=tz, lead_minutes=settings.booking_lead_minutes, holidays=set(holidays))
    blocked = [
        Blocked("absence", a.starts_at, a.ends_at, counsellor=a.user_id, id=a.id)
        for who in {w.counsellor for w in windows}
        for a in await rows.Absence.upcoming(who, now)
    ] + [
        Blocked("blocker", b.starts_at, b.ends_at, counsellor=b.counsellor, id=b.id)
        for b in await rows.BookingBlocker.of_centre(centre_id, now, now + HORIZON_MS)
    ]
    appointments = [
        core_appointment(a) for a in await rows.Appointment.active_of_centre(centre_id, now)
    ]
    groups = [
        core_group(g, [])
        for g in await rows.GroupAppointmentRow.of_centre(centre_id, now)
        if g.cancelled_at is None
    ]
    return Centre(
        services=services,
        windows=windows,
        staff=staff,
        home_only={u for u, p in staff.items() if p.status == "home-only"},
        policy=policy,
        busy=busy_spans(now, blocked, appointments, groups),
    )
