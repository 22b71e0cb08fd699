"""What a client is offered, stable numbering, holds, and who may cancel/confirm/decline."""

from __future__ import annotations

import random
from datetime import date

import pytest

from bots.booking.model import AppointmentState, Slot
from bots.booking.offering import (
    HOLD_MINUTES,
    Action,
    Actor,
    Denial,
    OfferFilter,
    check_action,
    check_offered,
    check_send,
    first_offers,
    hold_until,
    narrowed,
    next_state,
    offer,
    parse_offer_filter,
    slot_key,
)
from bots.booking.slots import SlotPolicy, busy_spans, free_slots

from .support import (
    CHAT,
    CLIENT,
    COLLEAGUE,
    COUNSELLOR,
    MONDAY,
    ONSITE,
    SERVICES,
    SUNDAY_BEFORE,
    VIDEO,
    at,
    booked,
    local,
    window,
)

NOW = at(SUNDAY_BEFORE, "12:00")
THIRD = "@dritte:lotse.test"
# Three counsellors with the same Monday morning, two weeks ahead; the colleague video.
WINDOWS = [
    window(1, 0, "09:00", "10:00", CHAT, weeks=2),
    window(2, 0, "09:00", "10:00", VIDEO, weeks=2, counsellor=COLLEAGUE),
    window(3, 0, "09:00", "10:00", ONSITE, weeks=2, counsellor=THIRD),
]
SLOTS = free_slots(WINDOWS, SERVICES, now=NOW, policy=SlotPolicy())


def _shown(offers: list[Slot]) -> list[tuple[int, str, str]]:
    """(number, counsellor, local start) as the client reads the list."""
    return [(n, s.counsellor, local(s.starts_at)) for n, s in enumerate(offers, start=1)]


def test_home_counsellor_first_then_by_time() -> None:
    """The home counsellor's slots lead; the others follow by time, then counsellor."""
    shown = _shown(offer(SLOTS, SERVICES, home_counsellor=THIRD))
    assert [who for _, who, _ in shown[:4]] == [THIRD] * 4
    assert shown[4:7] == [
        (5, COUNSELLOR, f"{MONDAY} 09:00"),
        (6, COLLEAGUE, f"{MONDAY} 09:00"),
        (7, COUNSELLOR, f"{MONDAY} 09:30"),
    ]
    assert [n for n, _, _ in shown] == list(range(1, 11))


def test_numbering_is_stable() -> None:
    """The same slots in any order give the same numbers, so `book N` means what was shown."""
    first = offer(SLOTS, SERVICES, home_counsellor=None)
    for seed in range(5):
        shuffled = list(SLOTS)
        random.Random(seed).shuffle(shuffled)
        assert offer(shuffled, SERVICES, home_counsellor=None) == first


@pytest.mark.parametrize(
    ("home", "offered_from"),
    [
        (None, {COUNSELLOR, THIRD}),  # no home counsellor: the home-only one is hidden
        (COUNSELLOR, {COUNSELLOR, THIRD}),
        (COLLEAGUE, {COUNSELLOR, COLLEAGUE, THIRD}),  # their own client sees them
    ],
)
def test_home_only_counsellors_only_for_their_clients(
    home: str | None, offered_from: set[str]
) -> None:
    """A `home-only` counsellor's slots are offered only to that counsellor's own clients."""
    offers = offer(SLOTS, SERVICES, home_counsellor=home, home_only={COLLEAGUE})
    assert {s.counsellor for s in offers} == offered_from


