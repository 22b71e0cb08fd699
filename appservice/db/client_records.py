"""Rows of ``client_note`` and ``client_document``: what counsellors keep about a client.

Texts arrive here already sealed (appservice/sealing.py); this layer never sees them in
clear. Every lookup is scoped to a centre, so an id typed in another centre finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from appservice.clock import now_ms

from .rows import rows_changed


@dataclass
class ClientNote:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, client_id, author_id, sealed_text, created_at, edited_at"
    )

    id: int
    centre_id: str
    client_id: str
    author_id: str
    sealed_text: str
    created_at: int
    edited_at: int | None = None

    @classmethod
    def _from_row(cls, row: Any) -> ClientNote:
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def add(cls, centre_id: str, client_id: str, author_id: str, sealed: str) -> int:
        q = (
            "INSERT INTO client_note (centre_id, client_id, author_id, sealed_text, created_at) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        return int(await cls.db.fetchval(q, centre_id, client_id, author_id, sealed, now_ms()))

    @classmethod
    async def for_client(cls, centre_id: str, client_id: str) -> list[ClientNote]:
        """Newest first, as the reference lists them."""
        q = (
            f"SELECT {cls._columns} FROM client_note WHERE centre_id=$1 AND client_id=$2 "
            "ORDER BY created_at DESC, id DESC"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id, client_id)]

    @classmethod
    async def get_in_centre(cls, note_id: int, centre_id: str) -> ClientNote | None:
        q = f"SELECT {cls._columns} FROM client_note WHERE id=$1 AND centre_id=$2"
        row = await cls.db.fetchrow(q, note_id, centre_id)
        return cls._from_row(row) if row else None

    @classmethod
    async def edit(cls, note_id: int, author_id: str, sealed: str) -> bool:
        """Only the author edits; False when the note is gone or someone else's."""
        result = await cls.db.execute(
            "UPDATE client_note SET sealed_text=$3, edited_at=$4 WHERE id=$1 AND author_id=$2",
            note_id,
            author_id,
            sealed,
            now_ms(),
        )
        return rows_changed(result) == 1

    @classmethod
    async def delete(cls, note_id: int, author_id: str) -> bool:
        result = await cls.db.execute(
            "DELETE FROM client_note WHERE id=$1 AND author_id=$2", note_id, author_id
        )
        return rows_changed(result) == 1

    @classmethod
    async def delete_for_client(cls, client_id: str) -> int:
        """For the deletion routine: a client erased for good takes their notes along."""
        result = await cls.db.execute("DELETE FROM client_note WHERE client_id=$1", client_id)
        return rows_changed(result)


@dataclass
class ClientDocument:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, client_id, uploader_id, kind, size, sealed_ref, created_at"
    )

    id: int
    centre_id: str
    client_id: str
    uploader_id: str
    kind: str
    size: int
    sealed_ref: str
    created_at: int

    @classmethod
    def _from_row(cls, row: Any) -> ClientDocument:
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def add(
        cls, centre_id: str, client_id: str, uploader_id: str, kind: str, size: int, sealed: str
    ) -> int:
        q = (
            "INSERT INTO client_document (centre_id, client_id, uploader_id, kind, size, "
            "sealed_ref, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        value = await cls.db.fetchval(
            q, centre_id, client_id, uploader_id, kind, size, sealed, now_ms()
        )
        return int(value)

    @classmethod
    async def of_uploader(
        cls, centre_id: str, uploader_id: str, client_id: str
    ) -> list[ClientDocument]:
        """Only what this counsellor uploaded about this client, newest first."""
        q = (
            f"SELECT {cls._columns} FROM client_document WHERE centre_id=$1 AND uploader_id=$2 "
            "AND client_id=$3 ORDER BY created_at DESC, id DESC"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id, uploader_id, client_id)]

    @classmethod
    async def of_client(cls, client_id: str) -> list[ClientDocument]:
        """Every counsellor's documents on the client: only for erasing them."""
        q = f"SELECT {cls._columns} FROM client_document WHERE client_id=$1 ORDER BY id"
        return [cls._from_row(r) for r in await cls.db.fetch(q, client_id)]

    @classmethod
    async def uploaded_by(cls, uploader_id: str) -> list[ClientDocument]:
        """Every document a counsellor uploaded, on any client: only for erasing them."""
        q = f"SELECT {cls._columns} FROM client_document WHERE uploader_id=$1 ORDER BY id"
        return [cls._from_row(r) for r in await cls.db.fetch(q, uploader_id)]

    @classmethod
    async def get_own(
        cls, document_id: int, centre_id: str, uploader_id: str
    ) -> ClientDocument | None:
        """Someone else's document is reported as unknown: its existence is not theirs to see."""
        q = (
            f"SELECT {cls._columns} FROM client_document WHERE id=$1 AND centre_id=$2 "
            "AND uploader_id=$3"
        )
        row = await cls.db.fetchrow(q, document_id, centre_id, uploader_id)
        return cls._from_row(row) if row else None

    @classmethod
    async def delete(cls, document_id: int, uploader_id: str) -> bool:
        result = await cls.db.execute(
            "DELETE FROM client_document WHERE id=$1 AND uploader_id=$2", document_id, uploader_id
        )
        return rows_changed(result) == 1
