"""v15: a counsellor's announced document (`doc CLIENT`) waits in the database, so the file
sent after it is still attached when Lotse restarted in between."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Announced documents")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v15(conn: Connection, scheme: Scheme) -> None:
    # One announcement per counsellor (a new `doc` replaces it); only ids and the expiry,
    # never a file name or content.
    await conn.execute(
        """CREATE TABLE pending_document (
            uploader_id  TEXT PRIMARY KEY,
            centre_id    TEXT NOT NULL,
            client_id    TEXT NOT NULL,
            until_at     BIGINT NOT NULL
        )"""
    )
