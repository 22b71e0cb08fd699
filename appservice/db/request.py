"""Rows of ``counselling_request``: a client's request and who took it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from .person import _rows_changed

NEW = "new"
ASSIGNED = "assigned"
CLOSED = "closed"


@dataclass
class CounsellingRequest:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, client_id, status, counsellor_id, room_id, created_at, assigned_at"
    )

    id: int
    centre_id: str
    client_id: str
    status: str
    counsellor_id: str | None
    room_id: str | None
    created_at: int
    assigned_at: int | None

    @classmethod
    def _from_row(cls, row: Any) -> CounsellingRequest | None:
        if row is None:
            return None
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def open_for_client(cls, client_id: str) -> CounsellingRequest | None:
        q = (
            f"SELECT {cls._columns} FROM counselling_request "
            "WHERE client_id=$1 AND status IN ('new', 'assigned')"
        )
        return cls._from_row(await cls.db.fetchrow(q, client_id))

    @classmethod
    async def create(cls, centre_id: str, client_id: str) -> CounsellingRequest | None:
        """A new request; None if the client has an open one (also when two race)."""
        q = (
            "INSERT INTO counselling_request (centre_id, client_id, status, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        )
        result = await cls.db.execute(q, centre_id, client_id, NEW, int(time.time() * 1000))
        if _rows_changed(result) == 0:
            return None
        return await cls.open_for_client(client_id)

    @classmethod
    async def get_in_centre(cls, request_id: int, centre_id: str) -> CounsellingRequest | None:
        """Only the centre's own requests exist for its staff."""
        q = f"SELECT {cls._columns} FROM counselling_request WHERE id=$1 AND centre_id=$2"
        return cls._from_row(await cls.db.fetchrow(q, request_id, centre_id))

    @classmethod
    async def waiting(cls, centre_id: str) -> list[CounsellingRequest]:
        q = (
            f"SELECT {cls._columns} FROM counselling_request WHERE centre_id=$1 AND status=$2 "
            "ORDER BY created_at, id"
        )
        rows = await cls.db.fetch(q, centre_id, NEW)
        return [r for r in map(cls._from_row, rows) if r is not None]

    @classmethod
    async def claim(cls, request_id: int, centre_id: str, counsellor_id: str) -> bool:
        """Take a waiting request; of two simultaneous claims exactly one succeeds."""
        q = (
            "UPDATE counselling_request SET status=$4, counsellor_id=$3, assigned_at=$5 "
            "WHERE id=$1 AND centre_id=$2 AND status=$6"
        )
        now = int(time.time() * 1000)
        result = await cls.db.execute(q, request_id, centre_id, counsellor_id, ASSIGNED, now, NEW)
        return _rows_changed(result) == 1

    @classmethod
    async def open_load(cls, centre_id: str) -> dict[str, int]:
        """Open (assigned, not closed) requests per counsellor: the load for assignment."""
        q = (
            "SELECT counsellor_id, COUNT(*) AS n FROM counselling_request "
            "WHERE centre_id=$1 AND status=$2 GROUP BY counsellor_id"
        )
        return {
            row["counsellor_id"]: row["n"] for row in await cls.db.fetch(q, centre_id, ASSIGNED)
        }

    @classmethod
    async def close(cls, request_id: int, centre_id: str, by: str, admin: bool) -> bool:
        """Close an assigned request: its counsellor may, and an admin of the centre."""
        q = (
            "UPDATE counselling_request SET status=$3 WHERE id=$1 AND centre_id=$2 "
            "AND status=$4 AND (counsellor_id=$5 OR $6)"
        )
        result = await cls.db.execute(q, request_id, centre_id, CLOSED, ASSIGNED, by, admin)
        return _rows_changed(result) == 1

    @classmethod
    async def release(cls, request_id: int) -> None:
        """Undo a claim whose room could not be created, so someone else can take it."""
        await cls.db.execute(
            "UPDATE counselling_request SET status=$2, counsellor_id=NULL, assigned_at=NULL "
            "WHERE id=$1",
            request_id,
            NEW,
        )

    @classmethod
    async def set_room(cls, request_id: int, room_id: str) -> None:
        await cls.db.execute(
            "UPDATE counselling_request SET room_id=$2 WHERE id=$1", request_id, room_id
        )
