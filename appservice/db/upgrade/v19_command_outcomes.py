"""v19: each command's outcome, recorded in the same transaction as its effect.

A command event that is handled again (its reply failed, or Lotse died before the event was
marked handled) is answered from this record instead of running a second time.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Command outcomes")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v19(conn: Connection, scheme: Scheme) -> None:
    # ``outgoing`` is what the command sends (reply, notices, polls), sealed: it may hold
    # notes or contact data. The row goes once the event is marked handled.
    await conn.execute(
        """CREATE TABLE command_outcome (
            event_id    TEXT PRIMARY KEY,
            outgoing    TEXT NOT NULL,
            created_at  BIGINT NOT NULL
        )"""
    )
