"""v11: triage dialogues, request lifecycle (answered, overdue, what was asked), transfers."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Triage, request lifecycle, transfers")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v11(conn: Connection, scheme: Scheme) -> None:
    # The questions a client is being asked before their request exists (one row per client,
    # so a restart continues where the client was). Answers are option ids, never free text.
    await conn.execute(
        """CREATE TABLE triage_dialogue (
            client_id   TEXT PRIMARY KEY,
            centre_id   TEXT NOT NULL,
            step        TEXT NOT NULL,
            topic       TEXT,
            language    TEXT,
            channel     TEXT,
            started_at  BIGINT NOT NULL
        )"""
    )
    # What triage found, when a counsellor first wrote (answered) and when the request was
    # found overdue (set once: the reminder goes out exactly once).
    for column in (
        "topic TEXT",
        "language TEXT",
        "channel TEXT",
        "answered_at BIGINT",
        "overdue_at BIGINT",
    ):
        await conn.execute(f"ALTER TABLE counselling_request ADD COLUMN {column}")
    # 'answered' is still open: one open request per client covers it too.
    await conn.execute("DROP INDEX counselling_request_open_idx")
    await conn.execute(
        "CREATE UNIQUE INDEX counselling_request_open_idx ON counselling_request (client_id) "
        "WHERE status IN ('new', 'assigned', 'answered')"
    )
    await conn.execute("CREATE INDEX counselling_request_room_idx ON counselling_request (room_id)")
    # A proposed handover of a client to another counsellor; happens only on consent.
    key = serial_key(scheme)
    await conn.execute(
        f"""CREATE TABLE transfer (
            id           {key},
            centre_id    TEXT NOT NULL,
            client_id    TEXT NOT NULL,
            from_id      TEXT NOT NULL,
            to_id        TEXT NOT NULL,
            proposed_by  TEXT NOT NULL,
            status       TEXT NOT NULL,
            created_at   BIGINT NOT NULL,
            decided_at   BIGINT
        )"""
    )
    # The absence assistant tells the admins at most once per room and day.
    await conn.execute(
        """CREATE TABLE absence_notice (
            room_id  TEXT NOT NULL,
            day      TEXT NOT NULL,
            PRIMARY KEY (room_id, day)
        )"""
    )
