"""Rows of ``transfer``: a proposed handover of a client, done only with their consent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from ..clock import now_ms
from .rows import rows_changed

PROPOSED = "proposed"
CONSENTED = "consented"
DECLINED = "declined"
WITHDRAWN = "withdrawn"


@dataclass
class Transfer:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, client_id, from_id, to_id, proposed_by, status, created_at, decided_at"
    )

    id: int
    centre_id: str
    client_id: str
    from_id: str
    to_id: str
    proposed_by: str
    status: str
    created_at: int
    decided_at: int | None

    @classmethod
    def _from_row(cls, row: Any) -> Transfer | None:
        if row is None:
            return None
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def propose(
        cls, centre_id: str, client_id: str, from_id: str, to_id: str, by: str
    ) -> int:
        """Record a proposal; the client's older open ones are withdrawn in the same
        transaction, so there is never none or two."""
        q = (
            "INSERT INTO transfer (centre_id, client_id, from_id, to_id, proposed_by, status, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE transfer SET status=$2 WHERE client_id=$1 AND status=$3",
                client_id,
                WITHDRAWN,
                PROPOSED,
            )
            transfer_id = await conn.fetchval(
                q, centre_id, client_id, from_id, to_id, by, PROPOSED, now_ms()
            )
        return int(transfer_id)

    @classmethod
    async def get(cls, transfer_id: int) -> Transfer | None:
        q = f"SELECT {cls._columns} FROM transfer WHERE id=$1"
        return cls._from_row(await cls.db.fetchrow(q, transfer_id))

    @classmethod
    async def decide(cls, transfer_id: int, client_id: str, status: str) -> bool:
        """The client's answer; only theirs, only once (of two racing answers one counts)."""
        if status not in (CONSENTED, DECLINED):
            raise ValueError(f"not a decision: {status}")
        q = (
            "UPDATE transfer SET status=$3, decided_at=$4 "
            "WHERE id=$1 AND client_id=$2 AND status=$5"
        )
        result = await cls.db.execute(q, transfer_id, client_id, status, now_ms(), PROPOSED)
        return rows_changed(result) == 1

    @classmethod
    async def withdraw(cls, transfer_id: int) -> bool:
        """An open proposal that can no longer happen; False if it was decided meanwhile."""
        result = await cls.db.execute(
            "UPDATE transfer SET status=$2, decided_at=$3 WHERE id=$1 AND status=$4",
            transfer_id,
            WITHDRAWN,
            now_ms(),
            PROPOSED,
        )
        return rows_changed(result) == 1

    @classmethod
    async def withdraw_involving(cls, counsellor_id: str) -> None:
        """A counsellor who leaves can neither hand over nor take over a client any more."""
        await cls.db.execute(
            "UPDATE transfer SET status=$2 WHERE status=$3 AND (from_id=$1 OR to_id=$1)",
            counsellor_id,
            WITHDRAWN,
            PROPOSED,
        )
