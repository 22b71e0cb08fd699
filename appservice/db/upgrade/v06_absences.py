"""v6: absences of counsellors (Abwesenheit): no assignment, and later no bookable slots."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Absences")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v6(conn: Connection, scheme: Scheme) -> None:
    key = serial_key(scheme)
    # starts_at inclusive, ends_at exclusive, both in ms since the epoch (UTC).
    await conn.execute(
        f"""CREATE TABLE absence (
            id          {key},
            user_id     TEXT NOT NULL,
            starts_at   BIGINT NOT NULL,
            ends_at     BIGINT NOT NULL,
            label       TEXT NOT NULL,
            created_at  BIGINT NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX absence_user_idx ON absence (user_id, ends_at)")
