"""v1: people of the centres, the durable event inbox and small bot state."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="People, event inbox, bot key-value state")  # type: ignore[call-arg,arg-type]
async def upgrade_v1(conn: Connection, scheme: Scheme) -> None:
    # Who belongs to which centre in which role, and their service room with the assistant.
    await conn.execute(
        """CREATE TABLE person (
            user_id          TEXT PRIMARY KEY,
            centre_id        TEXT NOT NULL,
            role             TEXT NOT NULL,
            language         TEXT,
            service_room_id  TEXT UNIQUE,
            welcomed         BOOLEAN NOT NULL DEFAULT false,
            created_at       BIGINT NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX person_centre_idx ON person (centre_id, role)")
    # Every room event from a transaction is written here before Synapse gets its 200, and
    # handled from here: nothing is lost between acknowledging and handling, and the event id
    # (unique, unlike Synapse's transaction ids) deduplicates redeliveries. The payload is the
    # event as Synapse sent it (ciphertext for encrypted rooms) and is dropped once handled.
    await conn.execute(
        """CREATE TABLE event_inbox (
            event_id     TEXT PRIMARY KEY,
            room_id      TEXT NOT NULL,
            seq          BIGINT NOT NULL,
            received_at  BIGINT NOT NULL,
            payload      TEXT,
            state        TEXT NOT NULL DEFAULT 'pending',
            attempts     INTEGER NOT NULL DEFAULT 0,
            handled_at   BIGINT
        )"""
    )
    # seq keeps Synapse's order, also among the events of one transaction.
    await conn.execute("CREATE INDEX event_inbox_pending_idx ON event_inbox (state, seq)")
    await conn.execute("CREATE TABLE bot_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
