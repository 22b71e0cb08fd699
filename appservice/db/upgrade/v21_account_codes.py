"""v21: confirmation codes a person types back before a step that cannot be taken back.

``konto löschen`` answers with a fresh code; only ``konto löschen CODE`` within the code's
lifetime marks the account. The code is kept as a hash (a database dump shows no code that
would still work), one per person and purpose; a newer one replaces the older.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Confirmation codes")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v21(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE account_code (
            user_id     TEXT NOT NULL,
            purpose     TEXT NOT NULL,
            code_hash   TEXT NOT NULL,
            expires_at  BIGINT NOT NULL,
            PRIMARY KEY (user_id, purpose)
        )"""
    )
