"""v2: the mail outbox, so a queued notification survives restarts and is sent at most once."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Mail outbox")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v2(conn: Connection, scheme: Scheme) -> None:
    id_column = f"id {serial_key(scheme)}"
    # One row per notification. ``variables`` are the template variables (JSON), never
    # counselling content; they are emptied once the row is sent or failed. ``message_id`` is
    # written before the SMTP send so that a crash mid-send can be reconciled on start.
    # ``last_error`` holds only the SMTP code or the error class, never a server's text.
    await conn.execute(
        f"""CREATE TABLE mail_outbox (
            {id_column},
            recipient   TEXT NOT NULL,
            kind        TEXT NOT NULL,
            lang        TEXT NOT NULL,
            variables   TEXT NOT NULL,
            not_before  BIGINT NOT NULL,
            attempts    INTEGER NOT NULL DEFAULT 0,
            state       TEXT NOT NULL DEFAULT 'queued',
            message_id  TEXT,
            last_error  TEXT,
            created_at  BIGINT NOT NULL,
            sent_at     BIGINT
        )"""
    )
    await conn.execute("CREATE INDEX mail_outbox_due_idx ON mail_outbox (state, not_before)")
