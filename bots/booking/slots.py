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

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .model import (
    DEFAULT_TZ,
    MINUTE_MS,
    Appointment,
    Blocked,
    BookingWindow,
    GroupAppointment,
    Service,
    Slot,
)

__all__ = ["SlotPolicy", "Span", "busy_spans", "free_slots", "local_date", "local_ms", "overlaps"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
Span = tuple[int, int]


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
) -> list[Slot]:
    """Every free slot of the given windows, per counsellor in window and date order.

    ``busy`` comes from ``busy_spans``; the order is the input's, ``offering`` sorts.
    A window whose service is unknown yields nothing (the check refused it when added).
    """
    busy = busy or {}
    centre = busy.get(None, [])
    today = local_date(now, policy.tz)
    earliest = now + policy.lead_minutes * MINUTE_MS
    clock = _LocalClock(policy.tz)
    out: list[Slot] = []
    for counsellor, its_windows in _by_counsellor(windows).items():
        spans = _merge(busy.get(counsellor, []) + centre) if centre else busy.get(counsellor, [])
        starts = [s for s, _ in spans]
        ends = [e for _, e in spans]
        for window in its_windows:
            service = services.get(window.service_id)
            if service is None:
                continue
            for day in _dates(today, window.weekday, window.horizon_weeks):
                if day in policy.holidays:
                    continue
                start, end = clock.ms(day, window.starts), clock.ms(day, window.ends)
                _fill(out, window, service, start, end, earliest, starts, ends)
    return out


def _fill(
    out: list[Slot],
    window: BookingWindow,
    service: Service,
    start: int,
    end: int,
    earliest: int,
    busy_starts: list[int],
    busy_ends: list[int],
) -> None:
    """Append the window's free slots on one date; the grid stays anchored at its start."""
    step = service.slot_ms
    if step <= 0:
        return
    duration = service.duration_min * MINUTE_MS
    t = start
    if t < earliest:
        t += -(-(earliest - t) // step) * step
    i = bisect_right(busy_ends, t)
    n = len(busy_starts)
    while t + step <= end:
        stop = t + step
        while i < n and busy_ends[i] <= t:
            i += 1
        if i == n or busy_starts[i] >= stop:
            out.append(Slot(window.counsellor, window.service_id, window.id, t, t + duration, stop))
        t = stop


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


class _LocalClock:
    """``local_ms`` remembered per (date, time): many counsellors share the same hours."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.cache: dict[tuple[date, time], int] = {}

    def ms(self, day: date, at: time) -> int:
        key = (day, at)
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = local_ms(day, at, self.tz)
        return value
