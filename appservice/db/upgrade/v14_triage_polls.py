"""v14: the poll that offers the current triage question (MSC3381), so a vote can be tied to it."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Triage questions as polls")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v14(conn: Connection, scheme: Scheme) -> None:
    # The event id of the poll sent with the current question; a vote on any other poll is
    # stale. NULL when no poll went out (the typed answer works regardless).
    await conn.execute("ALTER TABLE triage_dialogue ADD COLUMN poll_event_id TEXT")
