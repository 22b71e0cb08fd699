"""v3: per-address mail status, the only thing the IMAP poller keeps from incoming mail."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call; and
# as the last module of the import cycle with __init__, mypy sees upgrade_table untyped here.
@upgrade_table.register(description="Mail address status (bounces, auto-answers)")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v3(conn: Connection, scheme: Scheme) -> None:
    # One row per lower-cased address that bounced or was auto-answered. No subject, body or
    # message id is kept: hard bounces are counted so that after N the address is
    # ``bouncing`` (no more mail to it), and ``auto_answered_at`` (ms) throttles the
    # "this mailbox is not read" answer so that two auto-responders cannot loop.
    await conn.execute(
        """CREATE TABLE mail_address (
            address           TEXT PRIMARY KEY,
            hard_bounces      INTEGER NOT NULL DEFAULT 0,
            status            TEXT NOT NULL DEFAULT 'ok',
            last_bounce_at    BIGINT,
            auto_answered_at  BIGINT
        )"""
    )
