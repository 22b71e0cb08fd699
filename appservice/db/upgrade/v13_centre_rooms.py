"""v13: each centre's rooms in Matrix (Space, admin control room, staff room) and the
metadata of messages admins sent to clients."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Centre rooms and sent centre messages")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v13(conn: Connection, scheme: Scheme) -> None:
    # One room per centre and kind ("space", "admin", "staff"), created once at start.
    await conn.execute(
        """CREATE TABLE centre_room (
            centre_id   TEXT NOT NULL,
            kind        TEXT NOT NULL,
            room_id     TEXT NOT NULL UNIQUE,
            created_at  BIGINT NOT NULL,
            PRIMARY KEY (centre_id, kind)
        )"""
    )
    # A message from the centre to a client ("Direkt-Nachricht"): who, to whom, when and the
    # subject line the admin chose. The text itself is only in the client's encrypted room.
    key = serial_key(scheme)
    await conn.execute(
        f"""CREATE TABLE centre_message (
            id          {key},
            centre_id   TEXT NOT NULL,
            client_id   TEXT NOT NULL,
            sender_id   TEXT NOT NULL,
            subject     TEXT NOT NULL,
            sent_at     BIGINT NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX centre_message_centre_idx ON centre_message (centre_id, id)")
