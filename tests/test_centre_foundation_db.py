"""People are found only inside their own centre; settings overrides and the audit log persist."""

from __future__ import annotations

import pytest

from tests.conftest import opened


async def test_find_in_centre_never_crosses_centres(database_url: str) -> None:
    async with opened(database_url) as db:
        anna = await db.rows.Person.upsert("@anna-1:x.org", "nord", "client")
        assert await anna.set_display_name("Anna K.")
        other = await db.rows.Person.upsert("@anna-2:x.org", "south", "client")
        assert await other.set_display_name("Anna K.")  # another centre may reuse it
        staff = await db.rows.Person.upsert("@berta:x.org", "nord", "counsellor")

        for text in ("Anna K.", "anna k.", "@anna-1:x.org", "anna-1", "@anna-1"):
            found = await db.rows.Person.find_in_centre("nord", text)
            assert found is not None and found.user_id == anna.user_id, text
        south = await db.rows.Person.find_in_centre("south", "anna k.")
        assert south is not None and south.user_id == other.user_id
        assert await db.rows.Person.find_in_centre("south", "@anna-1:x.org") is None
        assert await db.rows.Person.find_in_centre("south", "berta") is None
        assert await db.rows.Person.find_in_centre("nord", "berta", roles=("client",)) is None
        found = await db.rows.Person.find_in_centre("nord", "berta", roles=("counsellor", "admin"))
        assert found is not None and found.user_id == staff.user_id
        assert await db.rows.Person.find_in_centre("nord", "anna%") is None  # no wildcards
        assert await db.rows.Person.find_in_centre("nord", "  ") is None


async def test_pseudonym_unique_per_centre_any_case(database_url: str) -> None:
    async with opened(database_url) as db:
        first = await db.rows.Person.upsert("@k1:x.org", "nord", "client")
        second = await db.rows.Person.upsert("@k2:x.org", "nord", "client")
        assert await first.set_display_name("Mila")
        assert not await second.set_display_name("MILA")
        fresh = await db.rows.Person.get(second.user_id)
        assert fresh is not None and fresh.display_name is None
        counsellor = await db.rows.Person.upsert("@c1:x.org", "nord", "counsellor")
        assert await counsellor.set_display_name("Mila")  # staff names are not pseudonyms


async def test_settings_overrides_and_audit_persist(database_url: str) -> None:
    async with opened(database_url) as db:
        await db.rows.CentreSettingRow.set("nord", "overdue_hours", "12", "@admin:x.org")
        await db.rows.CentreSettingRow.set("nord", "overdue_hours", "24", "@admin:x.org")
        assert await db.rows.CentreSettingRow.overrides("nord") == {"overdue_hours": "24"}
        assert await db.rows.CentreSettingRow.overrides("south") == {}

        await db.rows.AuditEntry.record("nord", "@admin:x.org", "client.lock", "@k1:x.org")
        await db.rows.AuditEntry.record("nord", "@admin:x.org", "settings", "", "overdue_hours=24")
        await db.rows.AuditEntry.record("south", "@other:x.org", "client.lock", "@k9:x.org")
        entries = await db.rows.AuditEntry.recent("nord", 10)
        assert [e.action for e in entries] == ["settings", "client.lock"]
        assert len(await db.rows.AuditEntry.recent("nord", 1)) == 1


async def test_account_facts_and_status(database_url: str) -> None:
    """The reference's account states follow from the recorded times, deleted winning."""
    async with opened(database_url) as db:
        person = await db.rows.Person.upsert("@k3:x.org", "nord", "client")
        assert person.account_status == "no_access"
        await person.set_account(email="k3@example.org", invited_at=1)
        assert person.account_status == "invited"
        await person.set_account(activated_at=2)
        assert person.account_status == "activated"
        await person.set_account(locked_at=3)
        assert person.account_status == "locked"
        await person.set_account(deleted_at=4)
        fresh = await db.rows.Person.get(person.user_id)
        assert fresh is not None and fresh.account_status == "deleted"
        assert fresh.email == "k3@example.org"
        await fresh.set_account(deleted_at=None, locked_at=None)
        again = await db.rows.Person.get(person.user_id)
        assert again is not None and again.account_status == "activated"
        with pytest.raises(ValueError):
            await again.set_account(role="admin")


async def test_profile_fields(database_url: str) -> None:
    async with opened(database_url) as db:
        person = await db.rows.Person.upsert("@c2:x.org", "nord", "counsellor")
        await person.set_profile(
            display_name="Berta B.", languages="de,tr", team_page=True, crisis_contact=True
        )
        fresh = await db.rows.Person.get(person.user_id)
        assert fresh is not None and fresh.team_page and fresh.crisis_contact
        assert fresh.languages == "de,tr" and fresh.name == "Berta B."
        with pytest.raises(ValueError):
            await fresh.set_profile(email="x@example.org")
