"""v12: mail preferences, address confirmations and pending room notices (issue 5)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Mail preferences, confirmations, room notices")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v12(conn: Connection, scheme: Scheme) -> None:
    # Per person: which address they confirmed (the address itself stays in person.email; an
    # address counts as confirmed only while both are equal, so whoever changes person.email
    # un-confirms it without knowing about this table), whether notification mail is wanted,
    # and after how many minutes of not reading a room a mail goes out.
    await conn.execute(
        """CREATE TABLE mail_preference (
            user_id            TEXT PRIMARY KEY,
            confirmed_address  TEXT,
            confirmed_at       BIGINT,
            notifications      BOOLEAN NOT NULL DEFAULT true,
            delay_minutes      INTEGER NOT NULL DEFAULT 15
        )"""
    )
    # Double opt-in: only the SHA-256 of the one-time token is kept; the address waits here
    # until the link is opened, so an unconfirmed address never gets any other mail.
    await conn.execute(
        """CREATE TABLE mail_confirmation (
            token_hash  TEXT PRIMARY KEY,
            user_id     TEXT NOT NULL,
            address     TEXT NOT NULL,
            created_at  BIGINT NOT NULL,
            expires_at  BIGINT NOT NULL,
            used_at     BIGINT
        )"""
    )
    await conn.execute("CREATE INDEX mail_confirmation_user_idx ON mail_confirmation (user_id)")
    # Per person and counselling/group room, metadata only: since when something is unread
    # (NULL: nothing), the newest event seen (id, server time), the newest read receipt, and
    # when the last mail about this room went out (one mail per digest window).
    await conn.execute(
        """CREATE TABLE room_notice (
            user_id        TEXT NOT NULL,
            room_id        TEXT NOT NULL,
            pending_since  BIGINT,
            last_event_id  TEXT,
            last_event_ts  BIGINT,
            read_event_id  TEXT,
            read_at        BIGINT,
            mailed_at      BIGINT,
            PRIMARY KEY (user_id, room_id)
        )"""
    )
    await conn.execute("CREATE INDEX room_notice_pending_idx ON room_notice (pending_since)")
    # The IMAP poller checks a bounce report's original Message-ID against the outbox.
    await conn.execute("CREATE INDEX mail_outbox_message_id_idx ON mail_outbox (message_id)")
