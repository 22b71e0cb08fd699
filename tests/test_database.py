"""Lotse's database on SQLite and PostgreSQL: migrations, people, the event inbox, bot state."""

from __future__ import annotations

import asyncio

import pytest
from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.crypto import PgCryptoStore
from mautrix.util.async_db import Scheme, UnsupportedDatabaseVersion

from appservice.contact_data import ContactData
from appservice.db import LotseDatabase, upgrade_table
from tests.conftest import TEST_CONTACT_KEY, opened

LOTSE_TABLES = {"person", "event_inbox", "bot_state", "invitation", "registration"}
VERSION_TABLES = {
    "lotse_version": len(upgrade_table.upgrades),
    "crypto_version": len(PgCryptoStore.upgrade_table.upgrades),
    "mx_version": len(PgASStateStore.upgrade_table.upgrades),
}


async def _tables(db: LotseDatabase) -> set[str]:
    if db.main.scheme == Scheme.SQLITE:
        rows = await db.main.fetch("SELECT name FROM sqlite_master WHERE type='table'")
        return {row["name"] for row in rows}
    rows = await db.main.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
    return {row["tablename"] for row in rows}


async def test_fresh_database_gets_all_tables(database_url: str) -> None:
    """Starting on an empty database creates Lotse's, mautrix's and the version tables at latest."""
    async with opened(database_url) as db:
        tables = await _tables(db)
        assert LOTSE_TABLES <= tables
        assert any(t.startswith("crypto_") and t != "crypto_version" for t in tables), tables
        assert any(t.startswith("mx_") and t != "mx_version" for t in tables), tables
        assert {"crypto_account", "crypto_olm_session", "mx_room_state"} <= tables
        for table, latest in VERSION_TABLES.items():
            assert table in tables
            rows = await db.main.fetch(f"SELECT version FROM {table}")
            assert [row["version"] for row in rows] == [latest], table


async def test_second_start_is_a_noop(database_url: str) -> None:
    """A second start on the same database keeps the data and the versions unchanged."""
    async with opened(database_url) as db:
        await db.rows.Person.upsert("@keep:lotse.test", "nord", "client")
        await db.set_state("k", "v")
    async with opened(database_url) as db:
        person = await db.rows.Person.get("@keep:lotse.test")
        assert person is not None and person.centre_id == "nord"
        assert await db.get_state("k") == "v"
        for table, latest in VERSION_TABLES.items():
            rows = await db.main.fetch(f"SELECT version FROM {table}")
            assert [row["version"] for row in rows] == [latest], table


async def test_newer_database_is_refused(database_url: str) -> None:
    """A database whose lotse_version is beyond what the code knows is refused at start."""
    async with opened(database_url) as db:
        await db.main.execute(
            "UPDATE lotse_version SET version=$1", len(upgrade_table.upgrades) + 1
        )
    db = LotseDatabase(database_url, ContactData(TEST_CONTACT_KEY))
    with pytest.raises(UnsupportedDatabaseVersion):
        await db.start()  # and it closes its pool again by itself


async def test_person_upsert_get_and_service_room(database_url: str) -> None:
    """upsert creates and updates a person; a service room moves from its old holder to the new."""
    async with opened(database_url) as db:
        assert await db.rows.Person.get("@anna:lotse.test") is None
        anna = await db.rows.Person.upsert("@anna:lotse.test", "nord", "client")
        assert (anna.centre_id, anna.role, anna.service_room_id, anna.welcomed) == (
            "nord",
            "client",
            None,
            False,
        )
        assert anna.created_at > 0
        with pytest.raises(ValueError):
            await db.rows.Person.upsert("@anna:lotse.test", "nord", "pope")

        await anna.set_service_room("!room:lotse.test")
        found = await db.rows.Person.by_service_room("!room:lotse.test")
        assert found is not None and found.user_id == "@anna:lotse.test"

        # A centre/role change keeps the service room.
        anna = await db.rows.Person.upsert("@anna:lotse.test", "south", "counsellor")
        assert (anna.centre_id, anna.role) == ("south", "counsellor")
        assert anna.service_room_id == "!room:lotse.test"

        ben = await db.rows.Person.upsert("@ben:lotse.test", "nord", "client")
        await ben.set_service_room("!room:lotse.test")
        holder = await db.rows.Person.by_service_room("!room:lotse.test")
        assert holder is not None and holder.user_id == "@ben:lotse.test"
        old = await db.rows.Person.get("@anna:lotse.test")
        assert old is not None and old.service_room_id is None
        assert await db.rows.Person.by_service_room("!elsewhere:lotse.test") is None
        assert [p.user_id for p in await db.rows.Person.all_in_centre("nord")] == [
            "@ben:lotse.test"
        ]


