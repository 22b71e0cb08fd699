"""Free slots: what booking windows offer, minus everything that takes the time away.

Each window yields, for every matching date within its horizon, as many slots of
(duration + follow-up) as fit, on a grid starting at the window's start. Windows may
overlap (parallel slots); a slot is free only if its whole span, follow-up included, meets
no absence, blocker, closing day, active appointment or hold, or group appointment of its
counsellor, lies on no public holiday, and starts no earlier than now plus the lead time.

Windows are local wall-clock times: each date's start and end are converted in the centre's
time zone, so "09:00" stays 09:00 across the summer-time switch and a night window on the
switch day has the real length of that night. A local time that does not exist (02:30 on
the last Sunday of March) is read with the offset before the gap, as RFC 5545 does.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .model import (
    DAY_MS,
    DEFAULT_TZ,
    MINUTE_MS,
    Appointment,
    Blocked,
    BookingWindow,
    GroupAppointment,
    Service,
    Slot,
)

__all__ = [
    "SlotPolicy",
    "Span",
    "busy_spans",
    "free_slots",
    "local_date",
    "local_ms",
    "overlaps",
    "wall_clock",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Slots are built with tuple.__new__ directly: a NamedTuple's own __new__ is a Python
# function, and the listing builds tens of thousands of them.
_new = tuple.__new__
_MS = timedelta(milliseconds=1)
Span = tuple[int, int]
_Day = tuple[date, int, bool]  # a date, its local midnight (UTC ms), whether it has 24 hours


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """The centre's rules for all its slots."""

    tz: ZoneInfo = DEFAULT_TZ
    lead_minutes: int = 0  # minimum time between booking and the slot's start
    holidays: Collection[date] = field(default_factory=frozenset)  # local dates, no slots


def local_ms(day: date, at: time, tz: ZoneInfo) -> int:
    """A local wall-clock time on a date, as UTC milliseconds (integer arithmetic, no float)."""
    return (datetime.combine(day, at, tzinfo=tz) - _EPOCH) // _MS


def local_date(ms: int, tz: ZoneInfo) -> date:
    """The centre's date at a UTC instant."""
    return datetime.fromtimestamp(ms / 1000, tz).date()


