"""v23: the notices given to inactive accounts (bots/accounts/inactive_accounts.py).

One row per person warned (a client) or listed to the admins (staff): the last activity it
was about and when. A later login makes the row obsolete; it is removed at the next run.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Inactivity notices")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v23(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE inactivity_notice (
            user_id      TEXT PRIMARY KEY,
            last_active  BIGINT NOT NULL,
            notified_at  BIGINT NOT NULL
        )"""
    )
