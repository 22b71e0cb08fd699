"""The durable event inbox: room events are stored before Synapse is acknowledged."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from mautrix.util.async_db import Connection, Database

from .rows import rows_changed

PENDING = "pending"
HANDLED = "handled"
FAILED = "failed"
# Rows per statement: far below SQLite's 32,766 and asyncpg's 32,767 parameters.
INSERT_CHUNK = 500
SETTLE_CHUNK = 1000

T = TypeVar("T")


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class InboxEvent:
    event_id: str
    room_id: str
    payload: dict[str, Any]
    attempts: int
    seq: int = 0


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
    def next_seq_floor(cls) -> int:
        """Every event stored from now on gets a higher seq than this."""
        return cls._last_seq

    @classmethod
    async def add_many(cls, events: list[dict[str, Any]]) -> int:
        """Store new events in one database transaction; return how many were new.

        One multi-row INSERT per chunk instead of one per event: the transaction endpoint
        answers Synapse only after this, so its cost is the accept rate (issue 13).
        """
        now = int(time.time() * 1000)
        rows: dict[str, tuple[str, str, int, int, str]] = {}
        for evt in events:
            event_id = evt.get("event_id")
            room_id = evt.get("room_id")
            if not isinstance(event_id, str) or not isinstance(room_id, str):
                continue
            if event_id not in rows:  # the first copy wins, as with ON CONFLICT
                rows[event_id] = (event_id, room_id, cls._next_seq(), now, json.dumps(evt))
        if not rows:
            return 0
        new = 0
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            for chunk in _chunks(list(rows.values()), INSERT_CHUNK):
                values = ", ".join(
                    f"(${i * 5 + 1}, ${i * 5 + 2}, ${i * 5 + 3}, ${i * 5 + 4}, ${i * 5 + 5})"
                    for i in range(len(chunk))
                )
                q = (
                    "INSERT INTO event_inbox (event_id, room_id, seq, received_at, payload) "
                    f"VALUES {values} ON CONFLICT (event_id) DO NOTHING"
                )
                result = await conn.execute(q, *(v for row in chunk for v in row))
                new += rows_changed(result)
        return new

    @classmethod
    async def pending(cls, limit: int = 100, after_seq: int = 0) -> list[InboxEvent]:
        """The oldest pending events after ``after_seq``, in the order Synapse sent them."""
        q = (
            "SELECT event_id, room_id, payload, attempts, seq FROM event_inbox "
            "WHERE state=$1 AND seq>$2 ORDER BY seq LIMIT $3"
        )
        rows = await cls.db.fetch(q, PENDING, after_seq, limit)
        return [
            InboxEvent(
                event_id=row["event_id"],
                room_id=row["room_id"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
                seq=row["seq"],
            )
            for row in rows
        ]

    @classmethod
    async def mark_handled(cls, event_id: str) -> None:
        """Drop the payload (it may hold ciphertext or metadata we need no longer)."""
        await cls.mark_handled_many([event_id])

    @classmethod
    async def mark_handled_many(cls, event_ids: list[str]) -> None:
        """:meth:`mark_handled` for a whole drain, in one database transaction."""
        await cls._settle(event_ids, HANDLED)

    @classmethod
    async def _settle(cls, event_ids: list[str], state: str) -> None:
        """The events are done for good: their payloads and commands' outcomes go with them.

        In one transaction: an outcome (sealed replies) is only needed while its event may
        still be handled again.
        """
        if not event_ids:
            return
        now = int(time.time() * 1000)
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            for chunk in _chunks(event_ids, SETTLE_CHUNK):
                marks = ", ".join(f"${i + 3}" for i in range(len(chunk)))
                await conn.execute(
                    "UPDATE event_inbox SET state=$1, payload=NULL, handled_at=$2 "
                    f"WHERE event_id IN ({marks})",
                    state,
                    now,
                    *chunk,
                )
                marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
                await conn.execute(
                    f"DELETE FROM command_outcome WHERE event_id IN ({marks})", *chunk
                )

    @classmethod
    async def mark_attempt_failed(cls, event_id: str, max_attempts: int) -> bool:
        """Count a failed attempt; after ``max_attempts`` give up. True if given up."""
        row = await cls.db.fetchrow(
            "UPDATE event_inbox SET attempts=attempts+1 WHERE event_id=$1 RETURNING attempts",
            event_id,
        )
        attempts = row["attempts"] if row else max_attempts
        if attempts >= max_attempts:
            await cls._settle([event_id], FAILED)
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