def wall_clock(ms: int, tz: ZoneInfo) -> dict[str, int | str]:
    """How people read an instant: weekday, date, clock, and the zone's name only where the
    clock shows that time twice (the night summer time ends: 02:30 CEST and 02:30 CET)."""
    at = datetime.fromtimestamp(ms / 1000, tz)
    twin = at.replace(fold=1 - at.fold)
    zone = (at.tzname() or "") if twin.utcoffset() != at.utcoffset() else ""
    return {
        "weekday": at.weekday(),
        "day": at.strftime("%d.%m.%Y"),
        "clock": at.strftime("%H:%M"),
        "zone": zone,
    }


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Half-open spans: a slot ending at 10:00 does not meet one starting at 10:00."""
    return a_start < b_end and b_start < a_end


def busy_spans(
    now: int,
    blocked: Iterable[Blocked] = (),
    appointments: Iterable[Appointment] = (),
    groups: Iterable[GroupAppointment] = (),
) -> dict[str | None, list[Span]]:
    """Per counsellor (None: the whole centre), the sorted, merged spans without slots."""
    spans: dict[str | None, list[Span]] = defaultdict(list)
    for b in blocked:
        spans[b.counsellor].append((b.starts_at, b.ends_at))
    for a in appointments:
        if a.occupies(now):
            spans[a.counsellor].append((a.starts_at, a.busy_until))
    for g in groups:
        if not g.cancelled:
            spans[g.counsellor].append((g.starts_at, g.busy_until))
    return {who: _merge(s) for who, s in spans.items()}


def free_slots(
    windows: Iterable[BookingWindow],
    services: Mapping[int, Service],
    *,
    now: int,
    policy: SlotPolicy = SlotPolicy(),
    busy: Mapping[str | None, list[Span]] | None = None,
    dates: tuple[date, date] | None = None,
) -> list[Slot]:
    """Every free slot of the given windows, per counsellor in window and date order.

    ``busy`` comes from ``busy_spans``; the order is the input's, ``offering`` sorts.
    ``dates`` ([first, end) local dates) computes only those days, for a narrowed listing.
    A window whose service is unknown yields nothing (the check refused it when added).
    """
    busy = busy or {}
    centre = busy.get(None, [])
    earliest = now + policy.lead_minutes * MINUTE_MS
    days = _Days(local_date(now, policy.tz), policy, dates)
    out: list[Slot] = []
    for counsellor, its_windows in _by_counsellor(windows).items():
        spans = busy.get(counsellor, [])
        free = _FreeTime([s for s, _ in spans], [e for _, e in spans], earliest, policy.tz)
        for start, end in centre:
            free.add(start, end)
        for window in its_windows:
            service = services.get(window.service_id)
            if service is not None and service.slot_ms > 0:
                free.fill(out, window, service, days.of(window.weekday, window.horizon_weeks))
    return out


class _FreeTime:
    """One counsellor's busy spans (sorted, disjoint) and the earliest bookable start."""

    def __init__(self, starts: list[int], ends: list[int], earliest: int, tz: ZoneInfo) -> None:
        self.starts, self.ends, self.earliest, self.tz = starts, ends, earliest, tz

    def add(self, start: int, end: int) -> None:
        """Merge one more span in (the centre's closing days), keeping the spans disjoint."""
        lo = bisect_left(self.ends, start)  # the first span not ending before it
        hi = bisect_right(self.starts, end)  # past the last span not starting after it
        if lo < hi:
            start, end = min(start, self.starts[lo]), max(end, self.ends[hi - 1])
        self.starts[lo:hi], self.ends[lo:hi] = [start], [end]

    def fill(
        self, out: list[Slot], window: BookingWindow, service: Service, days: list[_Day]
    ) -> None:
        """Append the window's free slots on its days; each day's grid starts at the window's.

        The checks go by busy span, not by slot: the free grid points before the next span
        become slots without further tests, and the grid jumps over the span. This loop is
        the listing's hot path (benchmarks/booking_slots.py), hence one call per window
        rather than per date, and tuples built with ``tuple.__new__``.
        """
        step, duration = service.slot_ms, service.duration_min * MINUTE_MS
        who, sid, wid = window.counsellor, window.service_id, window.id
        from_ms, to_ms = _clock_ms(window.starts), _clock_ms(window.ends)
        starts, ends, n, earliest = self.starts, self.ends, len(self.starts), self.earliest
        append = out.append
        for day, midnight, regular in days:
            if regular:
                t, end = midnight + from_ms, midnight + to_ms
            else:
                t, end = local_ms(day, window.starts, self.tz), local_ms(day, window.ends, self.tz)
            if t < earliest:
                t += -(-(earliest - t) // step) * step
            i = bisect_right(ends, t)
            while t + step <= end:
                # The last free start before the next span (or the window's end).
                last = end - step if i == n else min(end, starts[i]) - step
                while t <= last:
                    append(_new(Slot, (t, wid, who, sid, t + duration, t + step)))
                    t += step
                if i == n or starts[i] >= end:
                    break
                # The first grid point at or after the span's end (spans are disjoint).
                if ends[i] > t:
                    t += -(-(ends[i] - t) // step) * step
                i += 1


class _Days:
    """The dates each (weekday, horizon) offers, holidays left out, worked out once.

    With each date its local midnight in UTC and whether the day is regular (no switch to
    or from summer time): on a regular day a wall-clock time is midnight plus its minutes,
    on the two others it is converted properly by ``local_ms``.
    """

    def __init__(self, today: date, policy: SlotPolicy, dates: tuple[date, date] | None) -> None:
        self.today, self.holidays, self.tz = today, policy.holidays, policy.tz
        self.first, self.end = dates or (date.min, date.max)
        self.cache: dict[tuple[int, int], list[_Day]] = {}

    def of(self, weekday: int, weeks: int) -> list[_Day]:
        key = (weekday, weeks)
        days = self.cache.get(key)
        if days is None:
            days = self.cache[key] = [
                self._day(d)
                for d in _dates(self.today, weekday, weeks)
                if d not in self.holidays and self.first <= d < self.end
            ]
        return days

    def _day(self, day: date) -> _Day:
        midnight = local_ms(day, time(), self.tz)
        next_midnight = local_ms(day + timedelta(days=1), time(), self.tz)
        return day, midnight, next_midnight - midnight == DAY_MS


def _clock_ms(at: time) -> int:
    return (at.hour * 60 + at.minute) * MINUTE_MS


def _dates(today: date, weekday: int, weeks: int) -> Iterator[date]:
    """The window's weekday from today on, for ``weeks`` weeks (today counts as day one)."""
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    last = today + timedelta(days=7 * weeks)
    while day < last:
        yield day
        day += timedelta(days=7)


def _by_counsellor(windows: Iterable[BookingWindow]) -> dict[str, list[BookingWindow]]:
    grouped: dict[str, list[BookingWindow]] = defaultdict(list)
    for window in windows:
        grouped[window.counsellor].append(window)
    return grouped


def _merge(spans: list[Span]) -> list[Span]:
    """Sorted, disjoint spans, so each slot needs one comparison with the next span."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
