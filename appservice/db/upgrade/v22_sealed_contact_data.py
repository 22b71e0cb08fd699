"""v22: contact data sealed at rest, found by keyed hashes (appservice/contact_data.py).

Adds a hash column beside every address column and seals what was stored in the clear:
``person.email``/``phone``, ``client_master_data.value``, ``mail_preference``'s confirmed
address, ``mail_confirmation.address``, ``registration.email``, ``invitation.sent_to`` and
``mail_outbox.recipient``; ``mail_address`` keeps only the hash as its key. Values already
sealed (or hashed) are left alone, so a run cut short simply runs again.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from appservice import contact_data as cd
from appservice.contact_data import ContactData

from . import upgrade_table, with_contact

# (table, plain column, hash column, key columns that name the row, context of the row)
_ADDRESS_COLUMNS = (
    ("mail_preference", "confirmed_address", "confirmed_hash", ("user_id",)),
    ("mail_confirmation", "address", "address_hash", ("token_hash",)),
    ("registration", "email", "email_hash", ("token_hash",)),
    ("invitation", "sent_to", "sent_to_hash", ("token_hash",)),
    ("mail_outbox", "recipient", "recipient_hash", ("id",)),
    ("person", "email", "email_hash", ("user_id",)),
)


def _context(table: str, key: str, hashed: str | None) -> str:
    if table == "mail_preference":
        return cd.preference_context(key)
    if table == "person":
        return cd.person_context(key, "email")
    if table == "mail_outbox":
        return cd.outbox_context(hashed or "")
    return cd.token_context(table, key)


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Contact data sealed at rest")  # type: ignore[call-arg,arg-type,has-type]
@with_contact
async def upgrade_v22(conn: Connection, scheme: Scheme, contact: ContactData | None = None) -> None:
    """Seals with the database's own key (``upgrade_table_for(contact)`` passes it)."""
    if contact is None:
        raise RuntimeError("v22 seals contact data: run the upgrades of upgrade_table_for()")
    for table, _, hashed, _ in _ADDRESS_COLUMNS:
        await conn.execute(f"ALTER TABLE {table} ADD COLUMN {hashed} TEXT")
        await conn.execute(f"CREATE INDEX {table}_{hashed}_idx ON {table} ({hashed})")
    await seal_existing(conn, contact)


async def seal_existing(conn: Connection, contact: ContactData) -> None:
    """Seal every contact value still in the clear (idempotent)."""
    for table, column, hashed, (key,) in _ADDRESS_COLUMNS:
        rows = await conn.fetch(f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL")
        for row in rows:
            plain = row[column]
            if not plain or cd.is_sealed(plain):
                continue
            digest = contact.lookup(plain)
            sealed = contact.seal(plain, _context(table, str(row[key]), digest))
            await conn.execute(
                f"UPDATE {table} SET {column}=$2, {hashed}=$3 WHERE {key}=$1",
                row[key],
                sealed,
                digest,
            )
    for row in await conn.fetch("SELECT user_id, phone FROM person WHERE phone IS NOT NULL"):
        if row["phone"] and not cd.is_sealed(row["phone"]):
            sealed = contact.seal(row["phone"], cd.person_context(row["user_id"], "phone"))
            await conn.execute(
                "UPDATE person SET phone=$2 WHERE user_id=$1", row["user_id"], sealed
            )
    for row in await conn.fetch("SELECT user_id, key, value FROM client_master_data"):
        if not cd.is_sealed(row["value"]):
            sealed = contact.seal(row["value"], cd.master_context(row["user_id"], row["key"]))
            await conn.execute(
                "UPDATE client_master_data SET value=$3 WHERE user_id=$1 AND key=$2",
                row["user_id"],
                row["key"],
                sealed,
            )
    for row in await conn.fetch("SELECT address FROM mail_address"):
        if not row["address"].startswith(cd.HASH_PREFIX):
            await conn.execute(
                "UPDATE mail_address SET address=$2 WHERE address=$1",
                row["address"],
                contact.lookup(row["address"]),
            )
