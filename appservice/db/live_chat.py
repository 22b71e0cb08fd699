"""Rows of the anonymous live chat: who staffs it, the running chats, the hourly counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from .rows import rows_changed
from .scrub import ROOM_ROWS, _has_table, scrub

HOUR_MS = 3_600_000
# How the rows that stay after an erasure name an anonymous person (there is no tombstone:
# nothing of the chat stays, and Synapse keeps the deactivated login from being handed out).
ANONYMOUS_REF = "erased:anonymous"


@dataclass(frozen=True)
class LiveChatStaff:
    db: ClassVar[Database]

    @classmethod
    async def set(cls, counsellor_id: str, centre_id: str, on: bool, now: int) -> bool:
        """Staff (``on``) or stop staffing; False when nothing changed."""
        if on:
            q = (
                "INSERT INTO live_chat_staff (counsellor_id, centre_id, since) VALUES ($1, $2, $3) "
                "ON CONFLICT (counsellor_id) DO NOTHING"
            )
            return rows_changed(await cls.db.execute(q, counsellor_id, centre_id, now)) > 0
        q = "DELETE FROM live_chat_staff WHERE counsellor_id=$1"
        return rows_changed(await cls.db.execute(q, counsellor_id)) > 0

    @classmethod
    async def of_centre(cls, centre_id: str) -> list[str]:
        q = "SELECT counsellor_id FROM live_chat_staff WHERE centre_id=$1 ORDER BY since"
        return [row["counsellor_id"] for row in await cls.db.fetch(q, centre_id)]

    @classmethod
    async def is_on(cls, counsellor_id: str) -> bool:
        q = "SELECT 1 FROM live_chat_staff WHERE counsellor_id=$1"
        return bool(await cls.db.fetchval(q, counsellor_id))


@dataclass(frozen=True)
class LiveChat:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "user_id, centre_id, request_id, room_id, started_at, ended_at, blocked"
    )

    user_id: str
    centre_id: str
    request_id: int | None
    room_id: str | None
    started_at: int
    ended_at: int | None
    blocked: bool

    @classmethod
    def _from_row(cls, row: Any) -> LiveChat:
        values = {k: row[k] for k in cls._columns.split(", ")}
        values["blocked"] = bool(values["blocked"])
        return cls(**values)

    @classmethod
    async def begin(cls, user_id: str, centre_id: str, now: int) -> None:
        q = "INSERT INTO live_chat (user_id, centre_id, started_at) VALUES ($1, $2, $3)"
        await cls.db.execute(q, user_id, centre_id, now)

    @classmethod
    async def set_room(cls, user_id: str, request_id: int, room_id: str) -> None:
        q = "UPDATE live_chat SET request_id=$2, room_id=$3 WHERE user_id=$1"
        await cls.db.execute(q, user_id, request_id, room_id)

    @classmethod
    async def get(cls, user_id: str) -> LiveChat | None:
        row = await cls.db.fetchrow(
            f"SELECT {cls._columns} FROM live_chat WHERE user_id=$1", user_id
        )
        return cls._from_row(row) if row is not None else None

    @classmethod
    async def by_request(cls, centre_id: str, request_id: int) -> LiveChat | None:
        q = f"SELECT {cls._columns} FROM live_chat WHERE centre_id=$1 AND request_id=$2"
        row = await cls.db.fetchrow(q, centre_id, request_id)
        return cls._from_row(row) if row is not None else None

    @classmethod
    async def running(cls, centre_id: str) -> int:
        """Chats of the centre not ended yet (waiting for a counsellor or in progress)."""
        q = "SELECT COUNT(*) FROM live_chat WHERE centre_id=$1 AND ended_at IS NULL"
        return int(await cls.db.fetchval(q, centre_id) or 0)

    @classmethod
    async def end(cls, user_id: str, now: int, blocked: bool = False) -> bool:
        """Mark the chat ended (and blocked); False if it already was ended (block still set)."""
        if blocked:
            await cls.db.execute("UPDATE live_chat SET blocked=true WHERE user_id=$1", user_id)
        q = "UPDATE live_chat SET ended_at=$2 WHERE user_id=$1 AND ended_at IS NULL"
        return rows_changed(await cls.db.execute(q, user_id, now)) > 0

    @classmethod
    async def due(cls, now: int, delay_ms_of: dict[str, int], default_ms: int) -> list[LiveChat]:
        """Chats whose account and room are to be erased now: ``delay`` after they ended, or
        after they began when nobody ended them; per centre (``delay_ms_of``)."""
        rows = await cls.db.fetch(f"SELECT {cls._columns} FROM live_chat")
        chats = [cls._from_row(r) for r in rows]
        return [
            c
            for c in chats
            if (c.ended_at if c.ended_at is not None else c.started_at)
            + delay_ms_of.get(c.centre_id, default_ms)
            <= now
        ]

    @classmethod
    async def registered(cls, user_id: str) -> bool:
        """The person registered (bots/accounts/anonymous_registration.py): account and room
        are an ordinary client's now, so the deletion routine must not erase them with the chat."""
        q = "DELETE FROM live_chat WHERE user_id=$1"
        return rows_changed(await cls.db.execute(q, user_id)) > 0

    async def rooms(self) -> list[str]:
        """Every room of the person: the chat's, and any other request's or service room they
        came to have meanwhile (by writing to the assistant)."""
        q = (
            "SELECT room_id AS r FROM counselling_request WHERE client_id=$1 "
            "UNION SELECT service_room_id FROM person WHERE user_id=$1"
        )
        found = {row["r"] for row in await self.db.fetch(q, self.user_id) if row["r"]}
        if self.room_id:
            found.add(self.room_id)
        return sorted(found)

    async def forget(self) -> None:
        """Remove the person and everything of the chat from every table, in one transaction
        (the same scrub as an erasure, without a tombstone); only the hourly counts stay."""
        conn: Connection
        async with self.db.acquire() as conn, conn.transaction():
            await scrub(conn, self.db.scheme, self.user_id, ANONYMOUS_REF)
            if self.room_id and await _has_table(conn, self.db.scheme, "mx_room_state"):
                for statement in ROOM_ROWS:
                    await conn.execute(statement, self.room_id)
            if self.room_id:
                await conn.execute("DELETE FROM event_inbox WHERE room_id=$1", self.room_id)
            await conn.execute("DELETE FROM live_chat WHERE user_id=$1", self.user_id)


