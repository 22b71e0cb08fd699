"""Topic-chat rows on SQLite and PostgreSQL: per centre, upcoming and due, counted once,
cancelled once, and forgetting a participant leaves nothing of them but the count."""

from __future__ import annotations

from tests.conftest import opened

NOW = 1_800_000_000_000  # a fixed moment; the rows take their times from the caller
HOUR = 3_600_000


async def test_upcoming_due_cancel_per_centre(database_url: str) -> None:
    async with opened(database_url) as db:
        chats = db.rows.TopicChat
        soon = await chats.create("nord", "@c:x", "Bald", "Text", NOW + HOUR, NOW + 2 * HOUR, NOW)
        first = await chats.create("nord", "@c:x", "Zuerst", "", NOW - HOUR, NOW + HOUR, NOW)
        over = await chats.create("nord", "@c:x", "Vorbei", "", NOW - 3 * HOUR, NOW - HOUR, NOW)
        other = await chats.create("south", "@s:x", "South", "", NOW + HOUR, NOW + 2 * HOUR, NOW)
        assert [c.title for c in await chats.coming("nord", NOW)] == ["Zuerst", "Bald"]
        assert await chats.get("nord", other.id) is None  # centres never see each other's
        assert (await chats.get("south", other.id)) is not None
        assert [c.id for c in await chats.due_to_close(NOW)] == [over.id]

        assert await soon.cancel(NOW)
        assert not await soon.cancel(NOW + 1)  # once
        assert [c.title for c in await chats.coming("nord", NOW)] == ["Zuerst"]
        assert {c.id for c in await chats.due_to_close(NOW)} == {over.id, soon.id}
        await over.mark_closed(NOW)
        assert not await over.cancel(NOW)  # closed: nothing to cancel
        assert {c.id for c in await chats.due_to_close(NOW)} == {soon.id}
        assert first.starts_at == NOW - HOUR and soon.description == "Text"


async def test_participants_counted_once_and_forgotten(database_url: str) -> None:
    async with opened(database_url) as db:
        rows = db.rows
        chat = await rows.TopicChat.create("nord", "@c:x", "Runde", "", NOW, NOW + HOUR, NOW)
        for user in ("@anon-1:x", "@anon-2:x"):
            await rows.Person.upsert(user, "nord", "client")
            assert await chat.join(user, NOW)
        assert not await chat.join("@anon-1:x", NOW + 1)  # twice counts once
        assert sorted(await chat.joined()) == ["@anon-1:x", "@anon-2:x"]
        assert await rows.TopicChat.participants_closed("nord", NOW + 2 * HOUR) == []  # open
        await chat.mark_closed(NOW + HOUR)
        assert await rows.TopicChat.participants_closed("nord", NOW + HOUR - 1) == []
        assert await rows.TopicChat.participants_closed("south", NOW + 2 * HOUR) == []
        due = await rows.TopicChat.participants_closed("nord", NOW + 2 * HOUR)
        assert due == ["@anon-1:x", "@anon-2:x"]

        await rows.TopicChat.forget("@anon-1:x")  # erased
        await rows.TopicChat.let_go("@anon-2:x")  # registered: stays a client
        assert await rows.Person.get("@anon-1:x") is None
        assert await rows.Person.get("@anon-2:x") is not None
        assert await chat.joined() == []
        kept = await rows.TopicChat.get("nord", chat.id)
        assert kept is not None and kept.participants == 2  # only the count stays
        assert await rows.TopicChat.counted("nord", NOW - HOUR, NOW + HOUR) == (1, 2)
        assert await db.main.fetchval("SELECT COUNT(*) FROM erased_person") == 0  # no tombstone
