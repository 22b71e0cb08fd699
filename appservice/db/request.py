"""Rows of ``counselling_request``: a client's request and who took it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from .rows import rows_changed

NEW = "new"
ASSIGNED = "assigned"
ANSWERED = "answered"
CLOSED = "closed"
# Closed because the client was deleted; a restore leaves it so (the client can ask again).
WITHDRAWN = "withdrawn"
# Statuses of a request that is not finished; one per client at a time.
OPEN = (NEW, ASSIGNED, ANSWERED)


@dataclass
class CounsellingRequest:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, client_id, status, counsellor_id, room_id, created_at, assigned_at, "
        "topic, language, channel, answered_at, overdue_at"
    )

    id: int
    centre_id: str
    client_id: str
    status: str
    counsellor_id: str | None
    room_id: str | None
    created_at: int
    assigned_at: int | None
    # What triage found (option ids), when a counsellor first wrote, when it became overdue.
    topic: str | None = None
    language: str | None = None
    channel: str | None = None
    answered_at: int | None = None
    overdue_at: int | None = None

    @classmethod
    def _from_row(cls, row: Any) -> CounsellingRequest | None:
        if row is None:
            return None
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def open_for_client(cls, client_id: str) -> CounsellingRequest | None:
        q = (
            f"SELECT {cls._columns} FROM counselling_request "
            "WHERE client_id=$1 AND status IN ('new', 'assigned', 'answered')"
        )
        return cls._from_row(await cls.db.fetchrow(q, client_id))

    @classmethod
    async def create(
        cls,
        centre_id: str,
        client_id: str,
        topic: str | None = None,
        language: str | None = None,
        channel: str | None = None,
    ) -> CounsellingRequest | None:
        """A new request; None if the client has an open one (also when two race)."""
        q = (
            "INSERT INTO counselling_request "
            "(centre_id, client_id, status, created_at, topic, language, channel) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
        )
        now = int(time.time() * 1000)
        result = await cls.db.execute(q, centre_id, client_id, NEW, now, topic, language, channel)
        if rows_changed(result) == 0:
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
    async def waiting_page(
        cls, centre_id: str, limit: int, offset: int
    ) -> tuple[list[CounsellingRequest], int]:
        """One page of the waiting requests, oldest first, and how many wait in all."""
        where = "centre_id=$1 AND status=$2"
        total = await cls.db.fetchval(
            f"SELECT COUNT(*) FROM counselling_request WHERE {where}", centre_id, NEW
        )
        q = (
            f"SELECT {cls._columns} FROM counselling_request WHERE {where} "
            "ORDER BY created_at, id LIMIT $3 OFFSET $4"
        )
        rows = await cls.db.fetch(q, centre_id, NEW, limit, offset)
        return [r for r in map(cls._from_row, rows) if r is not None], int(total or 0)

    @classmethod
    async def claim(cls, request_id: int, centre_id: str, counsellor_id: str) -> bool:
        """Take a waiting request; of two simultaneous claims exactly one succeeds."""
        q = (
            "UPDATE counselling_request SET status=$4, counsellor_id=$3, assigned_at=$5 "
            "WHERE id=$1 AND centre_id=$2 AND status=$6"
        )
        now = int(time.time() * 1000)
        result = await cls.db.execute(q, request_id, centre_id, counsellor_id, ASSIGNED, now, NEW)
        return rows_changed(result) == 1

    @classmethod
    async def open_load(cls, centre_id: str) -> dict[str, int]:
        """Open (assigned, not closed) requests per counsellor: the load for assignment."""
        q = (
            "SELECT counsellor_id, COUNT(*) AS n FROM counselling_request "
            "WHERE centre_id=$1 AND status IN ($2, $3) GROUP BY counsellor_id"
        )
        rows = await cls.db.fetch(q, centre_id, ASSIGNED, ANSWERED)
        return {row["counsellor_id"]: row["n"] for row in rows}

    @classmethod
    async def close(cls, request_id: int, centre_id: str, by: str, admin: bool) -> bool:
        """Close an assigned request: its counsellor may, and an admin of the centre."""
        q = (
            "UPDATE counselling_request SET status=$3 WHERE id=$1 AND centre_id=$2 "
            "AND status IN ($4, $7) AND (counsellor_id=$5 OR $6)"
        )
        result = await cls.db.execute(
            q, request_id, centre_id, CLOSED, ASSIGNED, by, admin, ANSWERED
        )
        return rows_changed(result) == 1

    @classmethod
    async def withdraw(cls, client_id: str) -> CounsellingRequest | None:
        """Close the client's open request (pool or assigned) as withdrawn; the request with
        the counsellor it had at that moment, or None if there was none."""
        q = (
            f"UPDATE counselling_request SET status=$2 WHERE client_id=$1 "
            f"AND status IN ('new', 'assigned', 'answered') RETURNING {cls._columns}"
        )
        return cls._from_row(await cls.db.fetchrow(q, client_id, WITHDRAWN))

    @classmethod
    async def last_withdrawn(cls, client_id: str) -> int | None:
        """The number of the client's latest withdrawn request, if any."""
        q = (
            "SELECT id FROM counselling_request WHERE client_id=$1 AND status=$2 "
            "ORDER BY id DESC LIMIT 1"
        )
        value = await cls.db.fetchval(q, client_id, WITHDRAWN)
        return int(value) if value is not None else None

    @classmethod
    async def open_of_counsellor(cls, counsellor_id: str) -> list[CounsellingRequest]:
        """The assigned and answered requests a counsellor holds, oldest first."""
        q = (
            f"SELECT {cls._columns} FROM counselling_request WHERE counsellor_id=$1 "
            "AND status IN ($2, $3) ORDER BY created_at, id"
        )
        rows = await cls.db.fetch(q, counsellor_id, ASSIGNED, ANSWERED)
        return [r for r in map(cls._from_row, rows) if r is not None]

    @classmethod
    async def hand_back(cls, request_id: int, counsellor_id: str) -> CounsellingRequest | None:
        """A departing counsellor's open request waits again (room kept), for the assignment
        policy to place anew; None if it is no longer theirs and open."""
        q = (
            "UPDATE counselling_request SET status=$3, counsellor_id=NULL, assigned_at=NULL, "
            "answered_at=NULL WHERE id=$1 AND counsellor_id=$2 AND status IN ($4, $5) "
            f"RETURNING {cls._columns}"
        )
        row = await cls.db.fetchrow(q, request_id, counsellor_id, NEW, ASSIGNED, ANSWERED)
        return cls._from_row(row)

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
    async def set_pool_room(cls, request_id: int, room_id: str) -> bool:
        """The pool room of a request still waiting without one; False if it was taken (or
        given a room) meanwhile."""
        result = await cls.db.execute(
            "UPDATE counselling_request SET room_id=$2 "
            "WHERE id=$1 AND status=$3 AND room_id IS NULL",
            request_id,
            room_id,
            NEW,
        )
        return rows_changed(result) == 1

    @classmethod
    async def set_room(cls, request_id: int, room_id: str) -> None:
        await cls.db.execute(
            "UPDATE counselling_request SET room_id=$2 WHERE id=$1", request_id, room_id
        )

    @classmethod
    async def by_room(cls, room_id: str) -> CounsellingRequest | None:
        """The newest request whose counselling room this is."""
        q = (
            f"SELECT {cls._columns} FROM counselling_request WHERE room_id=$1 "
            "ORDER BY id DESC LIMIT 1"
        )
        return cls._from_row(await cls.db.fetchrow(q, room_id))

    @classmethod
    async def mark_answered(cls, room_id: str, counsellor_id: str) -> int | None:
        """The counsellor's first message in the room: assigned → answered; the id or None."""
        q = (
            "UPDATE counselling_request SET status=$3, answered_at=$4 "
            "WHERE room_id=$1 AND counsellor_id=$2 AND status=$5 RETURNING id"
        )
        now = int(time.time() * 1000)
        value = await cls.db.fetchval(q, room_id, counsellor_id, ANSWERED, now, ASSIGNED)
        return int(value) if value is not None else None

    @classmethod
    async def unanswered(cls) -> list[CounsellingRequest]:
        """Waiting or assigned requests not yet found overdue (all centres)."""
        q = (
            f"SELECT {cls._columns} FROM counselling_request "
            "WHERE status IN ($1, $2) AND overdue_at IS NULL ORDER BY id"
        )
        rows = await cls.db.fetch(q, NEW, ASSIGNED)
        return [r for r in map(cls._from_row, rows) if r is not None]

    @classmethod
    async def mark_overdue(cls, request_id: int) -> bool:
        """Once only: True for the one caller that marked it (the reminder goes out once)."""
        q = (
            "UPDATE counselling_request SET overdue_at=$2 "
            "WHERE id=$1 AND overdue_at IS NULL AND status IN ($3, $4)"
        )
        result = await cls.db.execute(q, request_id, int(time.time() * 1000), NEW, ASSIGNED)
        return rows_changed(result) == 1

    @classmethod
    async def rooms_with(cls, client_id: str, counsellor_id: str) -> list[str]:
        """The counselling rooms of the client's requests that this counsellor holds."""
        q = (
            "SELECT DISTINCT room_id FROM counselling_request "
            "WHERE client_id=$1 AND counsellor_id=$2 AND room_id IS NOT NULL"
        )
        return sorted(r["room_id"] for r in await cls.db.fetch(q, client_id, counsellor_id))

    @classmethod
    async def hand_over(cls, client_id: str, from_id: str, to_id: str) -> None:
        """After a consented transfer the client's requests belong to the new counsellor."""
        await cls.db.execute(
            "UPDATE counselling_request SET counsellor_id=$3 "
            "WHERE client_id=$1 AND counsellor_id=$2",
            client_id,
            from_id,
            to_id,
        )

    @classmethod
    async def last_assigned(cls, centre_id: str) -> str | None:
        """Who got the centre's latest assignment: the round-robin cursor."""
        q = (
            "SELECT counsellor_id FROM counselling_request WHERE centre_id=$1 "
            "AND assigned_at IS NOT NULL ORDER BY assigned_at DESC, id DESC LIMIT 1"
        )
        value = await cls.db.fetchval(q, centre_id)
        return str(value) if value is not None else None
