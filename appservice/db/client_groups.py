"""Rows of ``client_group`` and ``client_group_member``: groups of clients of one centre."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from appservice.clock import now_ms

from .person import savepoint
from .rows import rows_changed


@dataclass
class ClientGroup:
    db: ClassVar[Database]
    _columns: ClassVar[str] = "id, centre_id, name, description, creator_id, room_id, created_at"

    id: int
    centre_id: str
    name: str
    description: str
    creator_id: str
    room_id: str | None
    created_at: int

    @classmethod
    def _from_row(cls, row: Any) -> ClientGroup:
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def create(
        cls, centre_id: str, name: str, description: str, creator_id: str
    ) -> ClientGroup | None:
        """None when the centre already has a group of that name (any case)."""
        q = (
            "INSERT INTO client_group (centre_id, name, description, creator_id, created_at) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        now = now_ms()
        try:
            async with savepoint(cls.db) as conn:
                group_id = await conn.fetchval(q, centre_id, name, description, creator_id, now)
        except Exception as e:  # asyncpg UniqueViolationError / sqlite3.IntegrityError
            if "unique" in str(e).lower():
                return None
            raise
        return cls(int(group_id), centre_id, name, description, creator_id, None, now)

    @classmethod
    async def find(cls, centre_id: str, text: str) -> ClientGroup | None:
        """By number or by name (any case), only inside ``centre_id``."""
        text = text.strip()
        if text.isdigit():
            q = f"SELECT {cls._columns} FROM client_group WHERE id=$1 AND centre_id=$2"
            row = await cls.db.fetchrow(q, int(text), centre_id)
        else:
            q = (
                f"SELECT {cls._columns} FROM client_group "
                "WHERE centre_id=$1 AND lower(name)=lower($2)"
            )
            row = await cls.db.fetchrow(q, centre_id, text)
        return cls._from_row(row) if row else None

    @classmethod
    async def all_in_centre(cls, centre_id: str) -> list[ClientGroup]:
        q = f"SELECT {cls._columns} FROM client_group WHERE centre_id=$1 ORDER BY lower(name), id"
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id)]

    @classmethod
    async def of_client(cls, client_id: str) -> list[ClientGroup]:
        q = (
            f"SELECT {', '.join('g.' + c for c in cls._columns.split(', '))} "
            "FROM client_group g JOIN client_group_member m ON m.group_id = g.id "
            "WHERE m.client_id=$1 ORDER BY lower(g.name), g.id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, client_id)]

    async def set_room(self, room_id: str) -> None:
        await self.db.execute("UPDATE client_group SET room_id=$2 WHERE id=$1", self.id, room_id)
        self.room_id = room_id

    async def update(self, name: str, description: str) -> bool:
        """False when another group of the centre already has the new name."""
        try:
            async with savepoint(self.db) as conn:
                await conn.execute(
                    "UPDATE client_group SET name=$2, description=$3 WHERE id=$1",
                    self.id,
                    name,
                    description,
                )
        except Exception as e:
            if "unique" in str(e).lower():
                return False
            raise
        self.name, self.description = name, description
        return True

    async def delete(self) -> bool:
        """Remove the group and its memberships; False when someone else deleted it first."""
        conn: Any
        async with self.db.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM client_group_member WHERE group_id=$1", self.id)
            result = await conn.execute("DELETE FROM client_group WHERE id=$1", self.id)
        return rows_changed(result) == 1

    # --- members ---

    async def members(self) -> list[str]:
        rows = await self.db.fetch(
            "SELECT client_id FROM client_group_member WHERE group_id=$1 ORDER BY added_at",
            self.id,
        )
        return [r["client_id"] for r in rows]

    async def add_member(self, client_id: str) -> bool:
        """False when the client already belongs to the group (a race: one wins)."""
        result = await self.db.execute(
            "INSERT INTO client_group_member (group_id, client_id, added_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (group_id, client_id) DO NOTHING",
            self.id,
            client_id,
            now_ms(),
        )
        return rows_changed(result) == 1

    async def remove_member(self, client_id: str) -> bool:
        result = await self.db.execute(
            "DELETE FROM client_group_member WHERE group_id=$1 AND client_id=$2",
            self.id,
            client_id,
        )
        return rows_changed(result) == 1

    @classmethod
    async def member_counts(cls, centre_id: str) -> dict[int, int]:
        rows = await cls.db.fetch(
            "SELECT g.id AS id, COUNT(m.client_id) AS n FROM client_group g "
            "LEFT JOIN client_group_member m ON m.group_id = g.id "
            "WHERE g.centre_id=$1 GROUP BY g.id",
            centre_id,
        )
        return {int(r["id"]): int(r["n"]) for r in rows}

    @classmethod
    async def forget_client(cls, client_id: str) -> int:
        """For the deletion routine: an erased client leaves every group."""
        result = await cls.db.execute(
            "DELETE FROM client_group_member WHERE client_id=$1", client_id
        )
        return rows_changed(result)
