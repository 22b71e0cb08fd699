"""Rows of ``mail_address``: bounce count and auto-answer time per address, nothing else.

All times are milliseconds since the epoch, like the other Lotse tables. The row's key is
the address's keyed hash (appservice/contact_data.py), never the address: ``Anna@Example.org``
and ``anna@example.org`` share one row, and a dump shows no address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from appservice import contact_data
from appservice.clock import now_ms
from appservice.contact_data import ContactData
from appservice.db import rows_changed

OK = "ok"
BOUNCING = "bouncing"


def normalize(address: str) -> str:
    """An address as compared: trimmed and lower-cased."""
    return contact_data.normalize(address)


def _key(contact: ContactData, address: str) -> str:
    """The row's key: the keyed hash of the normalised address."""
    return contact.lookup(address) or ""


@dataclass
class MailAddress:
    """Status of one address; the class methods are the whole API (``db`` bound at start)."""

    db: ClassVar[Database]
    contact: ClassVar[ContactData]
    _columns: ClassVar[str] = "address, hard_bounces, status, last_bounce_at, auto_answered_at"

    address: str
    hard_bounces: int = 0
    status: str = OK
    last_bounce_at: int | None = None
    auto_answered_at: int | None = None

    @classmethod
    def _from_row(cls, row: Any) -> MailAddress | None:
        if row is None:
            return None
        return cls(
            address=row["address"],
            hard_bounces=row["hard_bounces"],
            status=row["status"],
            last_bounce_at=row["last_bounce_at"],
            auto_answered_at=row["auto_answered_at"],
        )

    @classmethod
    async def get(cls, address: str) -> MailAddress | None:
        q = f"SELECT {cls._columns} FROM mail_address WHERE address=$1"
        return cls._from_row(await cls.db.fetchrow(q, _key(cls.contact, address)))

    @classmethod
    async def record_hard_bounce(
        cls, address: str, threshold: int = 3, now: int | None = None
    ) -> bool:
        """Count one hard bounce; True only for the bounce that made the address ``bouncing``.

        The status switch is a conditional UPDATE, so two pollers racing on the same
        address still report the transition once (the admin room is told once).
        """
        key = _key(cls.contact, address)
        at = now_ms() if now is None else now
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO mail_address (address, hard_bounces, status, last_bounce_at) "
                "VALUES ($1, 1, $2, $3) ON CONFLICT (address) DO UPDATE SET "
                "hard_bounces=mail_address.hard_bounces+1, last_bounce_at=excluded.last_bounce_at",
                key,
                OK,
                at,
            )
            result = await conn.execute(
                "UPDATE mail_address SET status=$2 "
                "WHERE address=$1 AND status=$3 AND hard_bounces >= $4",
                key,
                BOUNCING,
                OK,
                threshold,
            )
            return rows_changed(result) > 0

    @classmethod
    async def is_bouncing(cls, address: str) -> bool:
        # While a key rotation runs, the row may still be under the previous key's hash.
        digests = cls.contact.lookups(address)
        where = contact_data.any_of("address", 1, len(digests))
        rows = await cls.db.fetch(f"SELECT status FROM mail_address WHERE {where}", *digests)
        return any(row["status"] == BOUNCING for row in rows)

    @classmethod
    async def mark_auto_answered(cls, address: str, now: int, min_interval: int) -> bool:
        """Claim the auto-answer for ``address`` at ``now`` (ms); False if one was sent less
        than ``min_interval`` ms ago. One statement, so concurrent claims cannot both win."""
        result = await cls.db.execute(
            "INSERT INTO mail_address (address, hard_bounces, status, auto_answered_at) "
            "VALUES ($1, 0, $2, $3) ON CONFLICT (address) DO UPDATE SET "
            "auto_answered_at=excluded.auto_answered_at "
            "WHERE mail_address.auto_answered_at IS NULL "
            "OR mail_address.auto_answered_at <= $4",
            _key(cls.contact, address),
            OK,
            now,
            now - min_interval,
        )
        return rows_changed(result) > 0

    @classmethod
    async def reset(cls, address: str) -> None:
        """Forget the bounces (e.g. after the person confirmed the address again).

        ``auto_answered_at`` stays, so a reset cannot re-open an auto-answer loop.
        """
        await cls.db.execute(
            "UPDATE mail_address SET hard_bounces=0, status=$2, last_bounce_at=NULL "
            "WHERE address=$1",
            _key(cls.contact, address),
            OK,
        )
