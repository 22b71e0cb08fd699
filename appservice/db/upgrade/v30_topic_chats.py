"""v30: topic chats (anonymer Themenchat) and who joined them.

A topic chat is announced by a counsellor with title, short text and time window; its
encrypted group room is made at once (the counsellor waits there). When the window is over
the room is closed and ``closed_at`` set; ``participants`` is the only thing that stays about
who came (a count, for the statistics). ``topic_chat_participant`` says who joined which
chat until the deletion routine erased its anonymous participants (the live chat's
``erase_after_hours`` after the chat closed); those who registered meanwhile stay as clients.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Topic chats")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v30(conn: Connection, scheme: Scheme) -> None:
    key = serial_key(scheme)
    await conn.execute(
        f"""CREATE TABLE topic_chat (
            id            {key},
            centre_id     TEXT NOT NULL,
            counsellor    TEXT NOT NULL,
            title         TEXT NOT NULL,
            description   TEXT NOT NULL DEFAULT '',
            starts_at     BIGINT NOT NULL,
            ends_at       BIGINT NOT NULL,
            room_id       TEXT,
            participants  INTEGER NOT NULL DEFAULT 0,
            created_at    BIGINT NOT NULL,
            cancelled_at  BIGINT,
            closed_at     BIGINT,
            CHECK (ends_at > starts_at)
        )"""
    )
    await conn.execute("CREATE INDEX topic_chat_centre_idx ON topic_chat (centre_id, starts_at)")
    await conn.execute(
        """CREATE TABLE topic_chat_participant (
            chat_id    BIGINT NOT NULL REFERENCES topic_chat (id),
            user_id    TEXT NOT NULL,
            joined_at  BIGINT NOT NULL,
            PRIMARY KEY (chat_id, user_id)
        )"""
    )
