"""Rows of ``registration``: self-registrations waiting for their address to be confirmed.

The mailed link is stored as a hash only; confirming is a conditional UPDATE, so of two
clicks exactly one creates the account. Rows are short-lived: the deletion routine (or
:meth:`Registration.prune`) removes old ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from appservice import contact_data as cd
from appservice.clock import now_ms
from appservice.contact_data import ContactData

from .rows import rows_changed


@dataclass
class Registration:
    db: ClassVar[Database]
    contact: ClassVar[ContactData]
    _columns: ClassVar[str] = (
        "id, token_hash, centre_id, pseudonym, email, created_at, expires_at, confirmed_at, user_id"
    )

    id: int
    token_hash: str
    centre_id: str
    pseudonym: str
    email: str
    created_at: int
    expires_at: int
    confirmed_at: int | None = None
    user_id: str | None = None

    def usable(self, now_ms: int) -> bool:
        return self.confirmed_at is None and now_ms < self.expires_at

    @classmethod
    def _from_row(cls, row: Any) -> Registration | None:
        if row is None:
            return None
        return cls(
            id=int(row["id"]),
            token_hash=row["token_hash"],
            centre_id=row["centre_id"],
            pseudonym=row["pseudonym"],
            email=str(
                cls.contact.open_value(
                    row["email"], cd.token_context("registration", row["token_hash"])
                )
            ),
            created_at=int(row["created_at"]),
            expires_at=int(row["expires_at"]),
            confirmed_at=row["confirmed_at"],
            user_id=row["user_id"],
        )

    @classmethod
    async def create(
        cls, token_hash: str, centre_id: str, pseudonym: str, email: str, expires_at: int
    ) -> int:
        q = (
            "INSERT INTO registration (token_hash, centre_id, pseudonym, email, created_at, "
            "expires_at, email_hash) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        now = now_ms()
        sealed = cls.contact.seal(email, cd.token_context("registration", token_hash))
        digest = cls.contact.lookup(email)
        return int(
            await cls.db.fetchval(
                q, token_hash, centre_id, pseudonym, sealed, now, expires_at, digest
            )
        )

    @classmethod
    async def by_hash(cls, token_hash: str) -> Registration | None:
        q = f"SELECT {cls._columns} FROM registration WHERE token_hash=$1"
        return cls._from_row(await cls.db.fetchrow(q, token_hash))

    @classmethod
    async def count_since(cls, address_key: str, since_ms: int) -> int:
        """Registrations asked for this address since then (a mailbox is not spammed).

        ``address_key`` is the normalised address (trimmed, lower-case): ``Anna@X.org`` and
        ``anna@x.org`` are one mailbox and share one limit.
        """
        digests = cls.contact.lookups(address_key)
        q = "SELECT COUNT(*) FROM registration WHERE created_at >= $1 AND " + cd.any_of(
            "email_hash", 2, len(digests)
        )
        return int(await cls.db.fetchval(q, since_ms, *digests))

    async def confirm(self, now_ms: int) -> bool:
        """Mark confirmed if still open; False when another click got there first."""
        result = await self.db.execute(
            "UPDATE registration SET confirmed_at=$2 WHERE id=$1 AND confirmed_at IS NULL "
            "AND expires_at > $2",
            self.id,
            now_ms,
        )
        if rows_changed(result) != 1:
            return False
        self.confirmed_at = now_ms
        return True

    async def unconfirm(self) -> None:
        """Undo :meth:`confirm` when the account could not be created."""
        await self.db.execute(
            "UPDATE registration SET confirmed_at=NULL WHERE id=$1 AND user_id IS NULL", self.id
        )
        self.confirmed_at = None

    async def set_user(self, user_id: str) -> None:
        await self.db.execute("UPDATE registration SET user_id=$2 WHERE id=$1", self.id, user_id)
        self.user_id = user_id

    @classmethod
    async def prune(cls, before_ms: int) -> None:
        """Forget registrations that expired before then (their addresses included)."""
        await cls.db.execute("DELETE FROM registration WHERE expires_at < $1", before_ms)
