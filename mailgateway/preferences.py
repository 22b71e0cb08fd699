"""Rows of ``mail_preference`` and ``mail_confirmation``: who wants which mail, and the
double opt-in that must succeed before an address gets anything but its confirmation.

The address itself lives in ``person.email`` (one place for staff, the invitation and this
module). An address is confirmed while ``person.email`` equals ``confirmed_address``: if
anyone changes ``person.email``, it is unconfirmed again without further bookkeeping.
Confirmation tokens are stored as SHA-256 hashes only, expire, and work once. Addresses are
sealed at rest and found by their keyed hash (appservice/contact_data.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from appservice import contact_data as cd
from appservice.clock import now_ms
from appservice.contact_data import ContactData
from appservice.db import rows_changed

from .addresses import normalize

DEFAULT_DELAY_MINUTES = 15
MIN_DELAY_MINUTES = 0
MAX_DELAY_MINUTES = 24 * 60
TOKEN_HOURS = 48


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class MailPreference:
    user_id: str
    confirmed_address: str | None = None
    confirmed_at: int | None = None
    notifications: bool = True
    delay_minutes: int = DEFAULT_DELAY_MINUTES

    def confirmed_for(self, email: str | None) -> bool:
        """Whether ``email`` (the person's current address) is the one they confirmed."""
        return bool(email) and self.confirmed_address == normalize(email or "")


@dataclass(frozen=True)
class PendingConfirmation:
    address: str
    expires_at: int


class Preferences:
    """SQL for ``mail_preference``; a person without a row has the defaults."""

    db: ClassVar[Database]
    contact: ClassVar[ContactData]
    _columns: ClassVar[str] = (
        "user_id, confirmed_address, confirmed_at, notifications, delay_minutes"
    )

    @classmethod
    async def get(cls, user_id: str) -> MailPreference:
        row = await cls.db.fetchrow(
            f"SELECT {cls._columns} FROM mail_preference WHERE user_id=$1", user_id
        )
        return cls._from_row(row) if row is not None else MailPreference(user_id)

    @classmethod
    def _from_row(cls, row: Any) -> MailPreference:
        return MailPreference(
            user_id=row["user_id"],
            confirmed_address=cls.contact.open_value(
                row["confirmed_address"], cd.preference_context(row["user_id"])
            ),
            confirmed_at=row["confirmed_at"],
            notifications=bool(row["notifications"]),
            delay_minutes=int(row["delay_minutes"]),
        )

    @classmethod
    async def set_notifications(cls, user_id: str, on: bool) -> None:
        await cls.db.execute(
            "INSERT INTO mail_preference (user_id, notifications) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET notifications=excluded.notifications",
            user_id,
            on,
        )

    @classmethod
    async def set_delay(cls, user_id: str, minutes: int) -> None:
        if not MIN_DELAY_MINUTES <= minutes <= MAX_DELAY_MINUTES:
            raise ValueError("delay out of range")
        await cls.db.execute(
            "INSERT INTO mail_preference (user_id, delay_minutes) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET delay_minutes=excluded.delay_minutes",
            user_id,
            minutes,
        )

    @classmethod
    async def mark_confirmed(cls, user_id: str, address: str, now: int | None = None) -> None:
        """Record ``address`` as confirmed by ``user_id`` (also for the invitation page: a
        person who completed an invitation sent to this address has proven they read it).
        The caller sets ``person.email`` to the same address."""
        await cls.db.execute(
            "INSERT INTO mail_preference (user_id, confirmed_address, confirmed_at, "
            "confirmed_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET "
            "confirmed_address=excluded.confirmed_address, confirmed_at=excluded.confirmed_at, "
            "confirmed_hash=excluded.confirmed_hash",
            user_id,
            cls.contact.seal(normalize(address), cd.preference_context(user_id)),
            now_ms() if now is None else now,
            cls.contact.lookup(address),
        )

    @classmethod
    async def forget_address(cls, user_id: str) -> None:
        """``email off``: the confirmation and every open link are gone."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE mail_preference SET confirmed_address=NULL, confirmed_at=NULL, "
                "confirmed_hash=NULL WHERE user_id=$1",
                user_id,
            )
            await conn.execute("DELETE FROM mail_confirmation WHERE user_id=$1", user_id)

    @classmethod
    async def forget_person(cls, user_id: str) -> None:
        """Erase every mail row of a person (the deletion routine calls this)."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            for table in ("mail_preference", "mail_confirmation", "room_notice"):
                await conn.execute(f"DELETE FROM {table} WHERE user_id=$1", user_id)

    # --- double opt-in ----------------------------------------------------------------------

    @classmethod
    async def start_confirmation(
        cls, user_id: str, address: str, hours: int = TOKEN_HOURS, now: int | None = None
    ) -> str:
        """A new one-time token for ``address``; earlier open links of the person stop working."""
        token = secrets.token_urlsafe(32)
        digest = hash_token(token)
        at = now_ms() if now is None else now
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            # Older open links stop working; the rows stay a day to count recent requests.
            await conn.execute(
                "UPDATE mail_confirmation SET expires_at=$2 "
                "WHERE user_id=$1 AND used_at IS NULL AND expires_at>$2",
                user_id,
                at,
            )
            await conn.execute(
                "INSERT INTO mail_confirmation (token_hash, user_id, address, created_at, "
                "expires_at, address_hash) VALUES ($1, $2, $3, $4, $5, $6)",
                digest,
                user_id,
                cls.contact.seal(normalize(address), cd.token_context("mail_confirmation", digest)),
                at,
                at + hours * 3600 * 1000,
                cls.contact.lookup(address),
            )
        return token

    @classmethod
    async def pending(cls, user_id: str, now: int | None = None) -> PendingConfirmation | None:
        row = await cls.db.fetchrow(
            "SELECT address, expires_at, token_hash FROM mail_confirmation "
            "WHERE user_id=$1 AND used_at IS NULL AND expires_at>$2 "
            "ORDER BY created_at DESC LIMIT 1",
            user_id,
            now_ms() if now is None else now,
        )
        if row is None:
            return None
        return PendingConfirmation(
            address=_address_of(cls.contact, row), expires_at=int(row["expires_at"])
        )

    @classmethod
    async def redeem(cls, token: str, now: int | None = None) -> tuple[str, str] | None:
        """Use a token once: (user_id, address), or None if unknown, used or expired.

        The claim is one conditional UPDATE, so two clicks on the same link cannot both win.
        """
        at = now_ms() if now is None else now
        digest = hash_token(token)
        result = await cls.db.execute(
            "UPDATE mail_confirmation SET used_at=$2 "
            "WHERE token_hash=$1 AND used_at IS NULL AND expires_at>$2",
            digest,
            at,
        )
        if rows_changed(result) == 0:
            return None
        row = await cls.db.fetchrow(
            "SELECT user_id, address, token_hash FROM mail_confirmation WHERE token_hash=$1",
            digest,
        )
        assert row is not None
        return row["user_id"], _address_of(cls.contact, row)

    @classmethod
    async def peek(cls, token: str, now: int | None = None) -> str | None:
        """The user id of a token that would still work (shown before the person clicks)."""
        return await cls.db.fetchval(
            "SELECT user_id FROM mail_confirmation "
            "WHERE token_hash=$1 AND used_at IS NULL AND expires_at>$2",
            hash_token(token),
            now_ms() if now is None else now,
        )

    @classmethod
    async def people_with_address(cls, address: str) -> list[str]:
        """Who uses ``address`` or waits to confirm it (for the admins' bounce notices)."""
        digests = cls.contact.lookups(address)
        n = len(digests)
        rows = await cls.db.fetch(
            f"SELECT user_id FROM person WHERE {cd.any_of('email_hash', 1, n)} "
            f"UNION SELECT user_id FROM mail_confirmation WHERE "
            f"{cd.any_of('address_hash', 1, n)}",
            *digests,
        )
        return sorted(row["user_id"] for row in rows)

    @classmethod
    async def is_confirmed_address(cls, address: str) -> bool:
        """Whether ``address`` is the confirmed address of a person not deleted (the only
        addresses the IMAP auto-answer may go to)."""
        return bool(await cls.people_confirmed_at(address))

    @classmethod
    async def people_confirmed_at(cls, address: str) -> list[str]:
        """The people whose confirmed address ``address`` is (where a reset link may go)."""
        digests = cls.contact.lookups(address)
        n = len(digests)
        rows = await cls.db.fetch(
            "SELECT p.user_id FROM mail_preference p JOIN person ON person.user_id=p.user_id "
            f"WHERE {cd.any_of('p.confirmed_hash', 1, n)} "
            f"AND {cd.any_of('person.email_hash', 1, n)} "
            "AND person.deleted_at IS NULL ORDER BY p.user_id",
            *digests,
        )
        return [row["user_id"] for row in rows]

    @classmethod
    async def recent_confirmations(cls, user_id: str, since: int) -> int:
        """How many links ``user_id`` asked for since ``since`` (ms): a limit against using
        Lotse to flood someone else's mailbox."""
        count = await cls.db.fetchval(
            "SELECT COUNT(*) FROM mail_confirmation WHERE user_id=$1 AND created_at>=$2",
            user_id,
            since,
        )
        return int(count)

    @classmethod
    async def prune_confirmations(cls, now: int | None = None) -> None:
        """Drop links that ended more than a day ago (a scheduler job)."""
        day_ago = (now_ms() if now is None else now) - 24 * 3600 * 1000
        await cls.db.execute(
            "DELETE FROM mail_confirmation WHERE expires_at<=$1 OR used_at<=$1", day_ago
        )


def _address_of(contact: ContactData, row: Any) -> str:
    """The sealed address of a ``mail_confirmation`` row, opened."""
    context = cd.token_context("mail_confirmation", row["token_hash"])
    return str(contact.open_value(row["address"], context))
