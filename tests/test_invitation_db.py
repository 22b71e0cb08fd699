"""Invitation rows on SQLite and PostgreSQL: one usable link per person, used exactly once."""

from __future__ import annotations

import asyncio
import time

from appservice.db import Invitation
from appservice.db.invitation import EXPIRED, REVOKED, USED, VALID
from bots.accounts.invitation_rules import hash_token, new_token
from mailgateway.rows import MailRows
from tests.conftest import opened

HOUR = 3600 * 1000


def _now() -> int:
    return int(time.time() * 1000)


async def _new(
    rows: MailRows, user: str = "@wolke:x", valid_for: int = HOUR, sent_to: str | None = None
) -> Invitation:
    return await rows.Invitation.create(
        hash_token(new_token()), user, "nord", "@berater:x", _now() + valid_for, sent_to
    )


async def test_new_invitation_revokes_older_ones(database_url: str) -> None:
    """Only the newest link of a person works; other people's links are untouched."""
    async with opened(database_url) as db:
        first = await _new(MailRows(db))
        other = await _new(MailRows(db), "@sonne:x")
        second = await _new(MailRows(db))
        now = _now()
        stored_first = await db.rows.Invitation.by_hash(first.token_hash)
        stored_second = await db.rows.Invitation.by_hash(second.token_hash)
        stored_other = await db.rows.Invitation.by_hash(other.token_hash)
        assert stored_first is not None and stored_first.state(now) == REVOKED
        assert stored_second is not None and stored_second.state(now) == VALID
        assert stored_other is not None and stored_other.state(now) == VALID
        assert not await stored_first.consume(now)
        latest = await db.rows.Invitation.latest_for("@wolke:x")
        assert latest is not None and latest.id == second.id
        assert await db.rows.Invitation.by_hash(hash_token("not-stored")) is None


async def test_consume_once_even_when_racing(database_url: str) -> None:
    """Five posts with the same link at once: exactly one uses it."""
    async with opened(database_url) as db:
        invitation = await _new(MailRows(db), sent_to="wolke@example.org")
        now = _now()
        copies = [await db.rows.Invitation.by_hash(invitation.token_hash) for _ in range(5)]
        results = await asyncio.gather(*(c.consume(now) for c in copies if c is not None))
        assert sorted(results) == [False, False, False, False, True]
        stored = await db.rows.Invitation.by_hash(invitation.token_hash)
        assert stored is not None and stored.state(_now()) == USED
        assert await db.rows.Invitation.proven_address("@wolke:x") == "wolke@example.org"
        # A link handed over in person proves no address; an unused mailed one neither.
        handed = await _new(MailRows(db))
        assert await handed.consume(_now())
        await _new(MailRows(db), sent_to="neu@example.org")
        assert await db.rows.Invitation.proven_address("@wolke:x") == "wolke@example.org"
        assert await db.rows.Invitation.proven_address("@sonne:x") is None


async def test_expired_link_cannot_be_used(database_url: str, rows: MailRows) -> None:
    async with opened(database_url):
        invitation = await _new(rows, valid_for=-1)
        assert invitation.state(_now()) == EXPIRED
        assert not await invitation.consume(_now())


async def test_release_makes_the_link_usable_again(database_url: str) -> None:
    """When Synapse could not take the password, the person may try again with the same link."""
    async with opened(database_url) as db:
        invitation = await _new(MailRows(db))
        assert await invitation.consume(_now())
        await invitation.release()
        stored = await db.rows.Invitation.by_hash(invitation.token_hash)
        assert stored is not None and stored.state(_now()) == VALID
        assert await stored.consume(_now())


async def test_failures_block_the_link_at_the_limit(database_url: str) -> None:
    async with opened(database_url) as db:
        invitation = await _new(MailRows(db))
        assert await invitation.count_failure(3) == 1
        assert await invitation.count_failure(3) == 2
        assert invitation.revoked_at is None
        assert await invitation.count_failure(3) == 3
        assert invitation.revoked_at is not None
        stored = await db.rows.Invitation.by_hash(invitation.token_hash)
        assert stored is not None and stored.state(_now()) == REVOKED
        assert stored.failed_attempts == 3


async def test_revoke_and_delete_for_a_person(database_url: str) -> None:
    """Locking revokes the usable link; erasing a person removes their rows."""
    async with opened(database_url) as db:
        used = await _new(MailRows(db))
        assert await used.consume(_now())
        usable = await _new(MailRows(db))
        assert await db.rows.Invitation.revoke_for("@wolke:x") == 1
        stored = await db.rows.Invitation.by_hash(usable.token_hash)
        assert stored is not None and stored.state(_now()) == REVOKED
        await db.rows.Invitation.delete_for("@wolke:x")
        assert await db.rows.Invitation.latest_for("@wolke:x") is None


async def test_only_the_newest_link_can_be_used(database_url: str) -> None:
    """Two invitations made at the same moment may both look unrevoked; the newer one wins."""
    async with opened(database_url) as db:
        older = await _new(MailRows(db))
        newer = await _new(MailRows(db))
        # What two racing `client invite`s can leave behind: neither revoked the other.
        await db.main.execute("UPDATE invitation SET revoked_at=NULL WHERE id=$1", older.id)
        assert not await older.consume(_now())
        assert await newer.consume(_now())


async def test_registration_confirmed_once(database_url: str) -> None:
    """Self-registration rows: counted per address, confirmed by exactly one click, pruned."""
    async with opened(database_url) as db:
        token_hash = hash_token(new_token())
        expires = _now() + HOUR
        await db.rows.Registration.create(token_hash, "south", "Möwe", "moewe@example.org", expires)
        await db.rows.Registration.create(
            hash_token(new_token()), "south", "X", "other@example.org", expires
        )
        assert await db.rows.Registration.count_since("moewe@example.org", _now() - HOUR) == 1
        copies = [await db.rows.Registration.by_hash(token_hash) for _ in range(4)]
        results = await asyncio.gather(*(c.confirm(_now()) for c in copies if c is not None))
        assert sorted(results) == [False, False, False, True]
        winner = next(c for c, won in zip(copies, results, strict=True) if won)
        assert winner is not None
        await winner.unconfirm()  # the account could not be created: the link works again
        stored = await db.rows.Registration.by_hash(token_hash)
        assert stored is not None and stored.usable(_now()) and stored.pseudonym == "Möwe"
        assert await stored.confirm(_now())
        await stored.set_user("@moewe-1:x")
        await stored.unconfirm()  # no effect once the account exists
        stored = await db.rows.Registration.by_hash(token_hash)
        assert stored is not None and stored.confirmed_at is not None
        assert stored.user_id == "@moewe-1:x"
        await db.rows.Registration.prune(_now() + 2 * HOUR)
        assert await db.rows.Registration.by_hash(token_hash) is None
