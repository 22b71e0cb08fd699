"""Rows of ``command_outcome``: what a command sends, recorded with its effect (see once.py)."""

from __future__ import annotations

from typing import ClassVar

from mautrix.util.async_db import Database

from ..clock import now_ms


class CommandOutcome:
    """Keyed by the command's event id; the value is sealed (it may hold personal data)."""

    db: ClassVar[Database]

    @classmethod
    async def get(cls, event_id: str) -> str | None:
        q = "SELECT outgoing FROM command_outcome WHERE event_id=$1"
        return await cls.db.fetchval(q, event_id)

    @classmethod
    async def record(cls, event_id: str, sealed: str) -> None:
        q = "INSERT INTO command_outcome (event_id, outgoing, created_at) VALUES ($1, $2, $3)"
        await cls.db.execute(q, event_id, sealed, now_ms())
