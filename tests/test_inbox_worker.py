"""The inbox worker with batched database work (issue 13), on SQLite and PostgreSQL.

Transactions arrive over HTTP as Synapse sends them; the handler records what it is given.
The worker reads the inbox forward from a cursor and marks handled events per drain: these
tests hold it to what the per-event version promised (each event once, in order within its
room, a failing event retried before its room's later events, nothing lost over a restart).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from mautrix.types import Event

from appservice.db import LotseDatabase
from appservice.dev.synapse_runner import free_port
from appservice.transactions import TransactionReceiver
from tests.conftest import opened

TOKEN = "hs-token"


class Served:
    """A receiver behind a real aiohttp server, and what its handler was given."""

    def __init__(self, receiver: TransactionReceiver, port: int) -> None:
        self.receiver = receiver
        self.url = f"http://127.0.0.1:{port}/_matrix/app/v1/transactions/"
        self.seen: list[tuple[str, str]] = []

    async def put(self, events: list[dict[str, Any]]) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as http:
            url = self.url + secrets.token_hex(4)
            async with http.put(url, json={"events": events}, headers=headers) as resp:
                assert resp.status == 200


@asynccontextmanager
async def served(
    db: LotseDatabase,
    handler: Callable[[Served, Event], Awaitable[None]] | None = None,
) -> AsyncIterator[Served]:
    async def record(evt: Event) -> None:
        if handler is not None:
            await handler(box, evt)
        box.seen.append((str(evt.room_id), str(evt.event_id)))

    receiver = TransactionReceiver(TOKEN, record, 10 * 1024 * 1024, db.rows.Inbox)
    app = web.Application()
    receiver.register_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    box = Served(receiver, port)
    receiver.start()
    try:
        yield box
    finally:
        await receiver.stop()
        await runner.cleanup()


def events(n: int, rooms: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"${tag}-{i}-{secrets.token_hex(4)}",
            "room_id": f"!room{i % rooms}-{tag}:lotse.test",
            "type": "m.room.message",
            "sender": "@someone:lotse.test",
            "origin_server_ts": 1_700_000_000_000 + i,
            "content": {},
        }
        for i in range(n)
    ]


async def states(db: LotseDatabase, ids: list[str]) -> dict[str, int]:
    rows = await db.main.fetch("SELECT event_id, state FROM event_inbox")
    wanted = set(ids)
    counted: dict[str, int] = {}
    for row in rows:
        if row["event_id"] in wanted:
            counted[row["state"]] = counted.get(row["state"], 0) + 1
    return counted


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def in_room_order(seen: list[tuple[str, str]], sent: list[dict[str, Any]]) -> None:
    """Each event once, and each room's events in the order they were sent."""
    assert sorted(e for _, e in seen) == sorted(e["event_id"] for e in sent)
    for room in {e["room_id"] for e in sent}:
        expected = [e["event_id"] for e in sent if e["room_id"] == room]
        assert [e for r, e in seen if r == room] == expected


async def test_many_transactions_each_event_once_in_room_order(database_url: str) -> None:
    """3,000 events in 30 transactions over 37 rooms (more than a page and the queue cap):
    every one handled once, each room in order, and all marked handled in the inbox."""
    sent: list[dict[str, Any]] = []
    async with opened(database_url) as db, served(db) as box:
        for t in range(30):
            batch = events(100, 37, f"t{t}")
            sent += batch
            await box.put(batch)
        ids = [e["event_id"] for e in sent]
        await until(lambda: _all_handled(db, ids))
        in_room_order(box.seen, sent)


async def _all_handled(db: LotseDatabase, ids: list[str]) -> bool:
    return await states(db, ids) == {"handled": len(ids)}


async def test_failing_event_retried_before_its_rooms_later_events(database_url: str) -> None:
    """An event that fails once is retried before its room's later events (which the worker
    had already queued); the other rooms go on meanwhile."""
    failed: set[str] = set()
    first = events(60, 3, "f")
    bad = first[3]["event_id"]  # room 0's second event

    async def handler(_box: Served, evt: Event) -> None:
        if str(evt.event_id) == bad and bad not in failed:
            failed.add(bad)
            raise RuntimeError("the database went away for a moment")

    async with opened(database_url) as db, served(db, handler) as box:
        await box.put(first)
        ids = [e["event_id"] for e in first]
        await until(lambda: _all_handled(db, ids))
        in_room_order(box.seen, first)
        assert failed == {bad}
        # Room 1 did not wait for room 0's retry (0.5 s of back-off).
        order = [e for _, e in box.seen]
        assert order.index(first[-2]["event_id"]) < order.index(bad)


async def test_event_committed_behind_the_cursor_is_handled(database_url: str) -> None:
    """A transaction stored at the same time as another may commit after it with lower
    sequence numbers; once its commit is reported, the worker reads back for it."""
    async with opened(database_url) as db, served(db) as box:
        later = events(5, 1, "later")
        await box.put(later)
        await until(lambda: _all_handled(db, [e["event_id"] for e in later]))
        early = events(1, 1, "early")[0]
        await db.main.execute(
            "INSERT INTO event_inbox (event_id, room_id, seq, received_at, payload) "
            "VALUES ($1, $2, 5, 0, $3)",
            early["event_id"],
            early["room_id"],
            json.dumps(early),
        )
        box.receiver.stored(5)
        await until(lambda: _all_handled(db, [early["event_id"]]))
        assert box.seen[-1][1] == early["event_id"]


async def test_handled_but_unmarked_events_come_back_after_a_crash(database_url: str) -> None:
    """Marks wait for the end of a drain. A crash before the mark loses nothing: after the
    restart the events are handed out again (commands survive that, appservice/once.py),
    and a clean stop marks everything it handled."""
    gate = asyncio.Event()

    async def hold_last(box: Served, evt: Event) -> None:
        if str(evt.event_id) == sent[-1]["event_id"]:
            await gate.wait()

    sent = events(10, 1, "crash")
    ids = [e["event_id"] for e in sent]
    async with opened(database_url) as db:
        async with served(db, hold_last) as box:
            await box.put(sent)
            await until(lambda: _count(box, 9))
            # SIGKILL as far as the inbox can tell: the tasks end, nothing more is written.
            tasks = [box.receiver._worker, *(r.task for r in box.receiver._rooms.values())]
            for task in tasks:
                assert task is not None
                task.cancel()
            await asyncio.wait([t for t in tasks if t is not None])
            box.receiver._worker = None
            box.receiver._handled.clear()
            assert await states(db, ids) == {"pending": 10}
            gate.set()
        async with served(db) as again:
            await until(lambda: _count(again, 10))
        assert [e for _, e in again.seen] == ids
        assert await states(db, ids) == {"handled": 10}


async def _count(box: Served, n: int) -> bool:
    return len(box.seen) >= n


async def test_pending_reads_forward_from_a_sequence_number(database_url: str) -> None:
    """``Inbox.pending(after_seq=…)`` skips what the worker has read already."""
    async with opened(database_url) as db:
        stored = events(4, 1, "seq")
        assert await db.rows.Inbox.add_many(stored) == 4
        everything = await db.rows.Inbox.pending(limit=10)
        assert [e.event_id for e in everything] == [e["event_id"] for e in stored]
        rest = await db.rows.Inbox.pending(limit=10, after_seq=everything[1].seq)
        assert [e.event_id for e in rest] == [e["event_id"] for e in stored[2:]]
