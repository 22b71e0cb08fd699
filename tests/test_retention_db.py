"""Retention of the audit log and the mail log, on SQLite and PostgreSQL: entries older than
the period go, newer ones and mails still waiting stay, the tombstones are not touched; the
periods come from the config (default 12 months), as the daily job reads them."""

from __future__ import annotations

from appservice import clock
from appservice.config import RetentionConfig
from appservice.db import AuditEntry, ErasedPerson, Person
from bots.accounts.inactivity_rules import DAY_MS
from bots.records import retention
from mailgateway.outbox import Outbox
from tests.conftest import opened


async def test_old_entries_go(database_url: str) -> None:
    async with opened(database_url) as db:
        try:
            await AuditEntry.record("nord", "@admin:x", "client_lock", "@old:x")
            old_sent = await Outbox.enqueue("alt@example.org", "new_request", "de", {})
            await Outbox.mark_sent(old_sent)
            old_failed = await Outbox.enqueue("alt@example.org", "new_request", "de", {})
            await Outbox.mark_failed(old_failed, "550")
            waiting = await Outbox.enqueue("wartet@example.org", "new_request", "de", {})
            gone = await Person.upsert("@weg:x", "nord", "client")
            await gone.set_account(deleted_at=1)
            claim = await ErasedPerson.claim(gone.user_id, 1)
            assert claim is not None
            await claim.finish()

            clock.advance(330 * DAY_MS)
            await AuditEntry.record("nord", "@admin:x", "client_delete", "@mid:x")
            clock.advance(31 * DAY_MS)  # the first ones are twelve months of 30 days and a day old
            await AuditEntry.record("nord", "@admin:x", "client_unlock", "@new:x")
            new_sent = await Outbox.enqueue("neu@example.org", "new_request", "de", {})
            await Outbox.mark_sent(new_sent)

            assert await retention.run(RetentionConfig()) == (1, 2)
            kept = [e.action for e in await AuditEntry.recent("nord", 10)]
            assert kept == ["client_unlock", "client_delete"]
            left = {m: await Outbox.get(m) is not None for m in (old_sent, old_failed)}
            assert left == {old_sent: False, old_failed: False}
            assert await Outbox.get(waiting) is not None and await Outbox.get(new_sent)
            assert await ErasedPerson.get("@weg:x") is not None
            # A second run finds nothing more; a longer period keeps everything.
            assert await retention.run(RetentionConfig()) == (0, 0)
            assert await retention.run(RetentionConfig(2, 2), clock.now_ms()) == (0, 0)
            assert await retention.run(RetentionConfig(1, 1), clock.now_ms()) == (1, 0)
            rows = await db.main.fetchval("SELECT COUNT(*) FROM audit_log")
            assert rows == 1
        finally:
            clock.reset()
