"""Rows of monitorings and their dialogues on SQLite and PostgreSQL: the access rule as one
WHERE clause, periods, newest first, races of two answers, request times for statistics."""

from __future__ import annotations

import asyncio

from tests.conftest import opened


async def test_monitorings_scoped_by_centre_and_counsellor(database_url: str) -> None:
    """A counsellor finds only their own, an admin (no counsellor) the centre's, another
    centre nothing; the period filter includes both ends; newest contact first."""
    async with opened(database_url) as db:
        one = await db.rows.Monitoring.add("nord", "@anna:x", "@c1:x", None, "2026-02-01", "v1:a")
        two = await db.rows.Monitoring.add("nord", "@anna:x", "@c2:x", 7, "2026-02-03", "v1:b")
        three = await db.rows.Monitoring.add("nord", "@bert:x", "@c1:x", None, "2026-03-31", "v1:c")
        await db.rows.Monitoring.add("south", "@anna:x", "@c1:x", None, "2026-02-02", "v1:d")

        ids = [m.id for m in await db.rows.Monitoring.find("nord", "@c1:x")]
        assert ids == [three, one]
        assert [m.id for m in await db.rows.Monitoring.find("nord", None)] == [three, two, one]
        assert [m.id for m in await db.rows.Monitoring.find("nord", None, "@anna:x")] == [two, one]
        found = await db.rows.Monitoring.find("nord", None, None, "2026-02-03", "2026-03-31")
        assert [m.id for m in found] == [three, two]
        assert await db.rows.Monitoring.get(two, "nord", "@c1:x") is None  # someone else's
        assert await db.rows.Monitoring.get(two, "south", None) is None  # another centre
        got = await db.rows.Monitoring.get(two, "nord", "@c2:x")
        assert got is not None and got.request_id == 7

        assert not await db.rows.Monitoring.edit(two, "south", "2026-01-01", "v1:x")
        assert await db.rows.Monitoring.edit(two, "nord", "2026-01-05", "v1:e")
        edited = await db.rows.Monitoring.get(two, "nord", None)
        assert edited is not None and edited.contact_date == "2026-01-05"
        assert edited.sealed_values == "v1:e" and edited.edited_at is not None
        assert not await db.rows.Monitoring.delete(one, "south")
        assert await db.rows.Monitoring.delete(one, "nord")
        assert not await db.rows.Monitoring.delete(one, "nord")


async def test_dialogue_one_per_counsellor_and_races(database_url: str) -> None:
    """One half-filled form per counsellor; of two answers to the same state one wins; a poll
    ties only to the field still asked and only once."""
    async with opened(database_url) as db:
        assert await db.rows.MonitoringDialogue.begin(
            "@c1:x", "nord", "@anna:x", None, "s0", "date"
        )
        assert not await db.rows.MonitoringDialogue.begin(
            "@c1:x", "nord", "@bert:x", None, "t", "date"
        )
        assert await db.rows.MonitoringDialogue.set_poll("@c1:x", "date", "$p1")
        assert not await db.rows.MonitoringDialogue.set_poll("@c1:x", "date", "$p2")
        results = await asyncio.gather(
            db.rows.MonitoringDialogue.save("@c1:x", "s0", "s1", "duration"),
            db.rows.MonitoringDialogue.save("@c1:x", "s0", "s1b", "duration"),
        )
        assert sorted(results) == [False, True]
        row = await db.rows.MonitoringDialogue.get("@c1:x")
        assert row is not None and row.step == "duration" and row.poll_event_id is None
        assert row.client_id == "@anna:x"
        assert not await db.rows.MonitoringDialogue.set_poll("@c1:x", "date", "$p3")  # moved on
        assert await db.rows.MonitoringDialogue.finish("@c1:x")
        assert not await db.rows.MonitoringDialogue.finish("@c1:x")
        assert await db.rows.MonitoringDialogue.get("@c1:x") is None


async def test_request_times_for_statistics(database_url: str) -> None:
    """Requests made in [start, end) of the centre; a counsellor's are those assigned to them."""
    async with opened(database_url) as db:
        request = await db.rows.CounsellingRequest.create("nord", "@anna:x")
        assert request is not None
        made = request.id
        assert await db.rows.CounsellingRequest.claim(made, "nord", "@c1:x")
        await db.main.execute(
            "UPDATE counselling_request SET created_at=1000, answered_at=4000 WHERE id=$1", made
        )
        rows = await db.rows.Monitoring.request_times("nord", None, 0, 2000)
        assert [(r["status"], r["created_at"], r["answered_at"]) for r in rows] == [
            ("assigned", 1000, 4000)
        ]
        assert len(await db.rows.Monitoring.request_times("nord", "@c1:x", 0, 2000)) == 1
        assert await db.rows.Monitoring.request_times("nord", "@c2:x", 0, 2000) == []
        assert await db.rows.Monitoring.request_times("nord", None, 1001, 2000) == []
        assert await db.rows.Monitoring.request_times("nord", None, 0, 1000) == []  # end excluded
        assert await db.rows.Monitoring.request_times("south", None, 0, 2000) == []
