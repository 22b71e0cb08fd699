"""v28: the last login Lotse last read from Synapse, per person, so ``clients sort=login`` pages.

Synapse keeps the last login (``last_seen_ts``); a listing that sorts by it would have to ask
Synapse about every client of the centre (12.8 s for 10,000). Lotse keeps a copy, written
whenever it asks (a listing's page, a profile, the daily inactivity check of every centre),
and sorts by the copy in SQL; the rows shown are asked about again.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Last login per person, as last read from Synapse")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v28(conn: Connection, scheme: Scheme) -> None:
    await conn.execute("ALTER TABLE person ADD COLUMN last_seen_at BIGINT")
