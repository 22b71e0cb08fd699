"""The mail outbox on SQLite and PostgreSQL: validation, due order, states, crash recovery."""

from __future__ import annotations

import pytest

from appservice.sealing import SealError
from mailgateway.outbox import (
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    UNCERTAIN,
    InvalidAddress,
    outbox_sealer,
)
from mailgateway.rows import MailRows
from tests.conftest import opened

# No secret link: the outbox keeps such variables as they are.
VARS = {"centre_name": "Beratungsstelle Nord", "expires_days": 7}
SECRET_LINK = "https://x.example/invite/geheim-3f9a"

BAD_ADDRESSES = [
    "",
    "anna",
    "anna@",
    "@beratung.de",
    "anna@beratung",
    "Anna <anna@beratung.de>",
    "anna@beratung.de\r\nBcc: eve@evil.example",
    "anna@beratung.de, eve@evil.example",
    " anna@beratung.de",
    "an na@beratung.de",
    "anna@-beratung.de",
    "anna..berg@beratung.de",
    "a" * 250 + "@b.de",
]


async def test_enqueue_refuses_malformed_addresses(database_url: str) -> None:
    """Every malformed address raises InvalidAddress and leaves the outbox empty."""
    async with opened(database_url) as db:
        for bad in BAD_ADDRESSES:
            with pytest.raises(InvalidAddress):
                await MailRows(db).Outbox.enqueue(bad, "invitation", "de", VARS)
        with pytest.raises(ValueError):
            await MailRows(db).Outbox.enqueue("anna@beratung.de", "../../etc/passwd", "de", VARS)
        with pytest.raises(ValueError):
            await MailRows(db).Outbox.enqueue("anna@beratung.de", "invitation", "de/..", VARS)
        assert await db.main.fetchval("SELECT COUNT(*) FROM mail_outbox") == 0


async def test_enqueue_stores_a_queued_row(database_url: str) -> None:
    """A good address is queued with its variables, zero attempts and no Message-ID yet."""
    async with opened(database_url) as db:
        mail_id = await MailRows(db).Outbox.enqueue(
            "anna.berg+lotse@beratung-nord.de", "invitation", "en", VARS
        )
        mail = await MailRows(db).Outbox.get(mail_id)
        assert mail is not None
        assert (mail.recipient, mail.kind, mail.lang, mail.state) == (
            "anna.berg+lotse@beratung-nord.de",
            "invitation",
            "en",
            QUEUED,
        )
        assert mail.variables == VARS
        assert (mail.attempts, mail.message_id, mail.sent_at) == (0, None, None)
        assert mail.created_at > 0 and mail.not_before >= mail.created_at
        assert await MailRows(db).Outbox.get(mail_id + 1000) is None


async def test_due_respects_not_before_order_and_limit(database_url: str) -> None:
    """due() returns only queued rows whose time has come, earliest first, up to the limit."""
    async with opened(database_url) as db:
        later = await MailRows(db).Outbox.enqueue(
            "a@b.de", "invitation", "de", VARS, not_before=5_000
        )
        first = await MailRows(db).Outbox.enqueue(
            "c@d.de", "invitation", "de", VARS, not_before=1_000
        )
        second = await MailRows(db).Outbox.enqueue(
            "e@f.de", "invitation", "de", VARS, not_before=2_000
        )
        assert [m.id for m in await MailRows(db).Outbox.due(now=3_000)] == [first, second]
        assert [m.id for m in await MailRows(db).Outbox.due(now=10_000, limit=2)] == [first, second]
        assert [m.id for m in await MailRows(db).Outbox.due(now=10_000)] == [first, second, later]
        await MailRows(db).Outbox.mark_sending(first, "<1@lotse.test>")
        assert [m.id for m in await MailRows(db).Outbox.due(now=10_000)] == [second, later]


