"""Slot generation: windows, parallel slots, everything that removes a slot, summer time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bots.booking.closed_days import holiday_names
from bots.booking.model import (
    DEFAULT_TZ,
    Appointment,
    AppointmentState,
    Blocked,
    BookingWindow,
    GroupAppointment,
    Service,
    Slot,
)
from bots.booking.slots import SlotPolicy, busy_spans, free_slots, local_ms, wall_clock

from .support import (
    CHAT,
    CLIENT,
    COLLEAGUE,
    COUNSELLOR,
    MONDAY,
    ONSITE,
    ONSITE_FOLLOW_UP,
    SERVICES,
    SUNDAY_BEFORE,
    VIDEO,
    at,
    booked,
    local,
    starts,
    window,
)

NOW = at(SUNDAY_BEFORE, "12:00")
# The reference's example: Monday 09:00–12:00 chat, 10:00–11:00 on site, 30 minutes each.
REFERENCE = [window(1, 0, "09:00", "12:00", CHAT), window(2, 0, "10:00", "11:00", ONSITE)]


def _free(
    windows: list[BookingWindow],
    now: int = NOW,
    policy: SlotPolicy | None = None,
    **facts: Any,
) -> list[Slot]:
    """Free slots of the test services, everything in ``facts`` taking time away."""
    busy = busy_spans(now, **facts)
    return free_slots(windows, SERVICES, now=now, policy=policy or SlotPolicy(), busy=busy)


def test_reference_example_eight_slots_four_parallel() -> None:
    """Chat 09–12 gives 6 slots, on site 10–11 gives 2: 8 slots, 4 of them between 10 and 11."""
    slots = _free(REFERENCE)
    assert starts(slots, CHAT) == [
        f"{MONDAY} {t}" for t in ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30")
    ]
    assert starts(slots, ONSITE) == [f"{MONDAY} 10:00", f"{MONDAY} 10:30"]
    parallel = [s for s in slots if at(MONDAY, "10:00") <= s.starts_at < at(MONDAY, "11:00")]
    assert len(slots) == 8 and len(parallel) == 4


@pytest.mark.parametrize(
    ("windows", "booking", "chat_left", "onsite_left"),
    [
        # Booking on site at 10:00 removes the chat slot at 10:00 and only that one: the
        # chat slots 09:30–10:00 and 10:30–11:00 merely touch it.
        (REFERENCE, (ONSITE, "10:00"), ["09:00", "09:30", "10:30", "11:00", "11:30"], ["10:30"]),
        # The other way round: a chat booking at 10:30 takes the on-site 10:30 away.
        (REFERENCE, (CHAT, "10:30"), ["09:00", "09:30", "10:00", "11:00", "11:30"], ["10:00"]),
        # With 15 minutes follow-up the on-site slot is 10:00–10:45: one fits in the window,
        # and booking it removes both chat slots it overlaps (10:00 and 10:30).
        (
            [
                window(1, 0, "09:00", "12:00", CHAT),
                window(2, 0, "10:00", "11:00", ONSITE_FOLLOW_UP),
            ],
            (ONSITE_FOLLOW_UP, "10:00"),
            ["09:00", "09:30", "11:00", "11:30"],
            [],
        ),
        # A booking outside the windows' parallel part touches nothing else.
        (
            REFERENCE,
            (CHAT, "09:00"),
            ["09:30", "10:00", "10:30", "11:00", "11:30"],
            ["10:00", "10:30"],
        ),
    ],
)
def test_booking_removes_every_overlapping_slot(
    windows: list[BookingWindow],
    booking: tuple[Service, str],
    chat_left: list[str],
    onsite_left: list[str],
) -> None:
    """A booked slot removes itself and every slot of that counsellor overlapping its span."""
    service, clock = booking
    slots = _free(windows, appointments=[booked(service, clock)])
    assert starts(slots, CHAT) == [f"{MONDAY} {t}" for t in chat_left]
    onsite = [s for s in slots if s.service_id != CHAT.id]
    assert starts(onsite) == [f"{MONDAY} {t}" for t in onsite_left]


@pytest.mark.parametrize(
    ("state", "held_until", "removes"),
    [
        ("requested", None, True),
        ("confirmed", None, True),
        ("held", NOW + 60_000, True),
        ("held", NOW, False),  # lapsed: offered again
        ("held", None, False),
        ("declined", None, False),
        ("cancelled", None, False),
    ],
)
def test_which_appointments_take_the_time(
    state: AppointmentState, held_until: int | None, removes: bool
) -> None:
    """Requests, confirmations and live holds take the slot; lapsed holds, declines, cancels not."""
    slots = _free(REFERENCE, appointments=[booked(ONSITE, "10:00", state, held_until=held_until)])
    assert (f"{MONDAY} 10:00" not in starts(slots, CHAT)) is removes


ALL_EIGHT = ["09:00", "09:30", "10:00", "10:00", "10:30", "10:30", "11:00", "11:30"]


@pytest.mark.parametrize(
    ("blocked", "left"),
    [
        # A blocker 10:15–10:45 removes every slot it meets, of both services.
        (
            [Blocked("blocker", at(MONDAY, "10:15"), at(MONDAY, "10:45"), COUNSELLOR)],
            ["09:00", "09:30", "11:00", "11:30"],
        ),
        # An absence over the whole Monday removes the day.
        ([Blocked("absence", at(MONDAY), at("2026-06-09"), COUNSELLOR)], []),
        # A closing day of the centre (no counsellor) removes everyone's slots.
        ([Blocked("closing", at(MONDAY), at("2026-06-09"))], []),
        # A colleague's absence changes nothing here.
        ([Blocked("absence", at(MONDAY), at("2026-06-09"), COLLEAGUE)], ALL_EIGHT),
        # A blocker ending when the first slot starts leaves it.
        ([Blocked("blocker", at(MONDAY, "08:00"), at(MONDAY, "09:00"), COUNSELLOR)], ALL_EIGHT),
    ],
)
def test_blocked_times_have_no_slots(blocked: list[Blocked], left: list[str]) -> None:
    """Absences, blockers and closing days remove every slot they overlap, nothing else."""
    assert starts(_free(REFERENCE, blocked=blocked)) == [f"{MONDAY} {t}" for t in left]


def test_group_appointment_takes_its_counsellors_time() -> None:
    """A group appointment (follow-up included) removes its counsellor's slots; cancelled, none."""
    group = GroupAppointment(
        5, COUNSELLOR, "Gruppe", at(MONDAY, "11:00"), at(MONDAY, "11:15"), 8, follow_up_min=15
    )
    assert starts(_free(REFERENCE, groups=[group]), CHAT) == [
        f"{MONDAY} {t}" for t in ("09:00", "09:30", "10:00", "10:30", "11:30")
    ]
    cancelled = GroupAppointment(
        5, COUNSELLOR, "G", group.starts_at, group.ends_at, 8, cancelled=True
    )
    assert len(_free(REFERENCE, groups=[cancelled])) == 8


