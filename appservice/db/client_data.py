"""Rows about clients beyond ``person``: master-data values and counsellors' bookmarks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from appservice import contact_data as cd
from appservice.contact_data import ContactData


class MasterDataValue:
    """Values of a centre's master-data fields, per client (``client_master_data``)."""

    db: ClassVar[Database]
    contact: ClassVar[ContactData]

    @classmethod
    async def of(cls, user_id: str) -> dict[str, str]:
        rows = await cls.db.fetch(
            "SELECT key, value FROM client_master_data WHERE user_id=$1 ORDER BY key", user_id
        )
        return {row["key"]: _opened(cls.contact, user_id, row) for row in rows}

    @classmethod
    async def of_many(cls, user_ids: list[str]) -> dict[str, dict[str, str]]:
        """Values of several clients at once (for lists)."""
        found: dict[str, dict[str, str]] = {uid: {} for uid in user_ids}
        if not user_ids:
            return found
        marks = ", ".join(f"${i + 1}" for i in range(len(user_ids)))
        q = f"SELECT user_id, key, value FROM client_master_data WHERE user_id IN ({marks})"
        for row in await cls.db.fetch(q, *user_ids):
            found[row["user_id"]][row["key"]] = _opened(cls.contact, row["user_id"], row)
        return found

    @classmethod
    async def apply(cls, user_id: str, values: Mapping[str, str | None]) -> None:
        """Set the given fields at once; ``None`` or ``""`` removes a value."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            for key, value in values.items():
                await conn.execute(
                    "DELETE FROM client_master_data WHERE user_id=$1 AND key=$2", user_id, key
                )
                if value:
                    await conn.execute(
                        "INSERT INTO client_master_data (user_id, key, value) VALUES ($1, $2, $3)",
                        user_id,
                        key,
                        cls.contact.seal(value, cd.master_context(user_id, key)),
                    )


def _opened(contact: ContactData, user_id: str, row: Any) -> str:
    """A master-data value is sealed at rest, bound to its client and field."""
    return str(contact.open_value(row["value"], cd.master_context(user_id, row["key"])))


@dataclass(frozen=True)
class Bookmark:
    """One client on one counsellor's personal list (``bookmark``)."""

    db: ClassVar[Database]

    counsellor_id: str
    client_id: str
    created_at: int

    @classmethod
    async def toggle(cls, counsellor_id: str, client_id: str) -> bool:
        """Add the client, or remove them if already there; True when now on the list."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            gone = await conn.fetchval(
                "DELETE FROM bookmark WHERE counsellor_id=$1 AND client_id=$2 RETURNING client_id",
                counsellor_id,
                client_id,
            )
            if gone is not None:
                return False
            await conn.execute(
                "INSERT INTO bookmark (counsellor_id, client_id, created_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (counsellor_id, client_id) DO NOTHING",
                counsellor_id,
                client_id,
                int(time.time() * 1000),
            )
            return True

    @classmethod
    async def client_ids(cls, counsellor_id: str) -> list[str]:
        """The counsellor's bookmarked clients, oldest first."""
        rows = await cls.db.fetch(
            "SELECT client_id FROM bookmark WHERE counsellor_id=$1 ORDER BY created_at, client_id",
            counsellor_id,
        )
        return [row["client_id"] for row in rows]
