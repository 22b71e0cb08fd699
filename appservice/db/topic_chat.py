"""Rows of ``topic_chat`` and ``topic_chat_participant``.

A topic chat is announced, possibly cancelled, and closed once its window is over. Who
joined is kept until the deletion routine erased them (bots/topicchats/chats.py); then only
the count stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from .live_chat import ANONYMOUS_REF
from .rows import rows_changed
from .scrub import scrub


@dataclass
class TopicChat:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, counsellor, title, description, starts_at, ends_at, room_id, "
        "participants, created_at, cancelled_at, closed_at"
    )

    id: int
    centre_id: str
    counsellor: str
    title: str
    description: str
    starts_at: int
    ends_at: int
    room_id: str | None
    participants: int
    created_at: int
    cancelled_at: int | None
    closed_at: int | None

    @classmethod
    def _from_row(cls, row: Any) -> TopicChat:
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def create(
        cls,
        centre_id: str,
        counsellor: str,
        title: str,
        description: str,
        starts_at: int,
        ends_at: int,
        now: int,
    ) -> TopicChat:
        row = await cls.db.fetchrow(
            "INSERT INTO topic_chat (centre_id, counsellor, title, description, starts_at, "
            "ends_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            f"RETURNING {cls._columns}",
            centre_id,
            counsellor,
            title,
            description,
            starts_at,
            ends_at,
            now,
        )
        return cls._from_row(row)

    @classmethod
    async def get(cls, centre_id: str, chat_id: int) -> TopicChat | None:
        """Only inside ``centre_id``: centres never see each other's chats."""
        q = f"SELECT {cls._columns} FROM topic_chat WHERE id=$1 AND centre_id=$2"
        row = await cls.db.fetchrow(q, chat_id, centre_id)
        return cls._from_row(row) if row else None

    @classmethod
    async def coming(cls, centre_id: str, now: int) -> list[TopicChat]:
        """Announced, not cancelled, not over yet; the soonest first."""
        q = (
            f"SELECT {cls._columns} FROM topic_chat WHERE centre_id=$1 AND cancelled_at IS NULL "
            "AND closed_at IS NULL AND ends_at > $2 ORDER BY starts_at, id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id, now)]

    @classmethod
    async def due_to_close(cls, now: int) -> list[TopicChat]:
        """Over or cancelled, and their room not closed yet (every centre)."""
        q = (
            f"SELECT {cls._columns} FROM topic_chat WHERE closed_at IS NULL "
            "AND (ends_at <= $1 OR cancelled_at IS NOT NULL) ORDER BY id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, now)]

    @classmethod
    async def counted(cls, centre_id: str, since: int, until: int) -> tuple[int, int]:
        """Statistics: held (closed, not cancelled) chats starting in [since, until) and how
        many people came to them."""
        row = await cls.db.fetchrow(
            "SELECT COUNT(*) AS n, COALESCE(SUM(participants), 0) AS p FROM topic_chat "
            "WHERE centre_id=$1 AND cancelled_at IS NULL AND closed_at IS NOT NULL "
            "AND starts_at >= $2 AND starts_at < $3",
            centre_id,
            since,
            until,
        )
        assert row is not None
        return int(row["n"]), int(row["p"])

    async def set_room(self, room_id: str) -> None:
        await self.db.execute("UPDATE topic_chat SET room_id=$2 WHERE id=$1", self.id, room_id)
        self.room_id = room_id

    async def cancel(self, now: int) -> bool:
        """False when it was cancelled or closed already (someone else was quicker)."""
        result = await self.db.execute(
            "UPDATE topic_chat SET cancelled_at=$2 WHERE id=$1 AND cancelled_at IS NULL "
            "AND closed_at IS NULL",
            self.id,
            now,
        )
        if rows_changed(result) != 1:
            return False
        self.cancelled_at = now
        return True

    async def join(self, user_id: str, now: int) -> bool:
        """Record a participant (and count them once); False when they had joined before."""
        conn: Any
        async with self.db.acquire() as conn, conn.transaction():
            result = await conn.execute(
                "INSERT INTO topic_chat_participant (chat_id, user_id, joined_at) "
                "VALUES ($1, $2, $3) ON CONFLICT (chat_id, user_id) DO NOTHING",
                self.id,
                user_id,
                now,
            )
            if rows_changed(result) != 1:
                return False
            await conn.execute(
                "UPDATE topic_chat SET participants=participants + 1 WHERE id=$1", self.id
            )
        self.participants += 1
        return True

    async def joined(self) -> list[str]:
        rows = await self.db.fetch(
            "SELECT user_id FROM topic_chat_participant WHERE chat_id=$1 ORDER BY joined_at",
            self.id,
        )
        return [r["user_id"] for r in rows]

    async def mark_closed(self, now: int) -> None:
        await self.db.execute("UPDATE topic_chat SET closed_at=$2 WHERE id=$1", self.id, now)
        self.closed_at = now

    @classmethod
    async def participants_closed(cls, centre_id: str, before: int) -> list[str]:
        """Who joined a chat of the centre that was closed before ``before`` (to be erased)."""
        rows = await cls.db.fetch(
            "SELECT DISTINCT p.user_id AS user_id FROM topic_chat_participant p "
            "JOIN topic_chat c ON c.id = p.chat_id WHERE c.centre_id=$1 "
            "AND c.closed_at IS NOT NULL AND c.closed_at <= $2 ORDER BY p.user_id",
            centre_id,
            before,
        )
        return [r["user_id"] for r in rows]

    @classmethod
    async def rooms_of(cls, user_id: str) -> list[str]:
        """Rooms a participant came to have besides the chat's (a service room or a request's
        room, by writing to the assistant): purged with them."""
        q = (
            "SELECT room_id AS r FROM counselling_request WHERE client_id=$1 "
            "UNION SELECT service_room_id FROM person WHERE user_id=$1"
        )
        return sorted({row["r"] for row in await cls.db.fetch(q, user_id) if row["r"]})

    @classmethod
    async def let_go(cls, user_id: str) -> None:
        """A participant who registered stays a client: only their participant rows go."""
        await cls.db.execute("DELETE FROM topic_chat_participant WHERE user_id=$1", user_id)

    @classmethod
    async def forget(cls, user_id: str) -> None:
        """Remove an erased anonymous participant from every table in one transaction (the
        scrub of an erasure, without a tombstone, as for the live chat); the counts stay."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await scrub(conn, cls.db.scheme, user_id, ANONYMOUS_REF)
            await conn.execute("DELETE FROM topic_chat_participant WHERE user_id=$1", user_id)