@pytest.mark.parametrize(
    ("chosen", "count", "counsellors"),
    [
        (OfferFilter(), 10, {COUNSELLOR, COLLEAGUE, THIRD}),
        (OfferFilter(channel="video"), 2, {COLLEAGUE}),  # 50 + 10: one an hour
        (OfferFilter(service_id=CHAT.id), 4, {COUNSELLOR}),
        (OfferFilter(week=(2026, 24)), 5, {COUNSELLOR, COLLEAGUE, THIRD}),  # 8 June
        (OfferFilter(channel="onsite", week=(2026, 25)), 2, {THIRD}),
        (OfferFilter(week=(2026, 30)), 0, set()),
        (OfferFilter(channel="phone"), 0, set()),
    ],
)
def test_filter_by_service_and_week(chosen: OfferFilter, count: int, counsellors: set[str]) -> None:
    """`slots [SERVICE] [WEEK]` narrows the offer by channel or service and by ISO week."""
    offers = offer(SLOTS, SERVICES, home_counsellor=None, chosen=chosen)
    assert len(offers) == count
    assert {s.counsellor for s in offers} == counsellors


@pytest.mark.parametrize(
    "chosen",
    [
        OfferFilter(channel="video"),
        OfferFilter(service_id=CHAT.id, week=(2026, 25)),
        OfferFilter(week=(2026, 24)),
        OfferFilter(channel="phone"),
        OfferFilter(),
    ],
)
def test_narrowed_listing_is_the_same(chosen: OfferFilter) -> None:
    """Computing only the chosen services' windows and week's dates changes no offer."""
    windows, dates = narrowed(chosen, WINDOWS, SERVICES)
    few = free_slots(windows, SERVICES, now=NOW, dates=dates)
    assert len(few) <= len(SLOTS)
    assert offer(few, SERVICES, home_counsellor=None, chosen=chosen) == offer(
        SLOTS, SERVICES, home_counsellor=None, chosen=chosen
    )


FIRST_OFFER_WINDOWS = WINDOWS + [
    window(4, 2, "14:00", "16:00", CHAT, weeks=8, counsellor=COLLEAGUE),
    window(5, 4, "08:00", "09:00", VIDEO, weeks=4),
    window(6, 5, "10:00", "12:00", ONSITE, weeks=8, counsellor=THIRD),
]


@pytest.mark.parametrize("limit", [1, 3, 7, 20, 1000])
@pytest.mark.parametrize("home", [None, COUNSELLOR, COLLEAGUE, THIRD])
@pytest.mark.parametrize(
    "chosen", [OfferFilter(), OfferFilter(channel="chat"), OfferFilter(week=(2026, 27))]
)
def test_first_offers_are_the_first_of_the_whole_offer(
    limit: int, home: str | None, chosen: OfferFilter
) -> None:
    """A page computed week by week equals the start of the whole listing, in any case."""
    busy = busy_spans(NOW, appointments=[booked(CHAT, "09:00", day="2026-06-15")])
    policy = SlotPolicy(lead_minutes=30)
    every = free_slots(FIRST_OFFER_WINDOWS, SERVICES, now=NOW, policy=policy, busy=busy)
    whole = offer(every, SERVICES, home_counsellor=home, home_only={COLLEAGUE}, chosen=chosen)
    page = first_offers(
        FIRST_OFFER_WINDOWS,
        SERVICES,
        now=NOW,
        limit=limit,
        policy=policy,
        home_counsellor=home,
        home_only={COLLEAGUE},
        chosen=chosen,
        busy=busy,
    )
    assert page == whole[:limit]
    assert whole  # every case has something to offer


def test_limit_keeps_the_first() -> None:
    """A limit (a poll takes at most 20 answers) keeps the first numbers of the full order."""
    full = offer(SLOTS, SERVICES, home_counsellor=None)
    assert offer(SLOTS, SERVICES, home_counsellor=None, limit=3) == full[:3]


