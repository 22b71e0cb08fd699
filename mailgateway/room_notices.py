"""Rows of ``room_notice``: who has something unread in which counselling or group room.

Only metadata: event ids and server times, never content (the steward cannot decrypt it
anyway). Each statement is one atomic upsert, so a read receipt and the event it refers
to may arrive in either order: a receipt remembered before its event keeps the event from
counting as unread (``read_event_id``/``read_at``), and an event that arrives after a
receipt for a later time does not either.

A row is *due* when ``pending_since + delay`` has passed and the last mail about the room
is older than the digest window; :meth:`RoomNotices.claim` then clears ``pending_since``
with a conditional UPDATE, so each unread stretch gives at most one mail even with two
workers or a crash after the claim (the claim itself is at most once; a mail once queued is
sent by the outbox at least once, see there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database, Scheme

from appservice.db import rows_changed

from .preferences import DEFAULT_DELAY_MINUTES

_OBSERVE = (
    "INSERT INTO room_notice (user_id, room_id, pending_since, last_event_id, last_event_ts) "
    "VALUES ($1, $2, $3, $4, $3) ON CONFLICT (user_id, room_id) DO UPDATE SET "
    "pending_since = CASE "
    "  WHEN room_notice.read_event_id = excluded.last_event_id "
    "    OR COALESCE(room_notice.read_at, -1) >= excluded.last_event_ts "
    "  THEN room_notice.pending_since "
    "  ELSE COALESCE(room_notice.pending_since, excluded.pending_since) END, "
    "last_event_id = CASE WHEN excluded.last_event_ts >= COALESCE(room_notice.last_event_ts, -1) "
    "  THEN excluded.last_event_id ELSE room_notice.last_event_id END, "
    "last_event_ts = CASE WHEN excluded.last_event_ts >= COALESCE(room_notice.last_event_ts, -1) "
    "  THEN excluded.last_event_ts ELSE room_notice.last_event_ts END"
)
_READ = (
    "INSERT INTO room_notice (user_id, room_id, read_event_id, read_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (user_id, room_id) DO UPDATE SET "
    "pending_since = CASE "
    "  WHEN room_notice.last_event_id = excluded.read_event_id "
    "    OR COALESCE(room_notice.last_event_ts, -1) <= excluded.read_at "
    "  THEN NULL ELSE room_notice.pending_since END, "
    "read_event_id = CASE WHEN excluded.read_at >= COALESCE(room_notice.read_at, -1) "
    "  THEN excluded.read_event_id ELSE room_notice.read_event_id END, "
    "read_at = CASE WHEN excluded.read_at >= COALESCE(room_notice.read_at, -1) "
    "  THEN excluded.read_at ELSE room_notice.read_at END"
)


@dataclass(frozen=True)
class DueNotice:
    user_id: str
    room_id: str
    pending_since: int


class RoomNotices:
    """SQL for ``room_notice``; bound to the database at start."""

    db: ClassVar[Database]

    @classmethod
    async def observe(
        cls, room_id: str, event_id: str, ts: int, recipients: Iterable[str], sender: str
    ) -> None:
        """An event arrived at ``ts`` (ms): unread for each recipient unless already read,
        and read by its ``sender``. One transaction (one commit) for all of it."""
        rows = [(user_id, room_id, ts, event_id) for user_id in recipients]
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await cls._relaxed(conn)
            if rows:
                await conn.executemany(_OBSERVE, rows)
            await conn.execute(_READ, sender, room_id, event_id, ts)

    @classmethod
    async def read(cls, user_id: str, room_id: str, event_id: str, ts: int) -> None:
        """``user_id`` read ``room_id`` up to ``event_id`` at ``ts`` (a receipt, or their own
        message): whatever arrived before is no longer unread."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await cls._relaxed(conn)
            await conn.execute(_READ, user_id, room_id, event_id, ts)

    @classmethod
    async def _relaxed(cls, conn: Connection) -> None:
        """On PostgreSQL, don't wait for the WAL flush of these marks: a Lotse crash or
        restart still loses none (the server has them), only a crash of the database server
        itself could lose the last fraction of a second of unread/read marks, which costs
        at worst one mail too many or too few. It halves the notifier's cost per event."""
        if cls.db.scheme in (Scheme.POSTGRES, Scheme.COCKROACH):
            await conn.execute("SET LOCAL synchronous_commit TO OFF")

    @classmethod
    async def due(cls, now: int, window_ms: int, limit: int = 500) -> list[DueNotice]:
        """Unread stretches whose person's delay has passed, outside the digest window."""
        q = (
            "SELECT n.user_id, n.room_id, n.pending_since FROM room_notice n "
            "LEFT JOIN mail_preference p ON p.user_id = n.user_id "
            "WHERE n.pending_since IS NOT NULL "
            f"AND n.pending_since + COALESCE(p.delay_minutes, {DEFAULT_DELAY_MINUTES}) * 60000 "
            "<= $1 AND (n.mailed_at IS NULL OR n.mailed_at + $2 <= $1) "
            "ORDER BY n.pending_since LIMIT $3"
        )
        rows = await cls.db.fetch(q, now, window_ms, limit)
        return [cls._due(row) for row in rows]

    @staticmethod
    def _due(row: Any) -> DueNotice:
        return DueNotice(row["user_id"], row["room_id"], int(row["pending_since"]))

    @classmethod
    async def claim(cls, notice: DueNotice, now: int, mailed: bool) -> bool:
        """End this unread stretch; True for the one caller that did. ``mailed`` starts the
        digest window (False when the person gets no mail anyway)."""
        q = (
            "UPDATE room_notice SET pending_since=NULL, "
            "mailed_at = CASE WHEN $4 THEN $5 ELSE mailed_at END "
            "WHERE user_id=$1 AND room_id=$2 AND pending_since=$3"
        )
        result = await cls.db.execute(
            q, notice.user_id, notice.room_id, notice.pending_since, mailed, now
        )
        return rows_changed(result) > 0

    @classmethod
    async def pending_for(cls, user_id: str) -> list[str]:
        """Rooms where ``user_id`` has something unread (tests, diagnostics)."""
        rows = await cls.db.fetch(
            "SELECT room_id FROM room_notice WHERE user_id=$1 AND pending_since IS NOT NULL",
            user_id,
        )
        return [row["room_id"] for row in rows]

    @classmethod
    async def forget_room(cls, room_id: str) -> None:
        await cls.db.execute("DELETE FROM room_notice WHERE room_id=$1", room_id)
