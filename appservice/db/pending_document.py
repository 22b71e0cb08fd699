"""Rows of ``pending_document``: after `doc CLIENT`, whose next file belongs to which client.

In the database rather than in memory so that a restart between the announcement and the
file loses nothing; the expiry is a wall-clock time for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from .rows import rows_changed


@dataclass(frozen=True)
class PendingDocument:
    db: ClassVar[Database]
    _columns: ClassVar[str] = "uploader_id, centre_id, client_id, until_at"

    uploader_id: str
    centre_id: str
    client_id: str
    until_at: int

    @classmethod
    def _from_row(cls, row: Any) -> PendingDocument | None:
        return cls(**{k: row[k] for k in cls._columns.split(", ")}) if row is not None else None

    @classmethod
    async def announce(cls, uploader_id: str, centre_id: str, client_id: str, until: int) -> None:
        """Wait for the uploader's next file until ``until`` (ms); replaces an earlier one."""
        await cls.db.execute(
            "INSERT INTO pending_document (uploader_id, centre_id, client_id, until_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (uploader_id) DO UPDATE SET "
            "centre_id=excluded.centre_id, client_id=excluded.client_id, "
            "until_at=excluded.until_at",
            uploader_id,
            centre_id,
            client_id,
            until,
        )

    @classmethod
    async def current(cls, uploader_id: str, now: int) -> PendingDocument | None:
        """The uploader's announcement if it has not expired; an expired one is dropped."""
        await cls.db.execute(
            "DELETE FROM pending_document WHERE uploader_id=$1 AND until_at < $2",
            uploader_id,
            now,
        )
        q = f"SELECT {cls._columns} FROM pending_document WHERE uploader_id=$1"
        return cls._from_row(await cls.db.fetchrow(q, uploader_id))

    @classmethod
    async def take(cls, uploader_id: str, client_id: str) -> bool:
        """Use up the announcement for one file; of two files at once exactly one gets it."""
        result = await cls.db.execute(
            "DELETE FROM pending_document WHERE uploader_id=$1 AND client_id=$2",
            uploader_id,
            client_id,
        )
        return rows_changed(result) == 1
