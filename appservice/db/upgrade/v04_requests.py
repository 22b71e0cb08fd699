"""v4: counselling requests (first/asynchronous requests of clients awaiting a counsellor)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Counselling requests")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v4(conn: Connection, scheme: Scheme) -> None:
    key = serial_key(scheme)
    await conn.execute(
        f"""CREATE TABLE counselling_request (
            id             {key},
            centre_id      TEXT NOT NULL,
            client_id      TEXT NOT NULL,
            status         TEXT NOT NULL,
            counsellor_id  TEXT,
            room_id        TEXT,
            created_at     BIGINT NOT NULL,
            assigned_at    BIGINT
        )"""
    )
    # At most one open request per client, enforced by the database (races included).
    await conn.execute(
        "CREATE UNIQUE INDEX counselling_request_open_idx ON counselling_request (client_id) "
        "WHERE status IN ('new', 'assigned')"
    )
    await conn.execute(
        "CREATE INDEX counselling_request_centre_idx ON counselling_request (centre_id, status)"
    )