@pytest.mark.parametrize(
    ("region", "day", "slots"),
    [
        ("DE-NW", "2026-06-04", 0),  # Fronleichnam is a holiday in North Rhine-Westphalia
        ("DE-BE", "2026-06-04", 2),  # but not in Berlin
        ("DE-NW", "2026-06-11", 2),  # the Thursday after is a working day
        ("DE", "2026-12-25", 0),  # Christmas everywhere in Germany
        ("", "2026-12-25", 2),  # no region: no holidays
    ],
)
def test_no_slots_on_public_holidays(region: str, day: str, slots: int) -> None:
    """A public holiday of the centre's region has no slots; other regions' holidays do."""
    weekday = datetime.fromisoformat(day).weekday()
    policy = SlotPolicy(holidays=holiday_names(region, [2026]))
    now = at(day) - 3 * 24 * 3600_000
    found = _free([window(1, weekday, "09:00", "10:00", CHAT)], now=now, policy=policy)
    assert len(found) == slots


@pytest.mark.parametrize(
    ("now", "lead", "first"),
    [
        (at(MONDAY, "08:00"), 0, "09:00"),
        (at(MONDAY, "10:10"), 0, "10:30"),  # past slots are gone, the running one too
        (at(MONDAY, "10:30"), 0, "10:30"),  # a slot starting right now is still bookable
        (at(MONDAY, "10:10"), 60, "11:30"),  # lead time: not before 11:10
        (at(MONDAY, "08:00"), 60, "09:00"),  # exactly the lead time ahead is fine
        (at(MONDAY, "11:31"), 0, None),
    ],
)
def test_past_and_lead_time(now: int, lead: int, first: str | None) -> None:
    """No slot starts in the past or within the centre's minimum lead time."""
    slots = _free(
        [window(1, 0, "09:00", "12:00", CHAT)], now=now, policy=SlotPolicy(lead_minutes=lead)
    )
    assert (starts(slots)[0] if slots else None) == (f"{MONDAY} {first}" if first else None)


