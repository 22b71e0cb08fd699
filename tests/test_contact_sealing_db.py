"""Contact data sealed at rest (issue 12, point 4), on SQLite and PostgreSQL.

A client and a counsellor with rows in every table: the raw SQLite file (and its write-ahead
log) and every text or bytes column of every PostgreSQL table hold no address, phone number or
master-data value, yet Lotse reads them all back and finds rows by address. A database from
before the sealing (v22) is sealed by the upgrade without losing a value.
"""

from __future__ import annotations

from pathlib import Path

from mautrix.util.async_db import Database, UpgradeTable
from yarl import URL

from appservice.contact_data import ContactData
from appservice.db import (
    LotseDatabase,
    upgrade_table,
)
from appservice.db.upgrade.v22_sealed_contact_data import upgrade_v22
from mailgateway.rows import MailRows
from tests.conftest import TEST_CONTACT_KEY, opened
from tests.leftovers import traces
from tests.test_erasure_db import (
    ADDRESS,
    CLIENT,
    NEW_ADDRESS,
    PHONE,
    SHARED,
    fill_every_table,
)

POSTCODE = "20095-Altona"  # a master-data value unlikely to occur by chance
SECRETS = {
    "address": ADDRESS,
    "new address": NEW_ADDRESS,
    "shared address": SHARED,
    "phone": PHONE,
    "postcode": POSTCODE,
}


def _raw_sqlite(url: str) -> bytes:
    """The database file as it lies on disk, with its write-ahead log and journal if any."""
    path = Path(URL(url).path)
    data = b""
    for suffix in ("", "-wal", "-journal"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            data += part.read_bytes()
    return data


async def _nowhere(db: LotseDatabase, url: str) -> None:
    """No secret in any column (catalogue search), nor in the SQLite file's bytes."""
    found = await traces(db.main, SECRETS)
    assert found == set(), sorted((t.table, t.column, t.what) for t in found)
    if db.main.scheme.value == "sqlite":
        raw = _raw_sqlite(url).lower()
        for what, text in SECRETS.items():
            assert text.lower().encode() not in raw, what


async def _all_readable(rows: MailRows) -> None:
    """Lotse reads every sealed value back and finds rows by address (any case)."""
    client = await rows.Person.get(CLIENT)
    assert client is not None and client.email == ADDRESS and client.phone == PHONE
    assert (await rows.MasterDataValue.of(CLIENT))["postcode"] == POSTCODE
    assert CLIENT in await rows.Preferences.people_with_address(ADDRESS.upper())
    assert (await rows.Preferences.get(CLIENT)).confirmed_address == ADDRESS.lower()
    pending = await rows.Preferences.pending(CLIENT)
    assert pending is not None and pending.address == NEW_ADDRESS
    registration = await rows.Registration.by_hash("h-reg")
    assert registration is not None and registration.email == ADDRESS
    assert await rows.Registration.count_since(ADDRESS.lower(), 0) >= 1
    assert await rows.MailAddress.is_bouncing(ADDRESS) is False
    bounced = await rows.MailAddress.get(ADDRESS.upper())
    assert bounced is not None and bounced.hard_bounces == 1
    recipients = {m.recipient for m in await rows.Outbox.due(10**14)}
    assert ADDRESS in recipients


async def test_nothing_in_the_clear(database_url: str) -> None:
    async with opened(database_url) as db:
        await fill_every_table(db)
        await db.rows.MasterDataValue.apply(CLIENT, {"postcode": POSTCODE})
        await db.main.execute("PRAGMA wal_checkpoint") if db.main.scheme.value == "sqlite" else None
        await _nowhere(db, database_url)
        await _all_readable(MailRows(db))


def _before_sealing() -> UpgradeTable:
    """Lotse's migrations up to the one before contact data was sealed (v22)."""
    table = UpgradeTable(version_table_name="lotse_version", database_name="Lotse")
    table.upgrades = upgrade_table.upgrades[: upgrade_table.upgrades.index(upgrade_v22)]
    return table


async def test_upgrade_seals_existing_rows(database_url: str) -> None:
    """Rows written in the clear before v22 are sealed by the upgrade; every value reads back."""
    old = LotseDatabase(database_url, ContactData(TEST_CONTACT_KEY))
    old.main = Database.create(database_url, upgrade_table=_before_sealing(), owner_name="lotse")
    await old.start()
    try:
        conn = old.main
        await conn.execute(
            "INSERT INTO person (user_id, centre_id, role, created_at, email, phone) "
            "VALUES ($1, 'nord', 'client', 1, $2, $3)",
            CLIENT,
            ADDRESS,
            PHONE,
        )
        await conn.execute(
            "INSERT INTO client_master_data (user_id, key, value) VALUES ($1, 'postcode', $2)",
            CLIENT,
            POSTCODE,
        )
        await conn.execute(
            "INSERT INTO mail_preference (user_id, confirmed_address, confirmed_at) "
            "VALUES ($1, $2, 1)",
            CLIENT,
            ADDRESS.lower(),
        )
        await conn.execute(
            "INSERT INTO mail_confirmation (token_hash, user_id, address, created_at, "
            "expires_at) VALUES ('h-conf', $1, $2, 1, $3)",
            CLIENT,
            NEW_ADDRESS,
            10**14,
        )
        await conn.execute(
            "INSERT INTO registration (token_hash, centre_id, pseudonym, email, created_at, "
            "expires_at, user_id) VALUES ('h-reg', 'nord', 'Wolke', $1, 1, $2, $3)",
            ADDRESS,
            10**14,
            CLIENT,
        )
        await conn.execute(
            "INSERT INTO invitation (token_hash, user_id, centre_id, created_by, created_at, "
            "expires_at, sent_to, used_at) VALUES ('h-inv', $1, 'nord', $2, 1, 2, $3, 2)",
            CLIENT,
            "@admin:x",
            SHARED,
        )
        await conn.execute(
            "INSERT INTO mail_outbox (recipient, kind, lang, variables, not_before, created_at) "
            "VALUES ($1, 'new_request', 'de', '{}', 1, 1)",
            ADDRESS,
        )
        await conn.execute(
            "INSERT INTO mail_address (address, hard_bounces, status) VALUES ($1, 1, 'ok')",
            ADDRESS.lower(),
        )
    finally:
        await old.stop()

    async with opened(database_url) as db:
        await _nowhere(db, database_url)
        await _all_readable(MailRows(db))
        assert await db.rows.Invitation.proven_address(CLIENT) == SHARED
