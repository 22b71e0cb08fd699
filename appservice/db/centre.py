"""Rows of ``centre_setting`` (admins' overrides of the config defaults) and ``audit_log``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from appservice.clock import now_ms

from .person import rows_changed


class CentreSettingRow:
    """The text an admin typed per key; parsing and defaults live in appservice.centre_settings."""

    db: ClassVar[Database]

    @classmethod
    async def overrides(cls, centre_id: str) -> dict[str, str]:
        rows = await cls.db.fetch(
            "SELECT key, value FROM centre_setting WHERE centre_id=$1", centre_id
        )
        return {row["key"]: row["value"] for row in rows}

    @classmethod
    async def set(cls, centre_id: str, key: str, value: str, changed_by: str) -> None:
        await cls.db.execute(
            "INSERT INTO centre_setting (centre_id, key, value, changed_by, changed_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (centre_id, key) DO UPDATE SET "
            "value=excluded.value, changed_by=excluded.changed_by, changed_at=excluded.changed_at",
            centre_id,
            key,
            value,
            changed_by,
            now_ms(),
        )

    @classmethod
    async def set_many(cls, centre_id: str, values: dict[str, str], changed_by: str) -> None:
        """Several keys in one transaction: all of them change, or none."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            for key, value in values.items():
                await conn.execute(
                    "INSERT INTO centre_setting (centre_id, key, value, changed_by, changed_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (centre_id, key) DO UPDATE SET "
                    "value=excluded.value, changed_by=excluded.changed_by, "
                    "changed_at=excluded.changed_at",
                    centre_id,
                    key,
                    value,
                    changed_by,
                    now_ms(),
                )


@dataclass
class AuditEntry:
    """One admin action: who, what, to whom, when. ``detail`` is a short fact, never content."""

    db: ClassVar[Database]

    id: int
    centre_id: str
    actor_id: str
    action: str
    target: str
    detail: str
    created_at: int

    @classmethod
    def _from_row(cls, row: Any) -> AuditEntry:
        return cls(
            id=row["id"],
            centre_id=row["centre_id"],
            actor_id=row["actor_id"],
            action=row["action"],
            target=row["target"],
            detail=row["detail"],
            created_at=row["created_at"],
        )

    @classmethod
    async def record(
        cls, centre_id: str, actor_id: str, action: str, target: str = "", detail: str = ""
    ) -> None:
        await cls.db.execute(
            "INSERT INTO audit_log (centre_id, actor_id, action, target, detail, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            centre_id,
            actor_id,
            action,
            target,
            detail,
            now_ms(),
        )

    @classmethod
    async def prune(cls, before: int) -> int:
        """Drop entries older than ``before`` (ms): the retention period is over."""
        result = await cls.db.execute("DELETE FROM audit_log WHERE created_at < $1", before)
        return rows_changed(result)

    @classmethod
    async def recent(cls, centre_id: str, limit: int) -> list[AuditEntry]:
        rows = await cls.db.fetch(
            "SELECT id, centre_id, actor_id, action, target, detail, created_at FROM audit_log "
            "WHERE centre_id=$1 ORDER BY id DESC LIMIT $2",
            centre_id,
            limit,
        )
        return [cls._from_row(row) for row in rows]