@pytest.mark.parametrize(("weeks", "mondays"), [(1, 1), (2, 2), (4, 4), (8, 8)])
def test_horizon_weeks(weeks: int, mondays: int) -> None:
    """A window offers its weekday for 1, 2, 4 or 8 weeks from today on."""
    slots = _free([window(1, 0, "09:00", "10:00", CHAT, weeks=weeks)])
    assert len(slots) == 2 * mondays
    assert len({s.starts_at // 86_400_000 for s in slots}) == mondays


def test_horizon_counts_today() -> None:
    """On the window's weekday itself, today's remaining slots are part of the horizon."""
    slots = _free([window(1, 0, "09:00", "12:00", CHAT, weeks=1)], now=at(MONDAY, "10:45"))
    assert starts(slots) == [f"{MONDAY} 11:00", f"{MONDAY} 11:30"]


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "service", "expected"),
    [
        ("09:00", "10:40", ONSITE_FOLLOW_UP, ["09:00", "09:45"]),  # the rest is too short
        ("09:00", "09:40", ONSITE_FOLLOW_UP, []),  # too short for one slot
        ("09:00", "11:00", VIDEO, ["09:00", "10:00"]),  # 50 + 10 minutes
    ],
)
def test_slots_of_duration_plus_follow_up(
    starts_at: str, ends_at: str, service: Service, expected: list[str]
) -> None:
    """Each window yields as many slots of (duration + follow-up) as fit, from its start."""
    slots = _free([window(1, 0, starts_at, ends_at, service)])
    assert starts(slots) == [f"{MONDAY} {t}" for t in expected]
    assert all(s.ends_at - s.starts_at == service.duration_min * 60_000 for s in slots)
    assert all(
        s.busy_until - s.starts_at == (service.duration_min + service.follow_up_min) * 60_000
        for s in slots
    )


def test_unknown_service_yields_nothing() -> None:
    """A window whose service was deleted offers nothing instead of failing the listing."""
    lost = window(1, 0, "09:00", "12:00", Service(99, "x", 30, 0, "chat"))
    assert _free([lost]) == []


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M")