TODAY = date(2026, 6, 7)  # Sunday of ISO week 23


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], OfferFilter()),
        (["video"], OfferFilter(channel="video")),
        (["Telefon", "KW24"], OfferFilter(channel="phone", week=(2026, 24))),
        (["kw23"], OfferFilter(week=(2026, 23))),
        (["w22"], OfferFilter(week=(2027, 22))),  # already past: next year's
        (["2026-W30"], OfferFilter(week=(2026, 30))),
        (["2026w30", "1"], OfferFilter(service_id=1, week=(2026, 30))),
        (["kw53"], OfferFilter(week=(2026, 53))),  # 2026 has 53 ISO weeks
        (["2027-W53"], Denial.BAD_FILTER),  # 2027 has not
        (["2026-W53"], OfferFilter(week=(2026, 53))),
        (["kw0"], Denial.BAD_FILTER),
        (["99"], Denial.BAD_FILTER),  # no such service
        (["video", "chat"], Denial.BAD_FILTER),  # one channel only
        (["morgen"], Denial.BAD_FILTER),
    ],
)
def test_parse_offer_filter(words: list[str], expected: OfferFilter | Denial) -> None:
    """Channels, service numbers and weeks in any order; anything else is refused."""
    assert parse_offer_filter(words, SERVICES, TODAY) == expected


def test_check_offered() -> None:
    """An offered slot is booked only if still free; else it says taken, past or unknown."""
    slot = SLOTS[0]
    key = slot_key(slot)
    assert check_offered(key, SLOTS, now=NOW) == slot
    taken = busy_spans(NOW, appointments=[booked(CHAT, "09:00", "held", held_until=NOW + 1)])
    still_free = free_slots(WINDOWS, SERVICES, now=NOW, busy=taken)
    assert check_offered(key, still_free, now=NOW) is Denial.SLOT_TAKEN
    assert check_offered(key, SLOTS, now=slot.starts_at + 1) is Denial.SLOT_PAST
    assert check_offered(key, SLOTS, now=slot.starts_at - 1, lead_minutes=60) is Denial.SLOT_PAST
    assert check_offered("nonsense", SLOTS, now=NOW) is Denial.SLOT_UNKNOWN
    assert check_offered("a|b|c|-5", SLOTS, now=NOW) is Denial.SLOT_UNKNOWN


def test_hold_lapses_after_ten_minutes_by_default() -> None:
    """A hold hides the slot for ten minutes (or the centre's time), then it is offered again."""
    assert HOLD_MINUTES == 10
    assert hold_until(NOW) == NOW + 10 * 60_000
    assert hold_until(NOW, minutes=3) == NOW + 3 * 60_000
    held = booked(CHAT, "09:00", "held", held_until=hold_until(NOW))
    assert held.occupies(NOW + 9 * 60_000) and not held.occupies(NOW + 10 * 60_000)


CLIENT_ME = Actor(CLIENT, "client")
OTHER_CLIENT = Actor("@sonne:lotse.test", "client")
OWN = Actor(COUNSELLOR, "counsellor")
COLLEAGUE_ACTOR = Actor(COLLEAGUE, "counsellor")
ADMIN = Actor("@admin:lotse.test", "admin")
BEFORE = at(MONDAY, "08:00")  # one hour before the 09:00 appointment


