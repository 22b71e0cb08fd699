"""What a client is offered, how a hold lapses, and who may cancel, confirm or decline.

The offer is numbered in a total order (home counsellor first, then by time, counsellor,
service, window), so the same facts always give the same numbers. Between ``slots`` and
``book N`` another client may take a slot, which shifts a recomputed list; the wiring
therefore keeps the offered ``slot_key``s per client and ``book N`` looks its key up again
with ``check_offered``, which says why a slot is gone.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from .model import DEFAULT_TZ, MINUTE_MS, Appointment, AppointmentState, Channel, Service, Slot
from .rules import parse_channel
from .slots import local_date

__all__ = [
    "HOLD_MINUTES",
    "Actor",
    "Denial",
    "Offer",
    "OfferFilter",
    "check_action",
    "check_offered",
    "hold_until",
    "next_state",
    "offer",
    "parse_offer_filter",
    "slot_key",
]

HOLD_MINUTES = 10
Role = Literal["client", "counsellor", "admin"]
Action = Literal["cancel", "confirm", "decline"]
_WEEK_RE = re.compile(r"(?:(\d{4})-?w|kw|w)(\d{1,2})")
_RESULT: dict[Action, AppointmentState] = {
    "cancel": "cancelled",
    "confirm": "confirmed",
    "decline": "declined",
}


class Offer(NamedTuple):
    number: int
    slot: Slot


class Denial(StrEnum):
    """Why a booking or an action on an appointment is refused (template variant names)."""

    SLOT_UNKNOWN = "slot_unknown"
    SLOT_TAKEN = "slot_taken"
    SLOT_PAST = "slot_past"
    NOT_FOUND = "not_found"
    NOT_YOURS = "not_yours"
    NOT_ALLOWED = "not_allowed"
    NOT_REQUESTED = "not_requested"
    ALREADY_CLOSED = "already_closed"
    ALREADY_STARTED = "already_started"
    CUTOFF_PASSED = "cutoff_passed"
    REASON_REQUIRED = "reason_required"
    BAD_FILTER = "bad_filter"


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class OfferFilter:
    """A client's ``slots [SERVICE] [WEEK]``: a channel or a service number, an ISO week."""

    channel: Channel | None = None
    service_id: int | None = None
    week: tuple[int, int] | None = None  # (ISO year, ISO week)


def slot_key(slot: Slot) -> str:
    """A slot's identity across recomputations, for the offer a client was shown."""
    return f"{slot.counsellor}|{slot.service_id}|{slot.window_id}|{slot.starts_at}"


def offer(
    slots: Iterable[Slot],
    services: Mapping[int, Service],
    *,
    home_counsellor: str | None,
    home_only: Collection[str] = (),
    chosen: OfferFilter = OfferFilter(),
    tz: ZoneInfo = DEFAULT_TZ,
    limit: int | None = None,
) -> list[Offer]:
    """The numbered free slots one client may book.

    A ``home-only`` counsellor's slots go only to their own clients (the reference's
    "nur für Stammklient:innen anwählbar"); the home counsellor's slots come first.
    """
    wanted = [
        s
        for s in slots
        if (s.counsellor not in home_only or s.counsellor == home_counsellor)
        and _matches(s, services, chosen, tz)
    ]
    wanted.sort(
        key=lambda s: (
            s.counsellor != home_counsellor,
            s.starts_at,
            s.counsellor,
            s.service_id,
            s.window_id,
        )
    )
    if limit is not None:
        wanted = wanted[:limit]
    return [Offer(number, slot) for number, slot in enumerate(wanted, start=1)]


