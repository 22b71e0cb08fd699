"""Benchmark: a client's whole slot listing for a busy centre, against a bare tuple loop.

Run: ``python benchmarks/booking_slots.py [RUNS]``. The centre has 50 counsellors, each with
booking windows on every weekday for 8 weeks (four windows a day, two pairs overlapping:
parallel slots), absences, weekly blockers, a closing day, the public holidays of DE-NW and
about a fifth of its slots booked or held. Measured, as medians over the runs:

- baseline: a minimal loop creating as many ``Slot`` tuples as the listing returns, the
  same way the core does, without any exclusion logic (the least the answer costs);
- ``busy_spans`` + ``free_slots``: the functional core's slot generation with exclusions;
- the whole listing: the above plus the offer to one client (home-only filter, home
  counsellor first, stable order, numbering);
- a narrowed listing (``slots video KW…``), the first page of 20 offers (what a client
  reads; computed week by week), and the holidays of the horizon (once a day).

Wall and CPU time are both printed: on a shared machine the wall time includes waiting for
a core; the ratio is taken on CPU time. Issue 10's target: under 20 ms for the whole listing.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bots.booking.closed_days import holiday_names, years_between  # noqa: E402
from bots.booking.model import (  # noqa: E402
    DEFAULT_TZ,
    MINUTE_MS,
    Appointment,
    Blocked,
    BookingWindow,
    Service,
    Slot,
)
from bots.booking.offering import OfferFilter, first_offers, narrowed, offer  # noqa: E402
from bots.booking.slots import SlotPolicy, busy_spans, free_slots, local_ms  # noqa: E402

_new = tuple.__new__  # as the core builds its slots: the cheapest way to a NamedTuple
COUNSELLORS = 50
TODAY = date(2026, 5, 4)  # a Monday; the 8 weeks hold Ascension, Whit Monday, Corpus Christi
REGION = "DE-NW"
HOME = "@counsellor3:lotse.bench"  # the listing's client's home counsellor
SERVICES = {
    1: Service(1, "Chat", 30, 0, "chat"),
    2: Service(2, "Vor Ort", 60, 0, "onsite"),
    3: Service(3, "Video", 50, 10, "video"),
    4: Service(4, "Telefon", 45, 15, "phone"),
}
# Per weekday: (from, to, service); 10–11 overlaps 9–12 and 14–16 overlaps 13–16.
DAY_PLAN = [
    ("09:00", "12:00", 1),
    ("10:00", "11:00", 2),
    ("13:00", "16:00", 3),
    ("14:00", "16:00", 4),
]


def _time(text: str) -> Any:
    return datetime.strptime(text, "%H:%M").time()


def centre() -> tuple[list[BookingWindow], list[Blocked], list[Appointment], int]:
    """Windows, blocked times and bookings of the benchmark centre, and "now"."""
    now = local_ms(TODAY, _time("08:00"), DEFAULT_TZ)
    windows = [
        BookingWindow(
            len(DAY_PLAN) * (7 * c + weekday) + i,
            f"@counsellor{c}:lotse.bench",
            weekday,
            _time(start),
            _time(end),
            service,
            8 if c % 4 else 4,
        )
        for c in range(COUNSELLORS)
        for weekday in range(5)
        for i, (start, end, service) in enumerate(DAY_PLAN)
    ]
    blocked = [Blocked("closing", _day_ms(TODAY, 17), _day_ms(TODAY, 18))]
    for c in range(COUNSELLORS):
        who = f"@counsellor{c}:lotse.bench"
        if c % 5 == 0:  # a week's holiday for every fifth counsellor
            blocked.append(
                Blocked(
                    "absence", _day_ms(TODAY, 7 * (c % 8)), _day_ms(TODAY, 7 * (c % 8) + 7), who
                )
            )
        for week in range(8):  # a weekly team meeting
            start = _day_ms(TODAY, 7 * week + 2) + 14 * 60 * MINUTE_MS
            blocked.append(Blocked("blocker", start, start + 90 * MINUTE_MS, who))
    raw = free_slots(windows, SERVICES, now=now, policy=SlotPolicy())
    chosen = random.Random(10).sample(raw, len(raw) // 5)
    appointments = [
        Appointment(
            i,
            s.counsellor,
            f"@client{i}:lotse.bench",
            s.starts_at,
            s.ends_at,
            "held" if i % 10 == 0 else "confirmed",
            follow_up_min=(s.busy_until - s.ends_at) // MINUTE_MS,
            held_until=now + 5 * MINUTE_MS,
        )
        for i, s in enumerate(chosen)
    ]
    return windows, blocked, appointments, now


def _day_ms(first: date, days: int) -> int:
    return local_ms(first + timedelta(days=days), _time("00:00"), DEFAULT_TZ)


def measure(runs: int, steps: dict[str, Callable[[], Any]]) -> dict[str, tuple[float, float, Any]]:
    """Median wall and CPU milliseconds per step, and its last result.

    The steps take turns within each run, so a neighbour's load on the shared machine falls
    on all of them alike and the ratios stay meaningful when the absolute times do not.
    """
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    results: dict[str, Any] = {}
    for _ in range(runs):
        for name, step in steps.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            results[name] = step()
            cpu[name].append((time.process_time() - started_cpu) * 1000)
            wall[name].append((time.perf_counter() - started) * 1000)
    return {
        name: (statistics.median(wall[name]), statistics.median(cpu[name]), results[name])
        for name in steps
    }


def baseline(n: int, now: int) -> list[Slot]:
    """As many slot tuples as the listing returns, from a bare loop: no windows, no checks."""
    step = 30 * MINUTE_MS
    return [
        _new(
            Slot, (now + i * step, 1, "@counsellor0:lotse.bench", 1, now + i * step, now + i * step)
        )
        for i in range(n)
    ]


def main(runs: int) -> None:
    windows, blocked, appointments, now = centre()
    horizon = years_between(TODAY, TODAY + timedelta(weeks=8))
    holidays = holiday_names(REGION, horizon)
    policy = SlotPolicy(lead_minutes=60, holidays=holidays)
    home_only = {f"@counsellor{c}:lotse.bench" for c in range(0, COUNSELLORS, 7)}
    week = (TODAY + timedelta(weeks=2)).isocalendar()
    chosen = OfferFilter(channel="video", week=(week.year, week.week))
    count = len(listing(windows, blocked, appointments, now, policy, home_only, None))

    steps: dict[str, Callable[[], Any]] = {
        f"baseline: {count} bare Slot tuples": lambda: baseline(count, now),
        "busy_spans + free_slots": lambda: free_slots(
            windows, SERVICES, now=now, policy=policy, busy=busy_spans(now, blocked, appointments)
        ),
        "whole listing for a client (offer)": lambda: listing(
            windows, blocked, appointments, now, policy, home_only, None
        ),
        "narrowed listing: video, one week": lambda: listing(
            windows, blocked, appointments, now, policy, home_only, chosen
        ),
        "first page: the 20 first offers": lambda: first_offers(
            windows,
            SERVICES,
            now=now,
            limit=20,
            policy=policy,
            home_counsellor=HOME,
            home_only=home_only,
            busy=busy_spans(now, blocked, appointments),
        ),
        "holiday_names for the horizon": lambda: holiday_names(REGION, horizon),
    }
    measured = measure(runs, steps)
    base_wall, base_cpu, _ = next(iter(measured.values()))
    print(
        f"\n{COUNSELLORS} counsellors, {len(windows)} booking windows (8 or 4 weeks), "
        f"{len(blocked)} blocked times, {len(appointments)} bookings/holds, "
        f"{REGION} holidays; medians of {runs} interleaved runs"
    )
    print(f"| {'what':<36} | {'items':>6} | {'wall ms':>8} | {'cpu ms':>7} | {'ratio':>6} |")
    print(f"|{'-' * 38}|{'-' * 8}|{'-' * 10}|{'-' * 9}|{'-' * 8}|")
    for what, (wall, cpu, result) in measured.items():
        print(
            f"| {what:<36} | {len(result):>6} | {wall:>8.2f} | {cpu:>7.2f} | "
            f"{cpu / base_cpu:>6.1f} |"
        )
    print()
    for what in ("whole listing for a client (offer)", "first page: the 20 first offers"):
        wall = measured[what][0]
        verdict = "met" if wall < 20 else "missed"
        print(f"target < 20 ms (wall), {what}: {verdict} ({wall:.2f} ms)")


def listing(
    windows: list[BookingWindow],
    blocked: list[Blocked],
    appointments: list[Appointment],
    now: int,
    policy: SlotPolicy,
    home_only: set[str],
    chosen: OfferFilter | None,
) -> list[Slot]:
    """What `slots [SERVICE] [WEEK]` computes for one client, from the centre's rows."""
    busy = busy_spans(now, blocked, appointments)
    chosen = chosen or OfferFilter()
    its_windows, dates = narrowed(chosen, windows, SERVICES)
    free = free_slots(its_windows, SERVICES, now=now, policy=policy, busy=busy, dates=dates)
    return offer(free, SERVICES, home_counsellor=HOME, home_only=home_only, chosen=chosen)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
