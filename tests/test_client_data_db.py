"""Client rows on SQLite and PostgreSQL: master data, bookmarks, erasure claims and tombstones."""

from __future__ import annotations

import asyncio

from appservice.db import Person
from mailgateway.rows import MailRows
from tests.conftest import opened


async def test_master_data_and_bookmarks(database_url: str) -> None:
    """Values are set, replaced and cleared together; bookmarks toggle per counsellor."""
    async with opened(database_url) as db:
        await db.rows.MasterDataValue.apply("@a:x", {"age_group": "20-29", "postcode": "20095"})
        await db.rows.MasterDataValue.apply("@a:x", {"age_group": "30-39", "postcode": ""})
        await db.rows.MasterDataValue.apply("@b:x", {"postcode": "10115"})
        assert await db.rows.MasterDataValue.of("@a:x") == {"age_group": "30-39"}
        many = await db.rows.MasterDataValue.of_many(["@a:x", "@b:x", "@c:x"])
        assert many == {"@a:x": {"age_group": "30-39"}, "@b:x": {"postcode": "10115"}, "@c:x": {}}

        assert await db.rows.Bookmark.toggle("@berta:x", "@a:x") is True
        assert await db.rows.Bookmark.toggle("@berta:x", "@b:x") is True
        assert await db.rows.Bookmark.toggle("@carl:x", "@a:x") is True
        assert await db.rows.Bookmark.client_ids("@berta:x") == ["@a:x", "@b:x"]
        assert await db.rows.Bookmark.toggle("@berta:x", "@a:x") is False
        assert await db.rows.Bookmark.client_ids("@berta:x") == ["@b:x"]
        assert await db.rows.Bookmark.client_ids("@carl:x") == ["@a:x"]


async def _marked_client(rows: MailRows, user_id: str, deleted_at: int = 1000) -> Person:
    person = await rows.Person.upsert(user_id, "nord", "client")
    await person.set_account(deleted_at=deleted_at, email=f"{user_id[1:4]}@example.org")
    return person


async def test_claim_and_restore_exactly_one_wins(database_url: str) -> None:
    """A restore and the routine's claim at the same moment: exactly one of them wins."""
    async with opened(database_url) as db:
        for i in range(6):
            person = await _marked_client(MailRows(db), f"@race{i}:x")
            claimed, restored = await asyncio.gather(
                db.rows.ErasedPerson.claim(person.user_id, 1000),
                db.rows.ErasedPerson.restore(person.user_id, 1000),
            )
            assert (claimed is not None) != restored
        # A stale deleted_at (deleted again later) is neither claimed nor restored.
        person = await _marked_client(MailRows(db), "@stale:x", deleted_at=2000)
        assert await db.rows.ErasedPerson.claim(person.user_id, 1000) is None
        assert not await db.rows.ErasedPerson.restore(person.user_id, 1000)


async def test_finish_keeps_only_the_tombstone(database_url: str) -> None:
    """Erasure removes the person's rows and links; the tombstone holds no pseudonym."""
    async with opened(database_url) as db:
        counsellor = await db.rows.Person.upsert("@berta:x", "nord", "counsellor")
        client = await _marked_client(MailRows(db), "@wolke:x")
        assert await client.set_display_name("Wolke")
        await client.set_home_counsellor(counsellor.user_id)
        other = await db.rows.Person.upsert("@anna:x", "nord", "client")
        await other.set_home_counsellor(counsellor.user_id)
        await db.rows.MasterDataValue.apply(client.user_id, {"age_group": "20-29"})
        await db.rows.Bookmark.toggle(counsellor.user_id, client.user_id)
        await counsellor.set_account(deleted_at=500)

        assert [m[0] for m in await db.rows.ErasedPerson.marked()] == ["@berta:x", "@wolke:x"]
        claim = await db.rows.ErasedPerson.claim(client.user_id, 1000)
        assert claim is not None and claim.erased_at is None
        assert [m[0] for m in await db.rows.ErasedPerson.marked()] == ["@berta:x"]
        assert [c.user_id for c in await db.rows.ErasedPerson.unfinished()] == ["@wolke:x"]
        await claim.finish()
        await claim.finish()  # twice is harmless (a resumed run)
        assert await db.rows.Person.get(client.user_id) is None
        assert await db.rows.MasterDataValue.of(client.user_id) == {}
        assert await db.rows.Bookmark.client_ids(counsellor.user_id) == []
        tomb = await db.rows.ErasedPerson.get(client.user_id)
        assert tomb is not None and tomb.erased_at is not None and tomb.role == "client"
        assert await db.rows.ErasedPerson.unfinished() == []
        assert await db.rows.ErasedPerson.claim(client.user_id, 1000) is None  # never twice

        # An erased counsellor is no longer anybody's home counsellor.
        staff_claim = await db.rows.ErasedPerson.claim(counsellor.user_id, 500)
        assert staff_claim is not None
        await staff_claim.finish()
        anna = await db.rows.Person.get("@anna:x")
        assert anna is not None and anna.home_counsellor_id is None