@pytest.mark.parametrize(
    ("action", "actor", "state", "now", "reason", "expected"),
    [
        # Clients cancel their own, up to the cut-off (two hours here), never others'.
        ("cancel", CLIENT_ME, "confirmed", at(MONDAY, "06:00"), "", None),
        ("cancel", CLIENT_ME, "requested", at(MONDAY, "06:59"), "", None),
        ("cancel", CLIENT_ME, "confirmed", BEFORE, "", Denial.CUTOFF_PASSED),
        ("cancel", CLIENT_ME, "held", BEFORE, "", None),  # releasing a hold is always fine
        ("cancel", OTHER_CLIENT, "confirmed", at(MONDAY, "06:00"), "", Denial.NOT_FOUND),
        ("confirm", CLIENT_ME, "requested", BEFORE, "", Denial.NOT_ALLOWED),
        ("decline", CLIENT_ME, "requested", BEFORE, "", Denial.NOT_ALLOWED),
        # The appointment's counsellor and admins: any time before it starts, with a reason.
        ("cancel", OWN, "confirmed", BEFORE, "krank", None),
        ("cancel", OWN, "confirmed", BEFORE, " ", Denial.REASON_REQUIRED),
        ("cancel", ADMIN, "confirmed", BEFORE, "Schließung", None),
        ("cancel", COLLEAGUE_ACTOR, "confirmed", BEFORE, "x", Denial.NOT_YOURS),
        ("confirm", OWN, "requested", BEFORE, "", None),
        ("decline", OWN, "requested", BEFORE, "", None),  # a reason is optional here
        ("confirm", ADMIN, "requested", BEFORE, "", None),
        ("confirm", COLLEAGUE_ACTOR, "requested", BEFORE, "", Denial.NOT_YOURS),
        ("confirm", OWN, "confirmed", BEFORE, "", Denial.NOT_REQUESTED),
        ("decline", OWN, "held", BEFORE, "", Denial.NOT_REQUESTED),
        # Nothing is done to what is over.
        ("cancel", OWN, "cancelled", BEFORE, "x", Denial.ALREADY_CLOSED),
        ("confirm", OWN, "declined", BEFORE, "", Denial.ALREADY_CLOSED),
        ("cancel", OWN, "confirmed", at(MONDAY, "09:00"), "x", Denial.ALREADY_STARTED),
        ("confirm", OWN, "requested", at(MONDAY, "09:10"), "", Denial.ALREADY_STARTED),
    ],
)
def test_who_may_cancel_confirm_decline(
    action: Action,
    actor: Actor,
    state: AppointmentState,
    now: int,
    reason: str,
    expected: Denial | None,
) -> None:
    """Client, own counsellor and admin each have their rights; everyone else is refused."""
    appointment = booked(CHAT, "09:00", state, held_until=now + 60_000)
    found = check_action(action, actor, appointment, now=now, cutoff_minutes=120, reason=reason)
    assert found == expected


def test_lapsed_hold_cannot_be_acted_on() -> None:
    """A hold that lapsed is over: its slot may already be someone else's."""
    lapsed = booked(CHAT, "09:00", "held", held_until=BEFORE - 1)
    assert check_action("cancel", CLIENT_ME, lapsed, now=BEFORE) is Denial.ALREADY_CLOSED


@pytest.mark.parametrize(
    ("client", "state", "held_until", "expected"),
    [
        (CLIENT, "held", BEFORE + 1, None),  # within the hold: sent
        (CLIENT, "held", BEFORE, Denial.HOLD_LAPSED),  # lapsed at this very moment
        (CLIENT, "held", None, Denial.HOLD_LAPSED),
        ("@sonne:lotse.test", "held", BEFORE + 1, Denial.NOT_FOUND),  # another's hold
        (CLIENT, "requested", None, Denial.NOT_HELD),  # sent already
        (CLIENT, "cancelled", None, Denial.NOT_HELD),  # released, or lapsed and taken
        (CLIENT, "confirmed", None, Denial.NOT_HELD),
    ],
)
def test_only_a_live_hold_of_ones_own_is_sent(
    client: str, state: AppointmentState, held_until: int | None, expected: Denial | None
) -> None:
    """`absenden NR` turns one's own unlapsed hold into a request; nothing else."""
    appointment = booked(CHAT, "09:00", state, held_until=held_until)
    assert check_send(appointment, client, now=BEFORE) == expected


@pytest.mark.parametrize(
    ("action", "state"),
    [("cancel", "cancelled"), ("confirm", "confirmed"), ("decline", "declined")],
)
def test_next_state(action: Action, state: str) -> None:
    """An allowed action leads to its state."""
    assert next_state(action) == state


def test_slot_key_is_identity() -> None:
    """Two slots at the same time (parallel windows) have different keys."""
    parallel = [s for s in SLOTS if local(s.starts_at) == f"{MONDAY} 09:00"]
    assert len(parallel) == 3 and len({slot_key(s) for s in parallel}) == 3
    assert all(isinstance(s, Slot) for s in parallel)
