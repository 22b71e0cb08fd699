"""Rows of ``monitoring`` and ``monitoring_dialogue``: documented contacts and half-filled forms.

Values and dialogue states arrive sealed (appservice/sealing.py); this layer never sees
them in clear. Every lookup is scoped to a centre, and ``counsellor_id`` (when given) to
the monitorings that person created: the reference's rule "counsellors see only their own,
admins all of their centre" is one WHERE clause here, so no command can forget it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from appservice.clock import now_ms

from .rows import rows_changed


@dataclass
class Monitoring:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, client_id, counsellor_id, request_id, contact_date, sealed_values, "
        "created_at, edited_at"
    )

    id: int
    centre_id: str
    client_id: str
    counsellor_id: str
    request_id: int | None
    contact_date: str
    sealed_values: str
    created_at: int
    edited_at: int | None = None

    @classmethod
    def _from_row(cls, row: Any) -> Monitoring:
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def add(
        cls,
        centre_id: str,
        client_id: str,
        counsellor_id: str,
        request_id: int | None,
        contact_date: str,
        sealed: str,
    ) -> int:
        q = (
            "INSERT INTO monitoring (centre_id, client_id, counsellor_id, request_id, "
            "contact_date, sealed_values, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "RETURNING id"
        )
        value = await cls.db.fetchval(
            q, centre_id, client_id, counsellor_id, request_id, contact_date, sealed, now_ms()
        )
        return int(value)

    @classmethod
    async def get(
        cls, monitoring_id: int, centre_id: str, counsellor_id: str | None
    ) -> Monitoring | None:
        """One monitoring the asker may see; another's (or another centre's) is None."""
        q = f"SELECT {cls._columns} FROM monitoring WHERE id=$1 AND centre_id=$2"
        args: list[Any] = [monitoring_id, centre_id]
        if counsellor_id is not None:
            q += " AND counsellor_id=$3"
            args.append(counsellor_id)
        row = await cls.db.fetchrow(q, *args)
        return cls._from_row(row) if row else None

    @classmethod
    async def find(
        cls,
        centre_id: str,
        counsellor_id: str | None,
        client_id: str | None = None,
        first: str | None = None,
        last: str | None = None,
    ) -> list[Monitoring]:
        """Newest contact first; ``first``/``last`` are ISO days, both included."""
        where, args = cls._where(centre_id, counsellor_id, client_id, first, last)
        q = (
            f"SELECT {cls._columns} FROM monitoring WHERE {where} "
            "ORDER BY contact_date DESC, id DESC"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, *args)]

    @classmethod
    async def find_page(
        cls,
        centre_id: str,
        counsellor_id: str | None,
        client_id: str | None,
        first: str | None,
        last: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Monitoring], int]:
        """One page of :meth:`find` and how many there are in all (the listing's page)."""
        where, args = cls._where(centre_id, counsellor_id, client_id, first, last)
        total = await cls.db.fetchval(f"SELECT COUNT(*) FROM monitoring WHERE {where}", *args)
        q = (
            f"SELECT {cls._columns} FROM monitoring WHERE {where} "
            f"ORDER BY contact_date DESC, id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        )
        rows = await cls.db.fetch(q, *args, limit, offset)
        return [cls._from_row(r) for r in rows], int(total or 0)

    @staticmethod
    def _where(
        centre_id: str,
        counsellor_id: str | None,
        client_id: str | None,
        first: str | None,
        last: str | None,
    ) -> tuple[str, list[Any]]:
        where = "centre_id=$1"
        args: list[Any] = [centre_id]
        for column, op, value in (
            ("counsellor_id", "=", counsellor_id),
            ("client_id", "=", client_id),
            ("contact_date", ">=", first),
            ("contact_date", "<=", last),
        ):
            if value is not None:
                args.append(value)
                where += f" AND {column}{op}${len(args)}"
        return where, args

    @classmethod
    async def edit(cls, monitoring_id: int, centre_id: str, contact_date: str, sealed: str) -> bool:
        result = await cls.db.execute(
            "UPDATE monitoring SET contact_date=$3, sealed_values=$4, edited_at=$5 "
            "WHERE id=$1 AND centre_id=$2",
            monitoring_id,
            centre_id,
            contact_date,
            sealed,
            now_ms(),
        )
        return rows_changed(result) == 1

    @classmethod
    async def delete(cls, monitoring_id: int, centre_id: str) -> bool:
        result = await cls.db.execute(
            "DELETE FROM monitoring WHERE id=$1 AND centre_id=$2", monitoring_id, centre_id
        )
        return rows_changed(result) == 1

    @classmethod
    async def request_times(
        cls, centre_id: str, counsellor_id: str | None, start_ms: int, end_ms: int
    ) -> list[Any]:
        """Status and times of the requests made in [start, end): for statistics only; a
        counsellor's are those assigned to them."""
        q = (
            "SELECT status, created_at, answered_at FROM counselling_request "
            "WHERE centre_id=$1 AND created_at>=$2 AND created_at<$3"
        )
        args: list[Any] = [centre_id, start_ms, end_ms]
        if counsellor_id is not None:
            q += " AND counsellor_id=$4"
            args.append(counsellor_id)
        return list(await cls.db.fetch(q, *args))


@dataclass
class MonitoringDialogue:
    """A counsellor's half-filled monitoring; ``sealed_state`` is the dialogue's JSON."""

    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "counsellor_id, centre_id, client_id, request_id, sealed_state, step, poll_event_id, "
        "started_at"
    )

    counsellor_id: str
    centre_id: str
    client_id: str
    request_id: int | None
    sealed_state: str
    # The key of the field being asked, and the poll offering it (if one is out).
    step: str
    poll_event_id: str | None = None
    started_at: int = 0

    @classmethod
    async def get(cls, counsellor_id: str) -> MonitoringDialogue | None:
        q = f"SELECT {cls._columns} FROM monitoring_dialogue WHERE counsellor_id=$1"
        row = await cls.db.fetchrow(q, counsellor_id)
        return cls(**{k: row[k] for k in cls._columns.split(", ")}) if row else None

    @classmethod
    async def begin(
        cls,
        counsellor_id: str,
        centre_id: str,
        client_id: str,
        request_id: int | None,
        sealed: str,
        step: str,
    ) -> bool:
        """Start one; False if the counsellor has one running already (races too)."""
        q = (
            "INSERT INTO monitoring_dialogue (counsellor_id, centre_id, client_id, request_id, "
            "sealed_state, step, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT DO NOTHING"
        )
        result = await cls.db.execute(
            q, counsellor_id, centre_id, client_id, request_id, sealed, step, now_ms()
        )
        return rows_changed(result) == 1

    @classmethod
    async def save(cls, counsellor_id: str, old: str, sealed: str, step: str) -> bool:
        """Move on from state ``old`` to ``step`` (its poll is no longer current); False if a
        simultaneous answer moved it already."""
        result = await cls.db.execute(
            "UPDATE monitoring_dialogue SET sealed_state=$3, step=$4, poll_event_id=NULL "
            "WHERE counsellor_id=$1 AND sealed_state=$2",
            counsellor_id,
            old,
            sealed,
            step,
        )
        return rows_changed(result) == 1

    @classmethod
    async def set_poll(cls, counsellor_id: str, step: str, poll_event_id: str) -> bool:
        """Tie a poll to the field asked; False if the dialogue moved on or ended meanwhile."""
        result = await cls.db.execute(
            "UPDATE monitoring_dialogue SET poll_event_id=$3 "
            "WHERE counsellor_id=$1 AND step=$2 AND poll_event_id IS NULL",
            counsellor_id,
            step,
            poll_event_id,
        )
        return rows_changed(result) == 1

    @classmethod
    async def finish(cls, counsellor_id: str) -> bool:
        result = await cls.db.execute(
            "DELETE FROM monitoring_dialogue WHERE counsellor_id=$1", counsellor_id
        )
        return rows_changed(result) == 1
