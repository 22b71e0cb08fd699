"""Notification rules (pure), preferences and confirmations, and room-notice bookkeeping
on both databases."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from mailgateway.digest import receipts_in
from mailgateway.notices import (
    QUEUED,
    RecipientFacts,
    _check_variables,
    decide,
    facts_of,
)
from mailgateway.preferences import MailPreference
from mailgateway.rows import MailRows
from mailgateway.unsubscribe import token_for, user_of
from tests.conftest import opened

GOOD = RecipientFacts(
    address="anna@example.org", confirmed=True, bouncing=False, notifications=True, active=True
)

RULES = [
    # (id, kind, facts, mail enabled, outcome)
    ("all-good", "new_message", GOOD, True, QUEUED),
    ("mail-off", "new_message", GOOD, False, "mail_disabled"),
    ("no-address", "new_message", replace(GOOD, address=None), True, "no_address"),
    ("bouncing", "new_message", replace(GOOD, bouncing=True), True, "bouncing"),
    ("unconfirmed", "new_request", replace(GOOD, confirmed=False), True, "unconfirmed"),
    (
        "switched-off",
        "centre_message",
        replace(GOOD, notifications=False),
        True,
        "notifications_off",
    ),
    ("locked", "transfer_request", replace(GOOD, active=False), True, "inactive"),
    # The transactional kinds are how an address gets confirmed or an account its password.
    ("confirm-unconfirmed", "address_confirmation", replace(GOOD, confirmed=False), True, QUEUED),
    (
        "invite-unconfirmed",
        "invitation",
        replace(GOOD, confirmed=False, notifications=False),
        True,
        QUEUED,
    ),
    ("confirm-bouncing", "address_confirmation", replace(GOOD, bouncing=True), True, "bouncing"),
    ("invite-no-address", "invitation", replace(GOOD, address=None), True, "no_address"),
    ("invite-mail-off", "invitation", GOOD, False, "mail_disabled"),
    # A reset link goes only to the person's own confirmed address, even with notifications off.
    ("reset", "password_reset", replace(GOOD, notifications=False), True, QUEUED),
    ("reset-unconfirmed", "password_reset", replace(GOOD, confirmed=False), True, "unconfirmed"),
    ("reset-no-address", "password_reset", replace(GOOD, address=None), True, "no_address"),
    ("reset-bouncing", "password_reset", replace(GOOD, bouncing=True), True, "bouncing"),
    ("reset-locked", "password_reset", replace(GOOD, active=False), True, "inactive"),
    ("reset-mail-off", "password_reset", GOOD, False, "mail_disabled"),
]


@pytest.mark.parametrize(
    ("kind", "facts", "enabled", "outcome"),
    [r[1:] for r in RULES],
    ids=[r[0] for r in RULES],
)
def test_rules(kind: str, facts: RecipientFacts, enabled: bool, outcome: str) -> None:
    assert decide(kind, facts, enabled) == outcome


@pytest.mark.parametrize(
    ("kind", "variables", "ok"),
    [
        ("new_request", {"request_id": 3}, True),
        ("new_request", {}, False),
        ("new_request", {"request_id": 3, "message": "hello"}, False),
        ("new_message", {"room_label": "x"}, True),
        ("new_message", {"room_label": "x", "body": "secret"}, False),
        ("no_such_kind", {}, False),
    ],
)
def test_callers_pass_exactly_the_kinds_variables(
    kind: str, variables: dict[str, object], ok: bool
) -> None:
    """Nothing beyond a kind's declared variables can reach a template (no content)."""
    if ok:
        _check_variables(kind, variables)
    else:
        with pytest.raises(ValueError):
            _check_variables(kind, variables)


def test_unsubscribe_tokens() -> None:
    """Only a token made with the secret names a person; any change breaks it."""
    token = token_for("@anna:lotse.test", "secret")
    assert user_of(token, "secret") == "@anna:lotse.test"
    assert user_of(token, "other secret") is None
    ident, mac = token.split(".")
    forged = token_for("@ben:lotse.test", "guess").split(".")[0] + "." + mac
    for bad in (forged, ident, token + "0", "!!!." + mac, "", "." * 500):
        assert user_of(bad, "secret") is None


