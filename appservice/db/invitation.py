"""Rows of ``invitation``: one-time links to the page where a person sets their password.

Three purposes share the table (the third, ``keep``, is a registration offer to an
anonymous person): ``invitation`` (the first password of an account nobody has
used yet, handed over by staff) and ``reset`` (a new password for an account in use, mailed
only to the person's confirmed address). Only a hash of each token is stored. A person has at
most one usable link of either purpose: creating one revokes the older ones. Using one is a
conditional UPDATE, so of two posts racing on the same link exactly one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from appservice import contact_data as cd
from appservice.clock import now_ms
from appservice.contact_data import ContactData

from .rows import rows_changed

VALID = "valid"
USED = "used"
REVOKED = "revoked"
EXPIRED = "expired"

INVITATION = "invitation"
RESET = "reset"
# A registration offer to an anonymous person: pseudonym and password for the account they
# already use (bots/accounts/anonymous_registration.py).
KEEP = "keep"
PURPOSES = (INVITATION, RESET, KEEP)


@dataclass
class Invitation:
    db: ClassVar[Database]
    contact: ClassVar[ContactData]
    _columns: ClassVar[str] = (
        "id, token_hash, user_id, centre_id, created_by, created_at, expires_at, sent_to, "
        "used_at, revoked_at, failed_attempts, purpose"
    )

    id: int
    token_hash: str
    user_id: str
    centre_id: str
    created_by: str
    created_at: int
    expires_at: int
    # The address the link was mailed to; None when it was handed over in person.
    sent_to: str | None = None
    used_at: int | None = None
    revoked_at: int | None = None
    failed_attempts: int = 0
    purpose: str = INVITATION

    def state(self, now_ms: int) -> str:
        """``valid``, or why not: ``used``, ``revoked`` (superseded, blocked), ``expired``."""
        if self.used_at is not None:
            return USED
        if self.revoked_at is not None:
            return REVOKED
        if now_ms >= self.expires_at:
            return EXPIRED
        return VALID

    @classmethod
    def _from_row(cls, row: Any) -> Invitation | None:
        if row is None:
            return None
        return cls(
            id=int(row["id"]),
            token_hash=row["token_hash"],
            user_id=row["user_id"],
            centre_id=row["centre_id"],
            created_by=row["created_by"],
            created_at=int(row["created_at"]),
            expires_at=int(row["expires_at"]),
            sent_to=_sent_to(cls.contact, row),
            used_at=row["used_at"],
            revoked_at=row["revoked_at"],
            failed_attempts=int(row["failed_attempts"]),
            purpose=row["purpose"],
        )

    @classmethod
    async def create(
        cls,
        token_hash: str,
        user_id: str,
        centre_id: str,
        created_by: str,
        expires_at: int,
        sent_to: str | None = None,
        purpose: str = INVITATION,
    ) -> Invitation:
        """Store a new link and revoke the person's older unused ones, in one go."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}")
        now = now_ms()
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE invitation SET revoked_at=$2 "
                "WHERE user_id=$1 AND used_at IS NULL AND revoked_at IS NULL",
                user_id,
                now,
            )
            row = await conn.fetchrow(
                "INSERT INTO invitation (token_hash, user_id, centre_id, created_by, created_at, "
                "expires_at, sent_to, purpose, sent_to_hash) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                f"RETURNING {cls._columns}",
                token_hash,
                user_id,
                centre_id,
                created_by,
                now,
                expires_at,
                cls.contact.seal(sent_to, cd.token_context("invitation", token_hash)),
                purpose,
                cls.contact.lookup(sent_to),
            )
        invitation = cls._from_row(row)
        assert invitation is not None
        return invitation

    @classmethod
    async def by_hash(cls, token_hash: str) -> Invitation | None:
        q = f"SELECT {cls._columns} FROM invitation WHERE token_hash=$1"
        return cls._from_row(await cls.db.fetchrow(q, token_hash))

    @classmethod
    async def latest_for(cls, user_id: str) -> Invitation | None:
        q = f"SELECT {cls._columns} FROM invitation WHERE user_id=$1 ORDER BY id DESC LIMIT 1"
        return cls._from_row(await cls.db.fetchrow(q, user_id))

    @classmethod
    async def count_since(cls, user_id: str, purpose: str, since_ms: int) -> int:
        """Links of this purpose made for the person since then (a mailbox is not flooded)."""
        q = "SELECT COUNT(*) FROM invitation WHERE user_id=$1 AND purpose=$2 AND created_at>=$3"
        return int(await cls.db.fetchval(q, user_id, purpose, since_ms))

    async def consume(self, now_ms: int) -> bool:
        """Mark as used if still valid; False when another request got there first."""
        # Only the person's newest link counts, even if two invitations were made at once.
        result = await self.db.execute(
            "UPDATE invitation SET used_at=$2 WHERE id=$1 AND used_at IS NULL "
            "AND revoked_at IS NULL AND expires_at > $2 AND NOT EXISTS (SELECT 1 FROM "
            "invitation newer WHERE newer.user_id=invitation.user_id AND newer.id > invitation.id)",
            self.id,
            now_ms,
        )
        if rows_changed(result) != 1:
            return False
        self.used_at = now_ms
        return True

    async def release(self) -> None:
        """Undo :meth:`consume` when the password could not be set (Synapse unreachable)."""
        await self.db.execute(
            "UPDATE invitation SET used_at=NULL WHERE id=$1 AND used_at=$2", self.id, self.used_at
        )
        self.used_at = None

    async def count_failure(self, limit: int) -> int:
        """Count a refused password; at ``limit`` the link is revoked. Returns the new count."""
        await self.db.execute(
            "UPDATE invitation SET failed_attempts=failed_attempts+1, revoked_at=CASE "
            "WHEN failed_attempts+1 >= $2 THEN COALESCE(revoked_at, $3) ELSE revoked_at END "
            "WHERE id=$1",
            self.id,
            limit,
            now_ms(),
        )
        row = await self.db.fetchrow(
            "SELECT failed_attempts, revoked_at FROM invitation WHERE id=$1", self.id
        )
        assert row is not None
        self.failed_attempts = int(row["failed_attempts"])
        self.revoked_at = row["revoked_at"]
        return self.failed_attempts

    @classmethod
    async def proven_address(cls, user_id: str) -> str | None:
        """The address of the person's newest *used* mailed link: they read that mailbox."""
        q = (
            "SELECT sent_to, token_hash FROM invitation WHERE user_id=$1 AND used_at IS NOT NULL "
            "AND sent_to IS NOT NULL ORDER BY used_at DESC, id DESC LIMIT 1"
        )
        row = await cls.db.fetchrow(q, user_id)
        return None if row is None else _sent_to(cls.contact, row)

    @classmethod
    async def revoke_for(cls, user_id: str) -> int:
        """Revoke every usable invitation of a person (locked, deleted); returns how many."""
        result = await cls.db.execute(
            "UPDATE invitation SET revoked_at=$2 "
            "WHERE user_id=$1 AND used_at IS NULL AND revoked_at IS NULL",
            user_id,
            now_ms(),
        )
        return rows_changed(result)

    @classmethod
    async def delete_for(cls, user_id: str) -> None:
        """Forget a person's invitations (the deletion routine erases the person)."""
        await cls.db.execute("DELETE FROM invitation WHERE user_id=$1", user_id)


def _sent_to(contact: ContactData, row: Any) -> str | None:
    """The address a link went to: sealed at rest, bound to the link (contact_data.py)."""
    return contact.open_value(row["sent_to"], cd.token_context("invitation", row["token_hash"]))