def parse_offer_filter(
    words: Iterable[str], services: Mapping[int, Service], today: date
) -> OfferFilter | Denial:
    """``video``/``telefon``/… or a service number, and ``KW23``/``W23``/``2026-W23``.

    Clients never see services' internal titles, so they choose by channel or by the number
    shown next to a service's description; a week without a year is its next occurrence.
    Each may come once, in any order; anything else is refused (nothing is guessed).
    """
    chosen = OfferFilter()
    for word in words:
        channel = parse_channel(word)
        week = _parse_week(word, today)
        if channel is not None and chosen.channel is None:
            chosen = replace(chosen, channel=channel)
        elif word.isdigit() and int(word) in services and chosen.service_id is None:
            chosen = replace(chosen, service_id=int(word))
        elif week is not None and chosen.week is None:
            chosen = replace(chosen, week=week)
        else:
            return Denial.BAD_FILTER
    return chosen


def check_offered(
    key: str, free: Iterable[Slot], *, now: int, lead_minutes: int = 0
) -> Slot | Denial:
    """The slot behind an offered key if it is still free, else why it is not.

    ``free`` is recomputed at booking time, so a slot taken or held meanwhile is missing
    from it; one whose start came too close is called past, which the client can act on.
    """
    starts_at = key.rsplit("|", 1)[-1]
    if key.count("|") != 3 or not starts_at.isdigit():
        return Denial.SLOT_UNKNOWN
    if int(starts_at) < now + lead_minutes * MINUTE_MS:
        return Denial.SLOT_PAST
    return next((s for s in free if slot_key(s) == key), Denial.SLOT_TAKEN)


def hold_until(now: int, minutes: int = HOLD_MINUTES) -> int:
    """When a hold made now lapses and the slot is offered to others again."""
    return now + minutes * MINUTE_MS


def check_action(
    action: Action,
    actor: Actor,
    appointment: Appointment,
    *,
    now: int,
    cutoff_minutes: int = 0,
    reason: str = "",
) -> Denial | None:
    """Whether ``actor`` may ``action`` the appointment now; None means yes.

    Clients cancel their own appointments up to the centre's cut-off (a hold they may
    always release); the counsellor of the appointment and admins cancel any time before
    it starts, with a reason the client is told; only they confirm or decline requests.
    """
    if actor.role == "client" and appointment.client != actor.user_id:
        return Denial.NOT_FOUND
    if appointment.state in ("declined", "cancelled") or not appointment.occupies(now):
        return Denial.ALREADY_CLOSED
    if appointment.starts_at <= now:
        return Denial.ALREADY_STARTED
    if actor.role == "counsellor" and appointment.counsellor != actor.user_id:
        return Denial.NOT_YOURS
    if action == "cancel":
        return _check_cancel(actor, appointment, now, cutoff_minutes, reason)
    if actor.role == "client":
        return Denial.NOT_ALLOWED
    if appointment.state != "requested":
        return Denial.NOT_REQUESTED
    return None


def next_state(action: Action) -> AppointmentState:
    """The state an allowed action leads to."""
    return _RESULT[action]


def _check_cancel(
    actor: Actor, appointment: Appointment, now: int, cutoff_minutes: int, reason: str
) -> Denial | None:
    if actor.role != "client":
        return None if reason.strip() else Denial.REASON_REQUIRED
    if appointment.state != "held" and appointment.starts_at - now < cutoff_minutes * MINUTE_MS:
        return Denial.CUTOFF_PASSED
    return None


def _matches(
    slot: Slot, services: Mapping[int, Service], chosen: OfferFilter, tz: ZoneInfo
) -> bool:
    if chosen.service_id is not None and slot.service_id != chosen.service_id:
        return False
    if chosen.channel is not None:
        service = services.get(slot.service_id)
        if service is None or service.channel != chosen.channel:
            return False
    if chosen.week is not None:
        iso = local_date(slot.starts_at, tz).isocalendar()
        return (iso.year, iso.week) == chosen.week
    return True


def _parse_week(word: str, today: date) -> tuple[int, int] | None:
    match = _WEEK_RE.fullmatch(word.strip().lower())
    if match is None:
        return None
    week = int(match.group(2))
    if match.group(1):
        year = int(match.group(1))
    else:
        now = today.isocalendar()
        year = now.year if week >= now.week else now.year + 1
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        return None
    return year, week