RECEIPT = {
    "type": "m.receipt",
    "room_id": "!r:x",
    "content": {
        "$e1": {"m.read": {"@a:x": {"ts": 100}}, "m.read.private": {"@b:x": {"ts": 101}}},
        "$e2": {"m.fully_read": {"@c:x": {"ts": 5}}},
    },
}


def test_receipts_are_parsed_and_garbage_skipped() -> None:
    garbage = [
        "x",
        {"type": "m.typing", "room_id": "!r:x", "content": {"user_ids": ["@a:x"]}},
        {"type": "m.receipt", "room_id": 5, "content": {}},
        {"type": "m.receipt", "room_id": "!r:x", "content": {"$e": {"m.read": {"@a:x": {}}}}},
        {
            "type": "m.receipt",
            "room_id": "!r:x",
            "content": {"$e": {"m.read": {"@a:x": {"ts": -1}}}},
        },
    ]
    assert receipts_in([RECEIPT, *garbage]) == [
        ("!r:x", "@a:x", "$e1", 100),
        ("!r:x", "@b:x", "$e1", 101),
    ]


async def test_double_opt_in(database_url: str) -> None:
    """A link works once, not after expiry, and a newer link replaces an older one."""
    async with opened(database_url) as db:
        person = await db.rows.Person.upsert("@anna:x", "nord", "client")
        facts = await facts_of(MailRows(db), person)
        assert facts.address is None and not facts.confirmed and facts.notifications

        old = await MailRows(db).Preferences.start_confirmation(
            person.user_id, "Old@Example.org", now=1000
        )
        new = await MailRows(db).Preferences.start_confirmation(
            person.user_id, "anna@example.org", now=2000
        )
        assert await MailRows(db).Preferences.redeem(old, now=3000) is None  # replaced
        pending = await MailRows(db).Preferences.pending(person.user_id, now=3000)
        assert pending is not None and pending.address == "anna@example.org"
        assert await MailRows(db).Preferences.peek(new, now=3000) == person.user_id
        # Two clicks at the same time: exactly one wins.
        results = await asyncio.gather(
            *(MailRows(db).Preferences.redeem(new, now=3000) for _ in range(5))
        )
        assert [r for r in results if r] == [(person.user_id, "anna@example.org")]
        assert await MailRows(db).Preferences.peek(new, now=3000) is None

        expired = await MailRows(db).Preferences.start_confirmation(
            person.user_id, "x@example.org", hours=1, now=0
        )
        assert await MailRows(db).Preferences.redeem(expired, now=3600 * 1000 + 1) is None
        assert await MailRows(db).Preferences.redeem("not-a-token") is None
        assert await MailRows(db).Preferences.recent_confirmations(person.user_id, since=0) == 3


async def test_confirmed_only_while_the_address_is_unchanged(database_url: str) -> None:
    """Whoever changes person.email un-confirms it; bounces and switches are facts too."""
    async with opened(database_url) as db:
        person = await db.rows.Person.upsert("@berta:x", "nord", "counsellor")
        await person.set_account(email="Berta@Example.org")
        await MailRows(db).Preferences.mark_confirmed(person.user_id, "berta@example.org")
        assert (await facts_of(MailRows(db), person)).confirmed
        assert await MailRows(db).Preferences.people_with_address("BERTA@example.org") == [
            person.user_id
        ]

        await MailRows(db).Preferences.set_notifications(person.user_id, False)
        await MailRows(db).Preferences.set_delay(person.user_id, 30)
        preference = await MailRows(db).Preferences.get(person.user_id)
        assert not preference.notifications and preference.delay_minutes == 30
        with pytest.raises(ValueError):
            await MailRows(db).Preferences.set_delay(person.user_id, 24 * 60 + 1)

        for _ in range(3):
            await MailRows(db).MailAddress.record_hard_bounce("berta@example.org", threshold=3)
        assert (await facts_of(MailRows(db), person)).bouncing

        await person.set_account(email="other@example.org")
        assert not (await facts_of(MailRows(db), person)).confirmed
        await MailRows(db).Preferences.forget_address(person.user_id)
        assert (await MailRows(db).Preferences.get(person.user_id)).confirmed_address is None

        await MailRows(db).Preferences.start_confirmation(person.user_id, "new@example.org")
        await MailRows(db).RoomNotices.observe("!r:x", "$1", 1, [person.user_id], sender="@x:x")
        await MailRows(db).Preferences.forget_person(person.user_id)
        assert await MailRows(db).Preferences.get(person.user_id) == MailPreference(person.user_id)
        assert await MailRows(db).Preferences.pending(person.user_id) is None
        assert await MailRows(db).RoomNotices.pending_for(person.user_id) == []


