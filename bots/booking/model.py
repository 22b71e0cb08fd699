"""Booking's data: services, booking windows, blocked times, appointments and slots.

Times are milliseconds since the epoch (UTC), like every ``*_at`` column of the database,
so rows map onto these types without conversion and comparisons are plain integer ones.
Local wall-clock time appears only where people think in it: a booking window says
"Mondays 09:00–12:00" in the centre's time zone, and the views show local times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo

__all__ = [
    "ACTIVE_STATES",
    "CHANNELS",
    "DAY_MS",
    "DEFAULT_TZ",
    "HORIZON_WEEKS",
    "HOUR_MS",
    "MINUTE_MS",
    "Appointment",
    "AppointmentState",
    "BlockKind",
    "Blocked",
    "BookingWindow",
    "Channel",
    "GroupAppointment",
    "Service",
    "Slot",
]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# The centre's time zone unless its config names another (German-speaking centres first).
DEFAULT_TZ = ZoneInfo("Europe/Berlin")

Channel = Literal["chat", "video", "phone", "onsite"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
# How far ahead a booking window offers slots (the reference's 1, 2, 4 or 8 weeks).
HORIZON_WEEKS = (1, 2, 4, 8)

# held: a client picked the slot and it is hidden from others until ``held_until``;
# requested: booked, waiting for the counsellor (who confirms every booking: anti-abuse);
# confirmed, declined (by the counsellor), cancelled (by anyone allowed to).
AppointmentState = Literal["held", "requested", "confirmed", "declined", "cancelled"]
# The states in which an appointment still takes its counsellor's time (a hold only until
# it expires, see ``Appointment.occupies``).
ACTIVE_STATES: frozenset[AppointmentState] = frozenset({"held", "requested", "confirmed"})

# absence: a counsellor is away (whole days); blocker: a counsellor's time kept free;
# closing: the whole centre is closed (``counsellor`` is None).
BlockKind = Literal["absence", "blocker", "closing"]


@dataclass(frozen=True, slots=True)
class Service:
    """A bookable kind of appointment (assisto "Beratungsleistung")."""

    id: int
    title: str  # internal: counsellors see it, clients never do
    duration_min: int
    follow_up_min: int  # the counsellor's time after the appointment, part of the slot
    channel: Channel
    topic: str | None = None  # one of the centre's topics, for clients who chose it
    description: str = ""  # what clients see when they choose

    @property
    def slot_ms(self) -> int:
        """How long one slot takes the counsellor: the appointment plus its follow-up."""
        return (self.duration_min + self.follow_up_min) * MINUTE_MS


@dataclass(frozen=True, slots=True)
class BookingWindow:
    """A weekly window of one counsellor offering one service (assisto "Buchungszeit").

    ``starts``/``ends`` are the centre's local wall-clock times on ``weekday`` (0 = Monday,
    as ``date.weekday()``); the slots are computed per date so a summer-time switch moves
    them with the clock people read.
    """

    id: int
    counsellor: str
    weekday: int
    starts: time
    ends: time
    service_id: int
    horizon_weeks: int = 4


@dataclass(frozen=True, slots=True)
class Blocked:
    """A time without slots: an absence, a blocker, or a closing day of the whole centre."""

    kind: BlockKind
    starts_at: int
    ends_at: int
    counsellor: str | None = None  # None: the whole centre (closing days)
    label: str = ""
    id: int = 0


@dataclass(frozen=True, slots=True)
class Appointment:
    """One client's appointment with one counsellor, from hold to confirmation or end.

    ``title`` and ``channel`` are copied from the service at booking, so editing or deleting
    a service leaves booked appointments as they were.
    """

    id: int
    counsellor: str
    client: str | None
    starts_at: int
    ends_at: int
    state: AppointmentState
    title: str = ""
    channel: Channel = "chat"
    follow_up_min: int = 0
    service_id: int | None = None
    held_until: int | None = None  # only for ``held``: when the hold lapses
    sequence: int = 0  # raised on every change, so subscribed calendars replace their copy

    @property
    def busy_until(self) -> int:
        """The counsellor is busy until the follow-up time is over."""
        return self.ends_at + self.follow_up_min * MINUTE_MS

    def occupies(self, now: int) -> bool:
        """Whether the appointment still takes the time away from other slots."""
        if self.state == "held":
            return self.held_until is not None and self.held_until > now
        return self.state in ACTIVE_STATES


@dataclass(frozen=True, slots=True)
class GroupAppointment:
    """An appointment of one counsellor with several clients (assisto "Gruppentermin")."""

    id: int
    counsellor: str
    title: str  # clients see it
    starts_at: int
    ends_at: int
    max_participants: int
    bookable: bool = False  # clients may join themselves; otherwise staff add them
    participants: frozenset[str] = frozenset()
    remarks: str = ""  # clients see it
    channel: Channel = "chat"
    follow_up_min: int = 0
    cancelled: bool = False
    sequence: int = 0

    @property
    def busy_until(self) -> int:
        return self.ends_at + self.follow_up_min * MINUTE_MS


class Slot(NamedTuple):
    """One bookable slot; a tuple because a centre's listing creates tens of thousands.

    A window has at most one slot per start, and window ids are unique, so (start, window)
    identifies a slot: the fields begin with them, and sorting slots as plain tuples gives
    the offer's total order (by time, parallel slots by window) without a key function.
    """

    starts_at: int
    window_id: int
    counsellor: str
    service_id: int
    ends_at: int  # the appointment's end
    busy_until: int  # the end of the follow-up: the span that must be free
