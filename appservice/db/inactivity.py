"""Rows of ``inactivity_notice`` (v23): who was warned or listed for inactivity, and when."""

from __future__ import annotations

from typing import ClassVar

from mautrix.util.async_db import Database


class InactivityNotice:
    db: ClassVar[Database]

    @classmethod
    async def all(cls) -> dict[str, tuple[int, int]]:
        """user id → (last activity the notice was about, when it went out)."""
        rows = await cls.db.fetch("SELECT user_id, last_active, notified_at FROM inactivity_notice")
        return {r["user_id"]: (int(r["last_active"]), int(r["notified_at"])) for r in rows}

    @classmethod
    async def record(cls, user_id: str, last_active: int, notified_at: int) -> None:
        await cls.db.execute(
            "INSERT INTO inactivity_notice (user_id, last_active, notified_at) "
            "VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET "
            "last_active=excluded.last_active, notified_at=excluded.notified_at",
            user_id,
            last_active,
            notified_at,
        )

    @classmethod
    async def forget(cls, user_id: str) -> None:
        await cls.db.execute("DELETE FROM inactivity_notice WHERE user_id=$1", user_id)
