"""Rows of ``centre_room`` (a centre's Space, admin control room and staff room) and
``centre_message`` (metadata of messages admins sent to clients; never their text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from appservice.clock import now_ms

KINDS = ("space", "admin", "staff")


@dataclass(frozen=True)
class CentreRoom:
    db: ClassVar[Database]

    centre_id: str
    kind: str
    room_id: str

    @classmethod
    async def get(cls, centre_id: str, kind: str) -> str | None:
        """The room id of ``kind`` for the centre, or None before it was created."""
        q = "SELECT room_id FROM centre_room WHERE centre_id=$1 AND kind=$2"
        value = await cls.db.fetchval(q, centre_id, kind)
        return str(value) if value is not None else None

    @classmethod
    async def by_room(cls, room_id: str) -> CentreRoom | None:
        q = "SELECT centre_id, kind, room_id FROM centre_room WHERE room_id=$1"
        row = await cls.db.fetchrow(q, room_id)
        if row is None:
            return None
        return cls(centre_id=row["centre_id"], kind=row["kind"], room_id=row["room_id"])

    @classmethod
    async def add(cls, centre_id: str, kind: str, room_id: str) -> bool:
        """Remember a new room; False if the centre already had one of that kind."""
        if kind not in KINDS:
            raise ValueError(f"unknown centre room kind {kind!r}")
        q = (
            "INSERT INTO centre_room (centre_id, kind, room_id, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (centre_id, kind) DO NOTHING"
        )
        await cls.db.execute(q, centre_id, kind, room_id, now_ms())
        return await cls.get(centre_id, kind) == room_id


@dataclass(frozen=True)
class CentreMessage:
    """A message from the centre to a client: metadata only, the text is never stored."""

    db: ClassVar[Database]

    id: int
    centre_id: str
    client_id: str
    sender_id: str
    subject: str
    sent_at: int

    _columns: ClassVar[str] = "id, centre_id, client_id, sender_id, subject, sent_at"

    @classmethod
    def _from_row(cls, row: Any) -> CentreMessage:
        return cls(
            id=row["id"],
            centre_id=row["centre_id"],
            client_id=row["client_id"],
            sender_id=row["sender_id"],
            subject=row["subject"],
            sent_at=row["sent_at"],
        )

    @classmethod
    async def record(cls, centre_id: str, client_id: str, sender_id: str, subject: str) -> int:
        q = (
            "INSERT INTO centre_message (centre_id, client_id, sender_id, subject, sent_at) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        return int(await cls.db.fetchval(q, centre_id, client_id, sender_id, subject, now_ms()))

    @classmethod
    async def recent(
        cls, centre_id: str, limit: int, client_id: str | None = None
    ) -> list[CentreMessage]:
        """Newest first; only the centre's own messages, optionally to one client."""
        if client_id is None:
            q = (
                f"SELECT {cls._columns} FROM centre_message WHERE centre_id=$1 "
                "ORDER BY id DESC LIMIT $2"
            )
            rows = await cls.db.fetch(q, centre_id, limit)
        else:
            q = (
                f"SELECT {cls._columns} FROM centre_message WHERE centre_id=$1 AND client_id=$3 "
                "ORDER BY id DESC LIMIT $2"
            )
            rows = await cls.db.fetch(q, centre_id, limit, client_id)
        return [cls._from_row(row) for row in rows]
