"""v29: the anonymous live chat (docs/live-chat.md).

``live_chat_staff``: counsellors staffing their centre's live chat (`livechat on`).
``live_chat``: one row per running anonymous chat: the throwaway account, its request and room,
when it began and ended; the deletion routine erases account, room and row after the delay.
``live_chat_count``: how many chats began per centre and clock hour (UTC ms of the hour's
start): the hourly cap on throwaway accounts, and the only thing that stays for statistics.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Anonymous live chat")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v29(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE live_chat_staff (
            counsellor_id  TEXT PRIMARY KEY,
            centre_id      TEXT NOT NULL,
            since          BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        """CREATE TABLE live_chat (
            user_id     TEXT PRIMARY KEY,
            centre_id   TEXT NOT NULL,
            request_id  BIGINT,
            room_id     TEXT,
            started_at  BIGINT NOT NULL,
            ended_at    BIGINT,
            blocked     BOOLEAN NOT NULL DEFAULT false
        )"""
    )
    await conn.execute("CREATE INDEX live_chat_centre ON live_chat (centre_id, ended_at)")
    await conn.execute(
        """CREATE TABLE live_chat_count (
            centre_id  TEXT NOT NULL,
            hour       BIGINT NOT NULL,
            started    INTEGER NOT NULL,
            PRIMARY KEY (centre_id, hour)
        )"""
    )
