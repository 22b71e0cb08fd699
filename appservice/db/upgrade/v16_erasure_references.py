"""v16: every tombstone gets a number, so rows that must stay (the audit log, a counsellor's
notes) can name an erased person as ``erased:N`` instead of by their Matrix id; people erased
before this version lose what earlier erasures left behind."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from ..scrub import reference, scrub
from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Numbered erasure tombstones")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v16(conn: Connection, scheme: Scheme) -> None:
    # SQLite cannot add an auto-numbered column to a table: rebuild it (the same on both).
    await conn.execute(
        f"""CREATE TABLE erased_person_v16 (
            id          {serial_key(scheme)},
            user_id     TEXT NOT NULL UNIQUE,
            centre_id   TEXT NOT NULL,
            role        TEXT NOT NULL,
            deleted_at  BIGINT NOT NULL,
            started_at  BIGINT NOT NULL,
            erased_at   BIGINT
        )"""
    )
    await conn.execute(
        "INSERT INTO erased_person_v16 (user_id, centre_id, role, deleted_at, started_at, "
        "erased_at) SELECT user_id, centre_id, role, deleted_at, started_at, erased_at "
        "FROM erased_person ORDER BY started_at, user_id"
    )
    await conn.execute("DROP TABLE erased_person")
    await conn.execute("ALTER TABLE erased_person_v16 RENAME TO erased_person")
    # Erasures finished by older versions kept registrations, mail, transfers, centre
    # messages, triage and their id in the audit log and in others' rows: remove them now.
    finished = await conn.fetch(
        "SELECT id, user_id FROM erased_person WHERE erased_at IS NOT NULL ORDER BY id"
    )
    for row in finished:
        await scrub(conn, scheme, row["user_id"], reference(row["id"]))