MINUTE = 60_000


async def test_unread_read_and_digest(database_url: str) -> None:
    """Unread after the delay is due once; reading ends it; the window holds the next mail."""
    async with opened(database_url) as db:
        room, anna, ben = "!room:x", "@anna:x", "@ben:x"
        await MailRows(db).Preferences.set_delay(ben, 5)
        await MailRows(db).RoomNotices.observe(room, "$1", 0, [anna, ben], sender="@carl:x")
        await MailRows(db).RoomNotices.observe(
            room, "$2", 1 * MINUTE, [anna, ben], sender="@carl:x"
        )
        # Ben's delay is 5 minutes, Anna has the default 15.
        assert [
            n.user_id for n in await MailRows(db).RoomNotices.due(14 * MINUTE, 60 * MINUTE)
        ] == [ben]
        due = await MailRows(db).RoomNotices.due(15 * MINUTE, 60 * MINUTE)
        assert {(n.user_id, n.pending_since) for n in due} == {(anna, 0), (ben, 0)}

        # Anna read the newest event: nothing is due for her any more.
        await MailRows(db).RoomNotices.read(anna, room, "$2", 2 * MINUTE)
        due = await MailRows(db).RoomNotices.due(15 * MINUTE, 60 * MINUTE)
        assert [n.user_id for n in due] == [ben]
        # Two workers claim Ben's stretch: one wins.
        claims = await asyncio.gather(
            *(MailRows(db).RoomNotices.claim(due[0], 15 * MINUTE, True) for _ in range(3))
        )
        assert claims.count(True) == 1

        # More messages inside the digest window: no second mail until it has passed.
        await MailRows(db).RoomNotices.observe(
            room, "$3", 20 * MINUTE, [anna, ben], sender="@carl:x"
        )
        assert [
            n.user_id for n in await MailRows(db).RoomNotices.due(40 * MINUTE, 60 * MINUTE)
        ] == [anna]
        assert [
            n.user_id for n in await MailRows(db).RoomNotices.due(75 * MINUTE, 60 * MINUTE)
        ] == [anna, ben]


async def test_receipt_before_its_event_and_own_messages(database_url: str) -> None:
    """Receipts may overtake the event they name; a later receipt also covers older events."""
    async with opened(database_url) as db:
        room, anna = "!room:x", "@anna:x"
        await MailRows(db).RoomNotices.read(anna, room, "$5", 50)
        await MailRows(db).RoomNotices.observe(
            room, "$5", 40, [anna], sender="@carl:x"
        )  # the event, handled late
        await MailRows(db).RoomNotices.observe(
            room, "$4", 30, [anna], sender="@carl:x"
        )  # older still
        assert await MailRows(db).RoomNotices.pending_for(anna) == []
        await MailRows(db).RoomNotices.observe(room, "$6", 60, [anna], sender="@carl:x")
        assert await MailRows(db).RoomNotices.pending_for(anna) == [room]
        # An older receipt arriving late changes nothing.
        await MailRows(db).RoomNotices.read(anna, room, "$4", 45)
        assert await MailRows(db).RoomNotices.pending_for(anna) == [room]
        # Writing in the room counts as having read it.
        await MailRows(db).RoomNotices.read(anna, room, "$7", 70)
        assert await MailRows(db).RoomNotices.pending_for(anna) == []