async def test_centre_people_by_role_read_only_those(database_url: str) -> None:
    """Asking for a centre's staff (or admins) reads only them, in user-id order, and never
    another centre's: the start and every intake ask so in centres with thousands of clients."""
    async with opened(database_url) as db:
        for user_id, centre, role in (
            ("@c1:lotse.test", "nord", "client"),
            ("@b2:lotse.test", "nord", "counsellor"),
            ("@a3:lotse.test", "nord", "admin"),
            ("@d4:lotse.test", "south", "admin"),
            ("@e5:lotse.test", "nord", "client"),
        ):
            await db.rows.Person.upsert(user_id, centre, role)
        cases = {
            None: ["@a3:lotse.test", "@b2:lotse.test", "@c1:lotse.test", "@e5:lotse.test"],
            ("counsellor", "admin"): ["@a3:lotse.test", "@b2:lotse.test"],
            ("admin",): ["@a3:lotse.test"],
            ("client",): ["@c1:lotse.test", "@e5:lotse.test"],
        }
        for roles, expected in cases.items():
            found = await db.rows.Person.all_in_centre("nord", roles=roles)
            assert [p.user_id for p in found] == expected, roles


async def test_welcome_marked_only_once(database_url: str) -> None:
    """mark_welcomed is True the first time only; a new service room makes the welcome due again."""
    async with opened(database_url) as db:
        cleo = await db.rows.Person.upsert("@cleo:lotse.test", "nord", "client")
        await cleo.set_service_room("!a:lotse.test")
        assert await cleo.mark_welcomed() is True
        assert await cleo.mark_welcomed() is False
        again = await db.rows.Person.get("@cleo:lotse.test")
        assert again is not None and again.welcomed is True
        assert await again.mark_welcomed() is False
        await again.set_service_room("!b:lotse.test")
        assert (await db.rows.Person.get("@cleo:lotse.test")).welcomed is False  # type: ignore[union-attr]
        assert await again.mark_welcomed() is True


def _evt(event_id: str, room: str = "!r:lotse.test", body: str = "x") -> dict:
    return {
        "event_id": event_id,
        "room_id": room,
        "type": "m.room.message",
        "sender": "@s:lotse.test",
        "origin_server_ts": 1,
        "content": {"body": body},
    }


async def test_inbox_deduplicates_by_event_id(database_url: str) -> None:
    """One event id in one call or across calls is stored once; id-less entries are not."""
    async with opened(database_url) as db:
        new = await db.rows.Inbox.add_many([_evt("$a"), _evt("$a", body="again"), _evt("$b")])
        assert new == 2
        assert await db.rows.Inbox.add_many([_evt("$b"), _evt("$a")]) == 0
        no_id = {"room_id": "!r:lotse.test", "type": "m.room.message"}
        no_room = {"event_id": "$c", "type": "m.room.message"}
        assert await db.rows.Inbox.add_many([no_id, no_room, {"event_id": 5, "room_id": "!r"}]) == 0
        assert await db.rows.Inbox.add_many([_evt("$c")]) == 1
        assert await db.main.fetchval("SELECT COUNT(*) FROM event_inbox") == 3
        pending = await db.rows.Inbox.pending()
        assert [p.event_id for p in pending] == ["$a", "$b", "$c"]
        assert pending[0].payload["content"] == {"body": "x"}  # the first copy wins
        assert await db.rows.Inbox.state_of("$a") == "pending"
        assert await db.rows.Inbox.state_of("$nope") is None


