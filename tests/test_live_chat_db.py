"""Live chat rows on SQLite and PostgreSQL: staffing, the hourly cap, running and due chats,
and forgetting a chat leaves nothing of it (only the hourly counts)."""

from __future__ import annotations

from appservice.db.live_chat import HOUR_MS
from tests.conftest import opened

NOW = 1_800_000_000_000  # a fixed moment; the rows take their times from the caller


async def test_staffing_on_and_off(database_url: str) -> None:
    async with opened(database_url) as db:
        staff = db.rows.LiveChatStaff
        assert await staff.set("@a:x", "ost", True, NOW)
        assert not await staff.set("@a:x", "ost", True, NOW + 1)  # already on
        assert await staff.set("@b:x", "ost", True, NOW + 2)
        assert await staff.set("@c:x", "nord", True, NOW + 3)
        assert await staff.of_centre("ost") == ["@a:x", "@b:x"]
        assert await staff.set("@a:x", "ost", False, NOW)
        assert not await staff.set("@a:x", "ost", False, NOW)
        assert await staff.of_centre("ost") == ["@b:x"] and await staff.is_on("@b:x")


async def test_hourly_cap_per_centre_and_clock_hour(database_url: str) -> None:
    async with opened(database_url) as db:
        count = db.rows.LiveChatCount
        hour = NOW - NOW % HOUR_MS
        assert [await count.take("ost", hour + 10, 2) for _ in range(3)] == [True, True, False]
        assert await count.take("nord", hour + 10, 2)  # another centre counts apart
        assert await count.take("ost", hour + HOUR_MS, 2)  # the next clock hour starts afresh
        assert await count.since("ost", hour) == 3
        assert await count.since("ost", hour + HOUR_MS) == 1


async def test_running_ended_due_and_forgotten(database_url: str) -> None:
    async with opened(database_url) as db:
        rows = db.rows
        for user, centre in (("@anon-1:x", "ost"), ("@anon-2:x", "ost"), ("@anon-3:x", "nord")):
            await rows.Person.upsert(user, centre, "client")
            await rows.LiveChat.begin(user, centre, NOW)
        request = await rows.CounsellingRequest.create("ost", "@anon-1:x", channel="chat")
        assert request is not None
        await rows.LiveChat.set_room("@anon-1:x", request.id, "!room:x")
        assert await rows.LiveChat.running("ost") == 2
        assert await rows.LiveChat.end("@anon-1:x", NOW + HOUR_MS)
        assert not await rows.LiveChat.end("@anon-1:x", NOW + 2 * HOUR_MS)  # ended once
        assert await rows.LiveChat.running("ost") == 1
        chat = await rows.LiveChat.by_request("ost", request.id)
        assert chat is not None and chat.room_id == "!room:x" and chat.ended_at == NOW + HOUR_MS
        person = await rows.Person.get("@anon-1:x")
        assert person is not None
        await person.set_service_room("!service:x")  # they wrote to the assistant meanwhile
        assert await chat.rooms() == ["!room:x", "!service:x"]

        delays = {"ost": 24 * HOUR_MS, "nord": 2 * HOUR_MS}
        due = await rows.LiveChat.due(NOW + 3 * HOUR_MS, delays, 24 * HOUR_MS)
        assert [c.user_id for c in due] == ["@anon-3:x"]  # nord's shorter delay, from its start
        due = await rows.LiveChat.due(NOW + 25 * HOUR_MS, delays, 24 * HOUR_MS)
        assert {c.user_id for c in due} == {"@anon-1:x", "@anon-2:x", "@anon-3:x"}

        for chat in due:
            await chat.forget()
        for user in ("@anon-1:x", "@anon-2:x", "@anon-3:x"):
            assert await rows.Person.get(user) is None
            assert await rows.LiveChat.get(user) is None
            assert await rows.CounsellingRequest.open_for_client(user) is None
        assert await db.main.fetchval("SELECT COUNT(*) FROM counselling_request") == 0
        assert await db.main.fetchval("SELECT COUNT(*) FROM erased_person") == 0  # no tombstone
