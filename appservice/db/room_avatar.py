"""Rows of ``room_avatar``: the mxc:// URI of each room picture Lotse uploaded, by content."""

from __future__ import annotations

from typing import ClassVar

from mautrix.util.async_db import Database

from appservice.clock import now_ms


class RoomAvatar:
    db: ClassVar[Database]

    @classmethod
    async def get(cls, digest: str) -> str | None:
        """The URI of the picture with this SHA-256 ``digest``, if it was uploaded before."""
        value = await cls.db.fetchval("SELECT mxc FROM room_avatar WHERE digest=$1", digest)
        return str(value) if value is not None else None

    @classmethod
    async def put(cls, digest: str, mxc: str) -> str:
        """Remember an upload; the URI kept for ``digest`` (an earlier one wins a race)."""
        q = (
            "INSERT INTO room_avatar (digest, mxc, uploaded_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (digest) DO NOTHING"
        )
        await cls.db.execute(q, digest, mxc, now_ms())
        return await cls.get(digest) or mxc