async def test_inbox_pending_order_and_limit(database_url: str) -> None:
    """pending() keeps Synapse's order, also within one transaction; limit; handled skipped."""
    async with opened(database_url) as db:
        await db.rows.Inbox.add_many([_evt("$z"), _evt("$y")])
        await db.rows.Inbox.add_many([_evt("$a")])
        assert [p.event_id for p in await db.rows.Inbox.pending()] == ["$z", "$y", "$a"]
        assert [p.event_id for p in await db.rows.Inbox.pending(limit=2)] == ["$z", "$y"]
        await db.rows.Inbox.mark_handled("$z")
        assert [p.event_id for p in await db.rows.Inbox.pending()] == ["$y", "$a"]


async def test_mark_handled_drops_payload(database_url: str) -> None:
    """A handled event keeps its id (for dedup) but its payload column becomes NULL."""
    async with opened(database_url) as db:
        await db.rows.Inbox.add_many([_evt("$h", body="ciphertext-ish")])
        assert await db.main.fetchval("SELECT payload FROM event_inbox WHERE event_id='$h'")
        await db.rows.Inbox.mark_handled("$h")
        row = await db.main.fetchrow(
            "SELECT payload, state, handled_at FROM event_inbox WHERE event_id='$h'"
        )
        assert row["payload"] is None
        assert row["state"] == "handled" and row["handled_at"] > 0
        assert await db.rows.Inbox.add_many([_evt("$h")]) == 0
        assert await db.rows.Inbox.state_of("$h") == "handled"


async def test_mark_attempt_failed_gives_up_after_n(database_url: str) -> None:
    """mark_attempt_failed keeps the event pending until the N-th failure, then marks it failed."""
    async with opened(database_url) as db:
        await db.rows.Inbox.add_many([_evt("$f")])
        assert await db.rows.Inbox.mark_attempt_failed("$f", 3) is False
        assert await db.rows.Inbox.mark_attempt_failed("$f", 3) is False
        assert (await db.rows.Inbox.pending())[0].attempts == 2
        assert await db.rows.Inbox.state_of("$f") == "pending"
        assert await db.rows.Inbox.mark_attempt_failed("$f", 3) is True
        assert await db.rows.Inbox.state_of("$f") == "failed"
        assert await db.rows.Inbox.pending() == []
        payload = await db.main.fetchval("SELECT payload FROM event_inbox WHERE event_id='$f'")
        assert payload is None


async def test_bot_state_get_and_overwrite(database_url: str) -> None:
    """bot_state returns None for unknown keys and the last value set for known ones."""
    async with opened(database_url) as db:
        assert await db.get_state("missing") is None
        await db.set_state("token", "one")
        assert await db.get_state("token") == "one"
        await db.set_state("token", "two")
        await db.set_state("other", "three")
        assert await db.get_state("token") == "two"
        assert await db.get_state("other") == "three"
        assert await db.main.fetchval("SELECT COUNT(*) FROM bot_state") == 2


class _Abort(Exception):
    pass


async def test_a_held_connection_stays_in_its_task_and_database(database_url: str) -> None:
    """Queries gathered in child tasks while a task holds a transaction (as mautrix's
    get_state does inside a command) never run on that one connection at once (asyncpg:
    "another operation is in progress"); on PostgreSQL the state store, another database of
    the same pool, writes outside the command's transaction and is not held up by it."""
    async with opened(database_url) as db:
        with pytest.raises(_Abort):
            async with db.main.acquire() as conn, conn.transaction():
                await db.set_state("held", "1")
                query = "SELECT value FROM bot_state WHERE key=$1"
                found = await asyncio.gather(*(db.main.fetchval(query, "held") for _ in range(5)))
                assert len(found) == 5
                await db.state_db.execute(
                    "INSERT INTO mx_room_state (room_id, is_encrypted) VALUES ($1, true)",
                    "!cache:example",
                )
                raise _Abort
        assert await db.get_state("held") is None  # the command's own write was undone
        cached = await db.state_db.fetchval(
            "SELECT COUNT(*) FROM mx_room_state WHERE room_id=$1", "!cache:example"
        )
        # SQLite shares its one connection (and so the transaction); PostgreSQL does not.
        assert cached == (1 if db.main.scheme == Scheme.POSTGRES else 0)
