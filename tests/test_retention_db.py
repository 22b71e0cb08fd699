"""Retention of the audit log and the mail log, on SQLite and PostgreSQL: entries older than
the period go, newer ones and mails still waiting stay, the tombstones are not touched; the
periods come from the config (default 12 months), as the daily job reads them."""

from __future__ import annotations

from appservice import clock
from appservice.config import RetentionConfig
from bots.accounts.inactivity_rules import DAY_MS
from bots.records import retention
from mailgateway.rows import MailRows
from tests.conftest import opened


async def test_old_entries_go(database_url: str) -> None:
    async with opened(database_url) as db:
        try:
            await db.rows.AuditEntry.record("nord", "@admin:x", "client_lock", "@old:x")
            old_sent = await MailRows(db).Outbox.enqueue("alt@example.org", "new_request", "de", {})
            await MailRows(db).Outbox.mark_sent(old_sent)
            old_failed = await MailRows(db).Outbox.enqueue(
                "alt@example.org", "new_request", "de", {}
            )
            await MailRows(db).Outbox.mark_failed(old_failed, "550")
            waiting = await MailRows(db).Outbox.enqueue(
                "wartet@example.org", "new_request", "de", {}
            )
            gone = await db.rows.Person.upsert("@weg:x", "nord", "client")
            await gone.set_account(deleted_at=1)
            claim = await db.rows.ErasedPerson.claim(gone.user_id, 1)
            assert claim is not None
            await claim.finish()

            clock.advance(330 * DAY_MS)
            await db.rows.AuditEntry.record("nord", "@admin:x", "client_delete", "@mid:x")
            clock.advance(31 * DAY_MS)  # the first ones are twelve months of 30 days and a day old
            await db.rows.AuditEntry.record("nord", "@admin:x", "client_unlock", "@new:x")
            new_sent = await MailRows(db).Outbox.enqueue("neu@example.org", "new_request", "de", {})
            await MailRows(db).Outbox.mark_sent(new_sent)

            assert await retention.run(MailRows(db), RetentionConfig()) == (1, 2)
            kept = [e.action for e in await db.rows.AuditEntry.recent("nord", 10)]
            assert kept == ["client_unlock", "client_delete"]
            left = {m: await MailRows(db).Outbox.get(m) is not None for m in (old_sent, old_failed)}
            assert left == {old_sent: False, old_failed: False}
            assert await MailRows(db).Outbox.get(waiting) is not None and await MailRows(
                db
            ).Outbox.get(new_sent)
            assert await db.rows.ErasedPerson.get("@weg:x") is not None
            # A second run finds nothing more; a longer period keeps everything.
            assert await retention.run(MailRows(db), RetentionConfig()) == (0, 0)
            assert await retention.run(MailRows(db), RetentionConfig(2, 2), clock.now_ms()) == (
                0,
                0,
            )
            assert await retention.run(MailRows(db), RetentionConfig(1, 1), clock.now_ms()) == (
                1,
                0,
            )
            rows = await db.main.fetchval("SELECT COUNT(*) FROM audit_log")
            assert rows == 1
        finally:
            clock.reset()
