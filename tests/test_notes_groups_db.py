"""Rows of notes, documents and groups on SQLite and PostgreSQL: scoping, ownership, races."""

from __future__ import annotations

import asyncio

from appservice.sealing import Sealer
from tests.conftest import opened

SECRET_TEXT = "Vater trinkt, Kind schläft schlecht"


async def test_notes_are_sealed_scoped_and_author_only(database_url: str) -> None:
    """Stored rows hold no note text; edit/delete only by the author; other centres see none."""
    box = Sealer("pickle", "client notes")
    async with opened(database_url) as db:
        first = await db.rows.ClientNote.add(
            "nord", "@anna:x", "@c1:x", box.seal("Erstgespräch ruhig", "note:@anna:x")
        )
        second = await db.rows.ClientNote.add(
            "nord", "@anna:x", "@c1:x", box.seal(SECRET_TEXT, "note:@anna:x")
        )
        notes = await db.rows.ClientNote.for_client("nord", "@anna:x")
        assert [n.id for n in notes] == [second, first]  # newest first
        assert await db.rows.ClientNote.for_client("south", "@anna:x") == []
        assert await db.rows.ClientNote.get_in_centre(second, "south") is None

        rows = await db.main.fetch("SELECT * FROM client_note")
        stored = " ".join(str(row[k]) for row in rows for k in row.keys())
        assert len(rows) == 2 and "Vater" not in stored and "Erstgespr" not in stored

        assert not await db.rows.ClientNote.edit(second, "@c2:x", box.seal("x", "note:@anna:x"))
        assert not await db.rows.ClientNote.delete(second, "@c2:x")
        assert await db.rows.ClientNote.edit(second, "@c1:x", box.seal("neu", "note:@anna:x"))
        edited = await db.rows.ClientNote.get_in_centre(second, "nord")
        assert edited is not None and edited.edited_at is not None
        assert box.open(edited.sealed_text, "note:@anna:x") == "neu"
        assert await db.rows.ClientNote.delete(first, "@c1:x")
        assert not await db.rows.ClientNote.delete(first, "@c1:x")
        assert await db.rows.ClientNote.delete_for_client("@anna:x") == 1


async def test_documents_only_for_their_uploader(database_url: str) -> None:
    """Another counsellor, or the same id in another centre, finds nothing."""
    async with opened(database_url) as db:
        doc = await db.rows.ClientDocument.add("nord", "@anna:x", "@c1:x", "pdf", 1234, "v1:sealed")
        assert [
            d.id for d in await db.rows.ClientDocument.of_uploader("nord", "@c1:x", "@anna:x")
        ] == [doc]
        assert await db.rows.ClientDocument.of_uploader("nord", "@c2:x", "@anna:x") == []
        other = await db.rows.ClientDocument.add("nord", "@ben:x", "@c1:x", "png", 10, "v1:sealed")
        await db.rows.ClientDocument.add("nord", "@ben:x", "@c2:x", "png", 10, "v1:sealed")
        # Erasing counsellor @c1 finds what they uploaded on any client, nobody else's.
        assert [d.id for d in await db.rows.ClientDocument.uploaded_by("@c1:x")] == [doc, other]
        assert await db.rows.ClientDocument.uploaded_by("@c3:x") == []
        assert await db.rows.ClientDocument.get_own(doc, "nord", "@c2:x") is None
        assert await db.rows.ClientDocument.get_own(doc, "south", "@c1:x") is None
        assert not await db.rows.ClientDocument.delete(doc, "@c2:x")
        assert await db.rows.ClientDocument.delete(doc, "@c1:x")


async def test_pending_document_expires_is_per_counsellor_and_taken_once(
    database_url: str,
) -> None:
    """`doc CLIENT` waits until its time; a new `doc` replaces the old one; of two files at
    once exactly one takes it; an expired one is gone."""
    async with opened(database_url) as db:
        await db.rows.PendingDocument.announce("@c:x", "nord", "@anna:x", until=1300)
        assert await db.rows.PendingDocument.current("@other:x", now=1001) is None
        found = await db.rows.PendingDocument.current("@c:x", now=1300)
        assert found is not None and (found.client_id, found.centre_id) == ("@anna:x", "nord")
        await db.rows.PendingDocument.announce("@c:x", "nord", "@ben:x", until=1400)
        found = await db.rows.PendingDocument.current("@c:x", now=1399)
        assert found is not None and found.client_id == "@ben:x"
        assert await db.rows.PendingDocument.current("@c:x", now=1401) is None
        assert await db.rows.PendingDocument.current("@c:x", now=1000) is None  # expired means gone
        await db.rows.PendingDocument.announce("@c:x", "nord", "@anna:x", until=3000)
        assert not await db.rows.PendingDocument.take("@c:x", "@ben:x")  # not the announced client
        taken = await asyncio.gather(
            *(db.rows.PendingDocument.take("@c:x", "@anna:x") for _ in range(4))
        )
        assert sorted(taken) == [False, False, False, True]
        assert await db.rows.PendingDocument.current("@c:x", now=2001) is None


async def test_groups_unique_names_members_and_races(database_url: str) -> None:
    """Names are unique per centre (any case); of simultaneous adds or deletes one wins."""
    async with opened(database_url) as db:
        group = await db.rows.ClientGroup.create("nord", "Eltern", "Für Eltern", "@c1:x")
        assert group is not None
        assert await db.rows.ClientGroup.create("nord", "ELTERN", "", "@c2:x") is None
        other = await db.rows.ClientGroup.create("south", "Eltern", "", "@s1:x")
        assert other is not None  # another centre may use the same name
        assert (await db.rows.ClientGroup.find("nord", "eltern")) == group
        assert (await db.rows.ClientGroup.find("nord", str(group.id))) == group
        assert await db.rows.ClientGroup.find("south", str(group.id)) is None

        results = await asyncio.gather(*(group.add_member("@anna:x") for _ in range(4)))
        assert sorted(results) == [False, False, False, True]
        assert await group.add_member("@ben:x")
        assert await group.members() == ["@anna:x", "@ben:x"]
        assert await db.rows.ClientGroup.member_counts("nord") == {group.id: 2}
        assert [g.id for g in await db.rows.ClientGroup.of_client("@anna:x")] == [group.id]
        assert await group.remove_member("@anna:x") and not await group.remove_member("@anna:x")

        second = await db.rows.ClientGroup.create("nord", "Jugend", "", "@c1:x")
        assert second is not None
        assert not await second.update("eltern", "")  # taken
        assert await second.update("Jugendliche", "ab 14")
        assert (await db.rows.ClientGroup.find("nord", "jugendliche")) == second

        deletes = await asyncio.gather(group.delete(), group.delete())
        assert sorted(deletes) == [False, True]
        assert await db.rows.ClientGroup.find("nord", "Eltern") is None
        assert await db.rows.ClientGroup.of_client("@ben:x") == []
