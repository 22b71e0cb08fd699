"""What a client is offered, how a hold lapses, and who may cancel, confirm or decline.

The offer is numbered in a total order (home counsellor first, then by time, parallel
slots by window), so the same facts always give the same numbers. Between ``slots`` and
``book N`` another client may take a slot, which shifts a recomputed list; the wiring
therefore keeps the offered ``slot_key``s per client and ``book N`` looks its key up again
with ``check_offered``, which says why a slot is gone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from enum import StrEnum
from operator import itemgetter
from typing import Literal
from zoneinfo import ZoneInfo

from .model import (
    DEFAULT_TZ,
    HORIZON_WEEKS,
    MINUTE_MS,
    Appointment,
    AppointmentState,
    BookingWindow,
    Channel,
    Service,
    Slot,
)
from .rules import parse_channel
from .slots import SlotPolicy, Span, free_slots, local_date, local_ms

__all__ = [
    "HOLD_MINUTES",
    "Actor",
    "Denial",
    "OfferFilter",
    "check_action",
    "check_send",
    "check_offered",
    "first_offers",
    "hold_until",
    "narrowed",
    "next_state",
    "offer",
    "parse_offer_filter",
    "slot_key",
]

HOLD_MINUTES = 10
_START, _WINDOW = itemgetter(0), itemgetter(1)
Role = Literal["client", "counsellor", "admin"]
Action = Literal["cancel", "confirm", "decline"]
_WEEK_RE = re.compile(r"(?:(\d{4})-?w|kw|w)(\d{1,2})")
_RESULT: dict[Action, AppointmentState] = {
    "cancel": "cancelled",
    "confirm": "confirmed",
    "decline": "declined",
}


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
    NOT_HELD = "not_held"
    HOLD_LAPSED = "hold_lapsed"


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
) -> list[Slot]:
    """The free slots one client may book, in offer order: number N is at index N - 1.

    A ``home-only`` counsellor's slots go only to their own clients (the reference's
    "nur für Stammklient:innen anwählbar"); the home counsellor's slots come first. Slots
    sort as plain tuples (time, then window for parallel ones), a total order.
    """
    visible = [s for s in slots if s.counsellor == home_counsellor or s.counsellor not in home_only]
    wanted = _chosen(chosen, services, tz)
    if wanted is not None:
        visible = [s for s in visible if wanted(s)]
    # Two stable sorts on integers equal one sort by (start, window), the slots' own
    # tuple order, at less than half the cost of comparing tuples (measured).
    visible.sort(key=_WINDOW)
    visible.sort(key=_START)
    home = [s for s in visible if s.counsellor == home_counsellor]
    others = [s for s in visible if s.counsellor != home_counsellor] if home else visible
    return (home + others)[:limit]


def first_offers(
    windows: Iterable[BookingWindow],
    services: Mapping[int, Service],
    *,
    now: int,
    limit: int,
    policy: SlotPolicy,
    home_counsellor: str | None,
    home_only: Collection[str] = (),
    chosen: OfferFilter = OfferFilter(),
    busy: Mapping[str | None, list[Span]] | None = None,
) -> list[Slot]:
    """The first ``limit`` offers: ``offer(free_slots(…))[:limit]``, computing less.

    A client reads one page (a poll holds at most 20 answers). The home counsellor's slots
    come first, so theirs are computed whole; the others' week by week, in time order, only
    until the page is full. Windows of ``home-only`` colleagues are not even looked at.
    """
    its_windows, dates = narrowed(chosen, windows, services)
    its_windows = [
        w for w in its_windows if w.counsellor == home_counsellor or w.counsellor not in home_only
    ]

    def page(chosen_windows: list[BookingWindow], span: tuple[date, date] | None) -> list[Slot]:
        free = free_slots(chosen_windows, services, now=now, policy=policy, busy=busy, dates=span)
        return offer(free, services, home_counsellor=home_counsellor, chosen=chosen, tz=policy.tz)

    found = page([w for w in its_windows if w.counsellor == home_counsellor], dates)
    others = [w for w in its_windows if w.counsellor != home_counsellor]
    first, end = dates or (local_date(now, policy.tz), date.max)
    end = min(end, local_date(now, policy.tz) + timedelta(weeks=max(HORIZON_WEEKS)))
    while len(found) < limit and first < end:
        week_end = min(first + timedelta(weeks=1), end)
        found += page(others, (first, week_end))
        first = week_end
    return found[:limit]


def narrowed(
    chosen: OfferFilter, windows: Iterable[BookingWindow], services: Mapping[int, Service]
) -> tuple[list[BookingWindow], tuple[date, date] | None]:
    """Only the windows and dates ``free_slots`` needs for a filtered listing.

    ``slots video KW24`` then costs a fraction of the whole listing; ``offer`` still
    applies the same filter, so the result is the same either way.
    """
    ids = _service_ids(chosen, services)
    chosen_windows = [w for w in windows if w.service_id in ids]
    if chosen.week is None:
        return chosen_windows, None
    monday = date.fromisocalendar(*chosen.week, 1)
    return chosen_windows, (monday, monday + timedelta(days=7))


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


def check_send(appointment: Appointment, client: str, *, now: int) -> Denial | None:
    """Whether ``client`` may send the request for the slot they hold; None means yes.

    A hold is the client's few minutes between picking a slot and sending the request; once
    lapsed, the slot may already be someone else's, so it is never sent late.
    """
    if appointment.client != client:
        return Denial.NOT_FOUND
    if appointment.state != "held":
        return Denial.NOT_HELD
    if not appointment.occupies(now):
        return Denial.HOLD_LAPSED
    return None


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


def _chosen(
    chosen: OfferFilter, services: Mapping[int, Service], tz: ZoneInfo
) -> Callable[[Slot], bool] | None:
    """A test for the client's filter (None: no filter), comparing plain integers per slot."""
    if chosen == OfferFilter():
        return None
    ids = _service_ids(chosen, services)
    first, end = -1, 2**63
    if chosen.week is not None:
        monday = date.fromisocalendar(*chosen.week, 1)
        first = local_ms(monday, time(), tz)
        end = local_ms(monday + timedelta(days=7), time(), tz)
    return lambda s: s.service_id in ids and first <= s.starts_at < end


def _service_ids(chosen: OfferFilter, services: Mapping[int, Service]) -> set[int]:
    ids = {sid for sid, s in services.items() if chosen.channel in (None, s.channel)}
    return ids & {chosen.service_id} if chosen.service_id is not None else ids


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
