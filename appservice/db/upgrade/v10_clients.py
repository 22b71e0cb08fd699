"""v10: clients' master data, counsellors' bookmarks, and tombstones of erased people."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Client master data, bookmarks, erasure tombstones")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v10(conn: Connection, scheme: Scheme) -> None:
    # The values of the centre's master-data fields (config centres[].master_data) per client;
    # a field without a value has no row.
    await conn.execute(
        """CREATE TABLE client_master_data (
            user_id  TEXT NOT NULL,
            key      TEXT NOT NULL,
            value    TEXT NOT NULL,
            PRIMARY KEY (user_id, key)
        )"""
    )
    # A counsellor's personal list of clients (Merkliste).
    await conn.execute(
        """CREATE TABLE bookmark (
            counsellor_id  TEXT NOT NULL,
            client_id      TEXT NOT NULL,
            created_at     BIGINT NOT NULL,
            PRIMARY KEY (counsellor_id, client_id)
        )"""
    )
    await conn.execute("CREATE INDEX bookmark_client_idx ON bookmark (client_id)")
    # What is left of a person the deletion routine erased: the Matrix id (never reused),
    # centre, role and the times. No pseudonym, no contact data. A row with erased_at NULL
    # is an erasure in progress: it claims the person, so a restore cannot race it, and the
    # routine resumes it after a restart.
    await conn.execute(
        """CREATE TABLE erased_person (
            user_id     TEXT PRIMARY KEY,
            centre_id   TEXT NOT NULL,
            role        TEXT NOT NULL,
            deleted_at  BIGINT NOT NULL,
            started_at  BIGINT NOT NULL,
            erased_at   BIGINT
        )"""
    )
