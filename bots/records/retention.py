"""Retention: the audit log and the mail log keep entries for a period, then drop them.

Daily, at a fixed time. The periods are the operator's (``retention.*`` in the config), not the
admins': an admin cannot shorten the record of admin actions. Tombstones of erased people are
not touched (DESIGN.md privacy point 5: they keep only what stops a user name's reuse).
"""

from __future__ import annotations

import logging

from appservice.clock import now_ms
from appservice.config import RetentionConfig
from appservice.scheduler import Scheduler
from bots.framework.dates import DAY_MS, MONTH_DAYS
from mailgateway.rows import MailRows

log = logging.getLogger("lotse.retention")

SCHEDULE = "41 3 * * *"


def schedule(scheduler: Scheduler, retention: RetentionConfig, rows: MailRows) -> None:
    """Register the job with the app's scheduler (``run_now("retention")``)."""

    async def job() -> None:
        await run(rows, retention)

    scheduler.every("retention", job, cron=SCHEDULE)


def cutoff(months: int, now: int) -> int:
    """Entries created before this time (ms) are past a retention of ``months``."""
    return now - months * MONTH_DAYS * DAY_MS


async def run(
    rows: MailRows, retention: RetentionConfig, now: int | None = None
) -> tuple[int, int]:
    """Drop what is past its period; returns (audit entries, mails) dropped."""
    now = now if now is not None else now_ms()
    audit = await rows.AuditEntry.prune(cutoff(retention.audit_months, now))
    mails = await rows.Outbox.prune_log(cutoff(retention.mail_log_months, now))
    if audit or mails:
        log.info("retention: %d audit entries and %d mail log rows dropped", audit, mails)
    return audit, mails