@pytest.mark.parametrize(
    ("day", "starts_at", "ends_at", "expected_utc", "expected_local"),
    [
        # Last Sunday of March 2026: 02:00 CET becomes 03:00 CEST. The night window
        # 01:00–04:00 is two real hours long; 02:00–03:00 local does not exist.
        (
            "2026-03-29",
            "01:00",
            "04:00",
            ["00:00", "00:30", "01:00", "01:30"],
            ["01:00", "01:30", "03:00", "03:30"],
        ),
        # A window starting in the gap starts when the clock jumps (RFC 5545's reading).
        ("2026-03-29", "02:00", "04:00", ["01:00", "01:30"], ["03:00", "03:30"]),
        ("2026-03-29", "09:00", "10:00", ["07:00", "07:30"], ["09:00", "09:30"]),  # CEST
        ("2026-03-28", "09:00", "10:00", ["08:00", "08:30"], ["09:00", "09:30"]),  # CET
        ("2026-03-30", "09:00", "10:00", ["07:00", "07:30"], ["09:00", "09:30"]),  # CEST
        # Last Sunday of October 2026: 03:00 CEST becomes 02:00 CET. 01:00–04:00 is four
        # real hours: the hour 02:00–03:00 happens twice and has slots twice.
        (
            "2026-10-25",
            "01:00",
            "04:00",
            ["23:00", "23:30", "00:00", "00:30", "01:00", "01:30", "02:00", "02:30"],
            ["01:00", "01:30", "02:00", "02:30", "02:00", "02:30", "03:00", "03:30"],
        ),
        # 02:00 is ambiguous and read as its first occurrence (CEST), 03:00 is CET.
        (
            "2026-10-25",
            "02:00",
            "03:00",
            ["00:00", "00:30", "01:00", "01:30"],
            ["02:00", "02:30", "02:00", "02:30"],
        ),
        ("2026-10-25", "09:00", "10:00", ["08:00", "08:30"], ["09:00", "09:30"]),  # CET
        ("2026-10-24", "09:00", "10:00", ["07:00", "07:30"], ["09:00", "09:30"]),  # CEST
        ("2026-10-26", "09:00", "10:00", ["08:00", "08:30"], ["09:00", "09:30"]),  # CET
    ],
)
def test_summer_time_switch(
    day: str, starts_at: str, ends_at: str, expected_utc: list[str], expected_local: list[str]
) -> None:
    """Slots follow the local clock around the switches and have their real length."""
    weekday = datetime.fromisoformat(day).weekday()
    now = at(day) - 2 * 24 * 3600_000
    slots = _free([window(1, weekday, starts_at, ends_at, CHAT)], now=now)
    ordered = sorted(slots, key=lambda s: s.starts_at)
    assert [_utc(s.starts_at) for s in ordered] == expected_utc
    assert [local(s.starts_at)[11:] for s in ordered] == expected_local
    assert all(s.busy_until - s.starts_at == 30 * 60_000 for s in ordered)


@pytest.mark.parametrize(
    ("utc", "shown"),
    [
        ("2027-10-31T00:30", ("31.10.2027", "02:30", "CEST")),  # the first 02:30
        ("2027-10-31T01:30", ("31.10.2027", "02:30", "CET")),  # the second
        ("2027-10-31T02:00", ("31.10.2027", "03:00", "")),  # once only: no zone
        ("2027-10-30T23:30", ("31.10.2027", "01:30", "")),
        ("2027-03-28T01:00", ("28.03.2027", "03:00", "")),  # after the jump
        ("2027-03-28T00:30", ("28.03.2027", "01:30", "")),
        ("2026-06-08T07:00", ("08.06.2026", "09:00", "")),
    ],
)
def test_wall_clock_names_the_zone_only_for_a_repeated_hour(
    utc: str, shown: tuple[str, str, str]
) -> None:
    """The night summer time ends shows 02:30 twice; people tell them apart by the zone."""
    ms = int(datetime.fromisoformat(utc).replace(tzinfo=UTC).timestamp() * 1000)
    seen = wall_clock(ms, DEFAULT_TZ)
    assert (seen["day"], seen["clock"], seen["zone"]) == shown


def test_busy_spans_merge() -> None:
    """Touching and overlapping spans become one, empty ones vanish, per counsellor."""
    spans = busy_spans(
        NOW,
        blocked=[
            Blocked("blocker", 10, 20, COUNSELLOR),
            Blocked("blocker", 20, 30, COUNSELLOR),
            Blocked("blocker", 25, 26, COUNSELLOR),
            Blocked("blocker", 40, 40, COUNSELLOR),
            Blocked("closing", 50, 60),
        ],
    )
    assert spans == {COUNSELLOR: [(10, 30)], None: [(50, 60)]}


def _naive(
    windows: list[BookingWindow],
    now: int,
    lead: int,
    blocked: list[Blocked],
    taken: list[Appointment],
) -> set[tuple[int, int]]:
    """The rule as written, slot by slot against every span: the reference for the fast path."""
    spans = [(b.counsellor, b.starts_at, b.ends_at) for b in blocked]
    spans += [(a.counsellor, a.starts_at, a.busy_until) for a in taken if a.occupies(now)]
    today = datetime.fromtimestamp(now / 1000, DEFAULT_TZ).date()
    found = set()
    for w in windows:
        step = SERVICES[w.service_id].slot_ms
        for offset in range(7 * w.horizon_weeks):
            day = today + timedelta(days=offset)
            if day.weekday() != w.weekday:
                continue
            t = local_ms(day, w.starts, DEFAULT_TZ)
            end = local_ms(day, w.ends, DEFAULT_TZ)
            while t + step <= end:
                free = all(
                    not (who in (None, w.counsellor) and s < t + step and t < e)
                    for who, s, e in spans
                )
                if free and t >= now + lead * 60_000:
                    found.add((t, w.id))
                t += step
    return found


