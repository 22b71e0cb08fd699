"""Erasing people for good: claims, the rows removed, and the tombstone that stays.

The deletion routine (bots/accounts/deletion_routine.py) claims a person whose grace period is over,
erases the Matrix account, then calls :meth:`ErasedPerson.finish`, which removes the rows in
one transaction (appservice/db/scrub.py says which). A claim is a tombstone row with
``erased_at`` NULL: a restore refuses a claimed person, and a routine interrupted by a restart
finds its claims again. The tombstone's number is how the rows that stay name the person
(``erased:N``, see :attr:`ErasedPerson.ref`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database, Scheme

from appservice.clock import now_ms

from .scrub import reference, reference_number, scrub

_COLUMNS = "id, user_id, centre_id, role, deleted_at, started_at, erased_at"


@dataclass(frozen=True)
class ErasedPerson:
    db: ClassVar[Database]

    id: int
    user_id: str
    centre_id: str
    role: str
    deleted_at: int
    started_at: int
    erased_at: int | None

    @classmethod
    def _from_row(cls, row: Any) -> ErasedPerson:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            centre_id=row["centre_id"],
            role=row["role"],
            deleted_at=row["deleted_at"],
            started_at=row["started_at"],
            erased_at=row["erased_at"],
        )

    @property
    def ref(self) -> str:
        """The opaque reference that rows kept after the erasure hold instead of the id."""
        return reference(self.id)

    @classmethod
    async def get(cls, user_id: str) -> ErasedPerson | None:
        row = await cls.db.fetchrow(
            f"SELECT {_COLUMNS} FROM erased_person WHERE user_id=$1", user_id
        )
        return cls._from_row(row) if row is not None else None

    @classmethod
    async def by_ref(cls, ref: str) -> ErasedPerson | None:
        """The tombstone an ``erased:N`` reference points at (None for anything else)."""
        number = reference_number(ref)
        if number is None:
            return None
        row = await cls.db.fetchrow(f"SELECT {_COLUMNS} FROM erased_person WHERE id=$1", number)
        return cls._from_row(row) if row is not None else None

    @classmethod
    async def among(cls, user_ids: list[str]) -> set[str]:
        """Which of ``user_ids`` are erased or being erased (claimed)."""
        if not user_ids:
            return set()
        if cls.db.scheme == Scheme.SQLITE:
            marks = ", ".join(f"${i + 1}" for i in range(len(user_ids)))
            q = f"SELECT user_id FROM erased_person WHERE user_id IN ({marks})"
            rows = await cls.db.fetch(q, *user_ids)
        else:
            q = "SELECT user_id FROM erased_person WHERE user_id = ANY($1)"
            rows = await cls.db.fetch(q, user_ids)
        return {row["user_id"] for row in rows}

    @classmethod
    async def marked(cls) -> list[tuple[str, str, int]]:
        """``(user_id, centre_id, deleted_at)`` of everyone marked for deletion, not claimed."""
        rows = await cls.db.fetch(
            "SELECT user_id, centre_id, deleted_at FROM person WHERE deleted_at IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM erased_person e WHERE e.user_id=person.user_id) "
            "ORDER BY deleted_at"
        )
        return [(r["user_id"], r["centre_id"], r["deleted_at"]) for r in rows]

    @classmethod
    async def unfinished(cls) -> list[ErasedPerson]:
        """Claims a run started but did not finish (e.g. Lotse stopped half-way)."""
        rows = await cls.db.fetch(
            f"SELECT {_COLUMNS} FROM erased_person WHERE erased_at IS NULL ORDER BY started_at"
        )
        return [cls._from_row(r) for r in rows]

    @classmethod
    def _lock(cls) -> str:
        """Row lock on PostgreSQL; SQLite runs one write transaction at a time anyway."""
        return "" if cls.db.scheme == Scheme.SQLITE else " FOR UPDATE"

    @classmethod
    async def claim(cls, user_id: str, deleted_at: int) -> ErasedPerson | None:
        """Claim the person for erasure if still marked with that ``deleted_at``; else None.

        Claim and :meth:`restore` both lock the person row first, so exactly one of them wins.
        """
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT deleted_at FROM person WHERE user_id=$1{cls._lock()}", user_id
            )
            if row is None or row["deleted_at"] != deleted_at:
                return None
            await conn.execute(
                "INSERT INTO erased_person (user_id, centre_id, role, deleted_at, started_at) "
                "SELECT user_id, centre_id, role, deleted_at, $2 FROM person WHERE user_id=$1 "
                "ON CONFLICT (user_id) DO NOTHING",
                user_id,
                now_ms(),
            )
        claimed = await cls.get(user_id)
        if claimed is None or claimed.erased_at is not None or claimed.deleted_at != deleted_at:
            return None
        return claimed

    @classmethod
    async def restore(cls, user_id: str, deleted_at: int) -> bool:
        """Unmark a person unless the routine has claimed them; True if restored."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT deleted_at FROM person WHERE user_id=$1{cls._lock()}", user_id
            )
            if row is None or row["deleted_at"] != deleted_at:
                return False
            if await conn.fetchval("SELECT 1 FROM erased_person WHERE user_id=$1", user_id):
                return False
            await conn.execute("UPDATE person SET deleted_at=NULL WHERE user_id=$1", user_id)
        return True

    async def finish(self) -> None:
        """Remove the person from every table but the tombstone, in one transaction."""
        conn: Connection
        async with self.db.acquire() as conn, conn.transaction():
            await scrub(conn, self.db.scheme, self.user_id, self.ref)
            await conn.execute(
                "UPDATE erased_person SET erased_at=$2 WHERE user_id=$1", self.user_id, now_ms()
            )
