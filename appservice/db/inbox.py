"""The durable event inbox: room events are stored before Synapse is acknowledged."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from .rows import rows_changed

PENDING = "pending"
HANDLED = "handled"
FAILED = "failed"


@dataclass
class InboxEvent:
    event_id: str
    room_id: str
    payload: dict[str, Any]
    attempts: int


class Inbox:
    """Event-id keyed queue: a redelivered event is ignored, an acknowledged one is kept."""

    db: ClassVar[Database]

    _last_seq: ClassVar[int] = 0

    @classmethod
    def _next_seq(cls) -> int:
        """Strictly increasing, and later after a restart (microseconds since the epoch)."""
        cls._last_seq = max(time.time_ns() // 1000, cls._last_seq + 1)
        return cls._last_seq

    @classmethod
    async def add_many(cls, events: list[dict[str, Any]]) -> int:
        """Store new events in one database transaction; return how many were new."""
        now = int(time.time() * 1000)
        new = 0
        q = (
            "INSERT INTO event_inbox (event_id, room_id, seq, received_at, payload) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING"
        )
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            for evt in events:
                event_id = evt.get("event_id")
                room_id = evt.get("room_id")
                if not isinstance(event_id, str) or not isinstance(room_id, str):
                    continue
                seq = cls._next_seq()
                result = await conn.execute(q, event_id, room_id, seq, now, json.dumps(evt))
                new += rows_changed(result)
        return new

    @classmethod
    async def pending(cls, limit: int = 100) -> list[InboxEvent]:
        q = (
            "SELECT event_id, room_id, payload, attempts FROM event_inbox "
            "WHERE state=$1 ORDER BY seq LIMIT $2"
        )
        rows = await cls.db.fetch(q, PENDING, limit)
        return [
            InboxEvent(
                event_id=row["event_id"],
                room_id=row["room_id"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
            )
            for row in rows
        ]

    @classmethod
    async def mark_handled(cls, event_id: str) -> None:
        """Drop the payload (it may hold ciphertext or metadata we need no longer)."""
        await cls._settle(event_id, HANDLED)

    @classmethod
    async def _settle(cls, event_id: str, state: str) -> None:
        """The event is done for good: its payload and its command's outcome go with it.

        In one transaction: the outcome (sealed replies) is only needed while the event may
        still be handled again.
        """
        q = "UPDATE event_inbox SET state=$2, payload=NULL, handled_at=$3 WHERE event_id=$1"
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await conn.execute(q, event_id, state, int(time.time() * 1000))
            await conn.execute("DELETE FROM command_outcome WHERE event_id=$1", event_id)

    @classmethod
    async def mark_attempt_failed(cls, event_id: str, max_attempts: int) -> bool:
        """Count a failed attempt; after ``max_attempts`` give up. True if given up."""
        row = await cls.db.fetchrow(
            "UPDATE event_inbox SET attempts=attempts+1 WHERE event_id=$1 RETURNING attempts",
            event_id,
        )
        attempts = row["attempts"] if row else max_attempts
        if attempts >= max_attempts:
            await cls._settle(event_id, FAILED)
            return True
        return False

    @classmethod
    async def state_of(cls, event_id: str) -> str | None:
        return await cls.db.fetchval("SELECT state FROM event_inbox WHERE event_id=$1", event_id)

    @classmethod
    async def prune(cls, older_than_days: int = 30) -> None:
        """Forget handled ids after Synapse can no longer redeliver them."""
        cutoff = int((time.time() - older_than_days * 86400) * 1000)
        await cls.db.execute(
            "DELETE FROM event_inbox WHERE state<>$1 AND handled_at < $2", PENDING, cutoff
        )