@pytest.mark.parametrize("seed", range(12))
def test_matches_a_naive_generator(seed: int) -> None:
    """On random centres (overlapping windows, spans, bookings, closing times) the fast
    generator finds exactly the slots a slot-by-slot check against every span finds."""
    rnd = random.Random(seed)
    people = [COUNSELLOR, COLLEAGUE, "@dritte:lotse.test"]
    windows = []
    for wid in range(1, 16):
        start = rnd.randrange(6 * 60, 18 * 60, 5)
        service = rnd.choice(list(SERVICES.values()))
        windows.append(
            BookingWindow(
                wid,
                rnd.choice(people),
                rnd.randrange(7),
                time(start // 60, start % 60),
                time(*divmod(min(23 * 60 + 59, start + rnd.randrange(30, 300)), 60)),
                service.id,
                rnd.choice((1, 2, 4)),
            )
        )
    now = at(MONDAY, f"{rnd.randrange(6, 14):02d}:{rnd.randrange(60):02d}")
    day = 24 * 3600_000

    def span() -> tuple[int, int]:
        start = now - day + rnd.randrange(0, 30 * day, 5 * 60_000)
        return start, start + rnd.randrange(5, 600) * 60_000

    blocked = [Blocked("blocker", *span(), rnd.choice(people)) for _ in range(rnd.randrange(30))]
    blocked += [Blocked("closing", *span()) for _ in range(rnd.randrange(4))]
    taken = []
    for i in range(rnd.randrange(40)):
        start, end = span()
        state = rnd.choice(("confirmed", "cancelled", "held"))
        held_until = now + rnd.randrange(-5, 5) * 60_000
        follow_up = rnd.choice((0, 10))
        taken.append(
            Appointment(
                i,
                rnd.choice(people),
                CLIENT,
                start,
                end,
                state,
                follow_up_min=follow_up,
                held_until=held_until,
            )  # type: ignore[arg-type]
        )
    lead = rnd.choice((0, 30, 120))
    fast = _free(
        windows, now=now, policy=SlotPolicy(lead_minutes=lead), blocked=blocked, appointments=taken
    )
    assert {(s.starts_at, s.window_id) for s in fast} == _naive(windows, now, lead, blocked, taken)
    assert len(fast) == len({(s.starts_at, s.window_id) for s in fast})


@pytest.mark.parametrize(
    ("own", "closing"),
    [
        ([("09:30", "10:00")], ("09:45", "10:45")),  # overlaps the end of one
        ([("10:30", "11:00")], ("09:45", "10:45")),  # overlaps the start of one
        ([("09:00", "09:30"), ("11:00", "11:30")], ("09:15", "11:15")),  # bridges two
        ([("09:00", "12:00")], ("10:00", "10:30")),  # inside one
        ([("10:00", "10:30")], ("09:30", "11:30")),  # around one
        ([("09:00", "09:30")], ("09:30", "10:00")),  # touching
        ([], ("10:00", "11:00")),
    ],
)
def test_centre_closing_times_merge_with_own_spans(
    own: list[tuple[str, str]], closing: tuple[str, str]
) -> None:
    """A centre-wide closing time counts exactly as if it were the counsellor's own blocker."""
    mine = [Blocked("blocker", at(MONDAY, s), at(MONDAY, e), COUNSELLOR) for s, e in own]
    centre = Blocked("closing", at(MONDAY, closing[0]), at(MONDAY, closing[1]))
    as_own = Blocked("blocker", centre.starts_at, centre.ends_at, COUNSELLOR)
    merged = _free(REFERENCE, blocked=[*mine, centre])
    assert merged == _free(REFERENCE, blocked=[*mine, as_own])
    assert len(merged) < 8