@dataclass(frozen=True)
class LiveChatCount:
    db: ClassVar[Database]

    @classmethod
    async def take(cls, centre_id: str, now: int, cap: int) -> bool:
        """Count one new chat in this clock hour unless ``cap`` are counted already."""
        hour = now - now % HOUR_MS
        q = (
            "INSERT INTO live_chat_count (centre_id, hour, started) VALUES ($1, $2, 1) "
            "ON CONFLICT (centre_id, hour) DO UPDATE SET started=live_chat_count.started + 1 "
            "WHERE live_chat_count.started < $3"
        )
        return rows_changed(await cls.db.execute(q, centre_id, hour, cap)) > 0

    @classmethod
    async def since(cls, centre_id: str, since: int) -> int:
        """Chats begun from ``since`` on (whole hours), for statistics."""
        q = "SELECT COALESCE(SUM(started), 0) FROM live_chat_count WHERE centre_id=$1 AND hour>=$2"
        return int(await cls.db.fetchval(q, centre_id, since - since % HOUR_MS) or 0)

    @classmethod
    async def between(cls, centre_id: str, since: int, until: int) -> int:
        """Chats begun in the hours from ``since`` up to ``until`` (the ``statistik`` period)."""
        q = (
            "SELECT COALESCE(SUM(started), 0) FROM live_chat_count "
            "WHERE centre_id=$1 AND hour>=$2 AND hour<$3"
        )
        return int(await cls.db.fetchval(q, centre_id, since - since % HOUR_MS, until) or 0)