async def test_state_transitions(database_url: str) -> None:
    """sending is taken once; retry re-queues later and counts; sent and failed drop variables."""
    async with opened(database_url) as db:
        a = await MailRows(db).Outbox.enqueue("a@b.de", "invitation", "de", VARS, not_before=0)
        assert await MailRows(db).Outbox.mark_sending(a, "<a@lotse.test>") is True
        assert await MailRows(db).Outbox.mark_sending(a, "<other@lotse.test>") is False
        await MailRows(db).Outbox.mark_retry(a, "smtp 451", next_at=9_000)
        mail = await MailRows(db).Outbox.get(a)
        assert mail is not None
        assert (mail.state, mail.attempts, mail.last_error, mail.not_before) == (
            QUEUED,
            1,
            "smtp 451",
            9_000,
        )
        assert mail.message_id == "<a@lotse.test>"  # kept for the next attempt
        assert await MailRows(db).Outbox.mark_sending(a, "<a@lotse.test>") is True
        await MailRows(db).Outbox.mark_sent(a)
        mail = await MailRows(db).Outbox.get(a)
        assert mail is not None and mail.state == SENT and mail.sent_at
        assert mail.variables == {} and mail.last_error is None

        b = await MailRows(db).Outbox.enqueue("c@d.de", "invitation", "de", VARS, not_before=0)
        await MailRows(db).Outbox.mark_failed(b, "smtp 550")
        mail = await MailRows(db).Outbox.get(b)
        assert mail is not None
        assert (mail.state, mail.attempts, mail.last_error, mail.variables) == (
            FAILED,
            1,
            "smtp 550",
            {},
        )
        assert (
            await MailRows(db).Outbox.count(SENT) == 1
            and await MailRows(db).Outbox.count(FAILED) == 1
        )


async def test_recover_after_crash(database_url: str) -> None:
    """Sending rows are queued again in their place; one with a Message-ID keeps it and is
    marked uncertain (it may have arrived)."""
    async with opened(database_url) as db:
        with_id = await MailRows(db).Outbox.enqueue(
            "a@b.de", "invitation", "de", VARS, not_before=0
        )
        without_id = await MailRows(db).Outbox.enqueue(
            "c@d.de", "invitation", "de", VARS, not_before=0
        )
        untouched = await MailRows(db).Outbox.enqueue(
            "e@f.de", "invitation", "de", VARS, not_before=0
        )
        await MailRows(db).Outbox.mark_sending(with_id, "<x@lotse.test>")
        await db.main.execute("UPDATE mail_outbox SET state=$1 WHERE id=$2", SENDING, without_id)
    async with opened(database_url) as db:
        assert await MailRows(db).Outbox.recover_after_crash() == (1, 1)
        crashed = await MailRows(db).Outbox.get(with_id)
        assert crashed is not None
        assert (crashed.state, crashed.last_error) == (QUEUED, UNCERTAIN)
        assert crashed.message_id == "<x@lotse.test>" and crashed.variables == VARS
        assert [m.id for m in await MailRows(db).Outbox.due()] == [with_id, without_id, untouched]
        assert await MailRows(db).Outbox.recover_after_crash() == (0, 0)


async def test_secret_links_are_only_ever_stored_sealed(database_url: str) -> None:
    """A link or unsubscribe URL without a sealer is refused and nothing is stored; with one,
    the row holds no trace of any variable, opens with the right key only, and a sealed
    body copied onto another row does not open there."""
    sealer = outbox_sealer("pickle-key-of-this-test")
    async with opened(database_url) as db:
        for secret in ({"link": SECRET_LINK}, {"unsubscribe_url": SECRET_LINK}):
            with pytest.raises(ValueError, match="sealed"):
                await MailRows(db).Outbox.enqueue(
                    "anna@beratung.de", "invitation", "de", {**VARS, **secret}
                )
        assert await db.main.fetchval("SELECT COUNT(*) FROM mail_outbox") == 0

        variables = {**VARS, "link": SECRET_LINK}
        sealed_id = await MailRows(db).Outbox.enqueue(
            "anna@beratung.de", "invitation", "de", variables, sealer=sealer
        )
        other_id = await MailRows(db).Outbox.enqueue(
            "ben@beratung.de", "invitation", "de", variables, sealer=sealer
        )
        raw = await db.main.fetchval("SELECT variables FROM mail_outbox WHERE id=$1", sealed_id)
        assert "geheim" not in raw and "Beratungsstelle" not in raw and "v2:" in raw
        mail = await MailRows(db).Outbox.get(sealed_id)
        assert mail is not None and mail.sealed
        assert mail.open_variables(sealer) == variables
        with pytest.raises(SealError):
            mail.open_variables(None)
        with pytest.raises(SealError):
            mail.open_variables(outbox_sealer("another-pickle-key"))

        # Moved to Ben's row, Anna's sealed link is refused.
        await db.main.execute("UPDATE mail_outbox SET variables=$1 WHERE id=$2", raw, other_id)
        moved = await MailRows(db).Outbox.get(other_id)
        assert moved is not None
        with pytest.raises(SealError):
            moved.open_variables(sealer)
