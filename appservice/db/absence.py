"""Rows of ``absence``: when a counsellor is away (holiday, illness, training)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from .rows import rows_changed


@dataclass
class Absence:
    db: ClassVar[Database]

    id: int
    user_id: str
    starts_at: int
    ends_at: int
    label: str

    @classmethod
    def _from_row(cls, row: Any) -> Absence:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            label=row["label"],
        )

    @classmethod
    async def add(cls, user_id: str, starts_at: int, ends_at: int, label: str) -> int:
        q = (
            "INSERT INTO absence (user_id, starts_at, ends_at, label, created_at) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        now = int(time.time() * 1000)
        return int(await cls.db.fetchval(q, user_id, starts_at, ends_at, label, now))

    @classmethod
    async def upcoming(cls, user_id: str, now_ms: int) -> list[Absence]:
        """Current and future absences, soonest first (past ones are history)."""
        q = (
            "SELECT id, user_id, starts_at, ends_at, label FROM absence "
            "WHERE user_id=$1 AND ends_at > $2 ORDER BY starts_at, id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, user_id, now_ms)]

    @classmethod
    async def delete(cls, absence_id: int, user_id: str) -> bool:
        """Only the owner deletes their absence."""
        result = await cls.db.execute(
            "DELETE FROM absence WHERE id=$1 AND user_id=$2", absence_id, user_id
        )
        return rows_changed(result) == 1

    @classmethod
    async def absent_now(cls, user_ids: list[str], now_ms: int) -> set[str]:
        if not user_ids:
            return set()
        q = "SELECT DISTINCT user_id FROM absence WHERE starts_at <= $1 AND ends_at > $1"
        wanted = set(user_ids)
        return {r["user_id"] for r in await cls.db.fetch(q, now_ms) if r["user_id"] in wanted}


class AbsenceNotice:
    """Which counselling rooms the absence assistant already reported today."""

    db: ClassVar[Database]

    @classmethod
    async def first_today(cls, room_id: str, day: str) -> bool:
        """True once per room and day: the admins hear of it at most that often."""
        result = await cls.db.execute(
            "INSERT INTO absence_notice (room_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            room_id,
            day,
        )
        return rows_changed(result) == 1
