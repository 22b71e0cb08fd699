"""No module-global service locators (issue 16, point 2): every part gets its tables from the
``Rows`` of the database it was given, so two databases open in one process (two apps, or the
app and a test's bare database) each read and write only their own rows, each under its own
contact-data key; a row class used bare has no database at all and fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appservice.app import LotseApp
from appservice.contact_data import ContactData, person_context
from appservice.db import Person
from appservice.sealing import SealError
from mailgateway.preferences import Preferences
from mailgateway.rows import MailRows
from tests.conftest import opened

KEY_A = "contact key of database A"
KEY_B = "contact key of database B"


async def _stored_email(rows: MailRows, user_id: str) -> str:
    value = await rows.db.fetchval("SELECT email FROM person WHERE user_id=$1", user_id)
    assert isinstance(value, str) and value.startswith("v2:")
    return value


async def test_two_databases_keep_their_rows_and_keys(database_url: str, tmp_path: Path) -> None:
    """Opened one after the other, each database's rows and contact key stay its own."""
    async with (
        opened(database_url, ContactData(KEY_A)) as a,
        opened(f"sqlite:{tmp_path / 'b.db'}", ContactData(KEY_B)) as b,
    ):
        rows_a, rows_b = MailRows(a), MailRows(b)
        anna = await rows_a.Person.upsert("@anna:x", "nord", "client")
        await anna.set_account(email="anna@example.org")
        await rows_a.Preferences.mark_confirmed(anna.user_id, "anna@example.org")
        bert = await rows_b.Person.upsert("@bert:x", "nord", "client")
        await bert.set_account(email="bert@example.org")

        # Each reads its own rows only, whichever was opened last.
        assert await rows_a.Person.get("@bert:x") is None
        assert await rows_b.Person.get("@anna:x") is None
        assert (await rows_a.Person.get("@anna:x")).email == "anna@example.org"  # type: ignore[union-attr]
        assert (await rows_b.Person.get("@bert:x")).email == "bert@example.org"  # type: ignore[union-attr]
        assert await rows_a.Preferences.people_with_address("ANNA@example.org") == ["@anna:x"]
        assert await rows_b.Preferences.people_with_address("anna@example.org") == []
        assert [p.user_id for p in await rows_b.Person.all_in_centre("nord")] == ["@bert:x"]

        # Each seals with its own key: A's stored address opens under A's key, not B's.
        context = person_context("@anna:x", "email")
        stored = await _stored_email(rows_a, "@anna:x")
        assert a.contact.open_value(stored, context) == "anna@example.org"
        with pytest.raises(SealError):
            b.contact.open_value(stored, context)
        assert a.contact.lookup("anna@example.org") != b.contact.lookup("anna@example.org")


async def test_a_bare_row_class_has_no_database(database_url: str) -> None:
    """Bound to nothing, even while databases are open: a forgotten bare use fails at once."""
    async with opened(database_url):
        with pytest.raises(AttributeError):
            await Person.get("@anna:x")
        with pytest.raises(AttributeError):
            await Preferences.get("@anna:x")
        assert "db" not in vars(Person) and "contact" not in vars(Person)


async def test_the_app_and_a_bare_database_keep_apart(
    running: LotseApp, rows: MailRows, database_url: str
) -> None:
    """A database a test opens after the app starts is not the app's: the app's parts (its
    directory, its mail settings) still read and write the app's own tables, under its key."""
    async with opened(database_url) as bare:
        stranger = await bare.rows.Person.upsert("@nur-hier:lotse.test", "nord", "client")
        await stranger.set_account(email="nur-hier@example.org")
        assert await running.assistant.directory.lookup("@nur-hier:lotse.test") is None
        assert await rows.Person.get("@nur-hier:lotse.test") is None

        mine = await rows.Person.upsert("@nur-app:lotse.test", "nord", "client")
        await mine.set_account(email="nur-app@example.org")
        assert await running.assistant.directory.lookup("@nur-app:lotse.test") is not None
        assert await bare.rows.Person.get("@nur-app:lotse.test") is None
        stored = await _stored_email(rows, "@nur-app:lotse.test")
        context = person_context("@nur-app:lotse.test", "email")
        assert running.db.contact.open_value(stored, context) == "nur-app@example.org"
        with pytest.raises(SealError):
            bare.contact.open_value(stored, context)
        await rows.db.execute("DELETE FROM person WHERE user_id=$1", "@nur-app:lotse.test")
