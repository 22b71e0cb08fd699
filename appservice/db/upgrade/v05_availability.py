"""v5: counsellors' status and capacity, and each client's home counsellor."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Status, capacity, home counsellor")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v5(conn: Connection, scheme: Scheme) -> None:
    await conn.execute("ALTER TABLE person ADD COLUMN status TEXT NOT NULL DEFAULT 'online'")
    # NULL = unlimited, 0 = none, N = at most N open requests (assisto "Ressourcen").
    await conn.execute("ALTER TABLE person ADD COLUMN capacity INTEGER")
    await conn.execute("ALTER TABLE person ADD COLUMN home_counsellor_id TEXT")
