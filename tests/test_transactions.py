"""The transaction endpoint against the running appservice: auth, storage, exactly-once handling."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from mautrix.types import Event

from appservice.app import LotseApp
from appservice.dev.client import notices_before_marker
from mailgateway.rows import MailRows
from tests.conftest import MakeHuman

pytestmark = pytest.mark.synapse


class Recorder:
    """Wraps the receiver's handler, recording every event id it is invoked with."""

    def __init__(self, app: LotseApp) -> None:
        self.app = app
        self.original = app.receiver.handler
        self.ids: list[str] = []

    async def __call__(self, evt: Event) -> None:
        self.ids.append(str(evt.event_id))
        await self.original(evt)


@pytest.fixture
async def recorder(running: LotseApp) -> AsyncIterator[Recorder]:
    rec = Recorder(running)
    running.receiver.handler = rec
    try:
        yield rec
    finally:
        running.receiver.handler = rec.original


def _url(app: LotseApp, txn_id: str) -> str:
    return f"http://127.0.0.1:{app.cfg.appservice.port}/_matrix/app/v1/transactions/{txn_id}"


async def _put(app: LotseApp, txn_id: str, body: Any, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token or app.cfg.appservice.hs_token}"}
    async with aiohttp.ClientSession() as http:
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
            async with http.put(_url(app, txn_id), data=body, headers=headers) as resp:
                return resp.status
        async with http.put(_url(app, txn_id), json=body, headers=headers) as resp:
            return resp.status


def _events(n: int, room: str | None = None) -> list[dict[str, Any]]:
    room = room or f"!nowhere-{secrets.token_hex(4)}:lotse.test"
    return [
        {
            "event_id": f"$test-{secrets.token_hex(8)}",
            "room_id": room,
            "type": "m.room.message",
            "sender": "@someone:lotse.test",
            "origin_server_ts": int(time.time() * 1000),
            "content": {},
        }
        for _ in range(n)
    ]


async def _wait_handled(rows: MailRows, *event_ids: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = {e: await rows.Inbox.state_of(e) for e in event_ids}
        if all(s == "handled" for s in states.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"events not handled in {timeout}s: {states}")
        await asyncio.sleep(0.1)


async def _settle(rec: Recorder, room: str) -> None:
    """Wait until a marker event sent now into ``room`` is handled: a room's events are
    handled in the order they came, so whatever was (wrongly) still due there is handled by
    then, and the recorder would have it twice."""
    marker = _events(1, room)
    assert await _put(rec.app, f"marker-{secrets.token_hex(4)}", {"events": marker}) == 200
    await _wait_handled(rec.app.mail_rows, marker[0]["event_id"])


async def test_wrong_token_is_refused_and_nothing_stored(running: LotseApp) -> None:
    """A transaction with a wrong hs_token gets 403 and none of its events are stored."""
    events = _events(2)
    status = await _put(running, f"t-{secrets.token_hex(4)}", {"events": events}, token="wrong")
    assert status == 403
    for evt in events:
        assert await running.rows.Inbox.state_of(evt["event_id"]) is None


async def test_missing_token_is_refused(running: LotseApp) -> None:
    """A transaction without any token is refused with 403."""
    async with aiohttp.ClientSession() as http:
        async with http.put(_url(running, "t-none"), json={"events": _events(1)}) as resp:
            assert resp.status == 403


async def test_body_not_json_is_400(running: LotseApp) -> None:
    """A body that is not JSON (or whose events are not a list) gets 400 M_NOT_JSON."""
    assert await _put(running, f"t-{secrets.token_hex(4)}", b"{not json") == 400
    assert await _put(running, f"t-{secrets.token_hex(4)}", {"events": "nope"}) == 400


async def test_events_are_handled_exactly_once(running: LotseApp, recorder: Recorder) -> None:
    """A stored transaction is answered 200 and each of its events reaches the handler once."""
    events = _events(3)
    ids = [e["event_id"] for e in events]
    assert await _put(running, f"t-{secrets.token_hex(4)}", {"events": events}) == 200
    await _wait_handled(running.mail_rows, *ids)
    await _settle(recorder, events[0]["room_id"])
    assert sorted(e for e in recorder.ids if e in ids) == sorted(ids)


async def test_replayed_transaction_is_not_handled_again(
    running: LotseApp, recorder: Recorder
) -> None:
    """Synapse's retry of the same transaction gets 200 but no event is handled a second time."""
    events = _events(2)
    ids = [e["event_id"] for e in events]
    txn = f"t-{secrets.token_hex(4)}"
    assert await _put(running, txn, {"events": events}) == 200
    await _wait_handled(running.mail_rows, *ids)
    assert await _put(running, txn, {"events": events}) == 200
    await _settle(recorder, events[0]["room_id"])
    assert sorted(e for e in recorder.ids if e in ids) == sorted(ids)


async def test_reused_transaction_id_with_new_events(running: LotseApp, recorder: Recorder) -> None:
    """A transaction id reused with new events (Synapse restarted on SQLite) handles them."""
    txn = f"t-{secrets.token_hex(4)}"
    first, second = _events(1), _events(2)
    assert await _put(running, txn, {"events": first}) == 200
    await _wait_handled(running.mail_rows, first[0]["event_id"])
    assert await _put(running, txn, {"events": second}) == 200
    new_ids = [e["event_id"] for e in second]
    await _wait_handled(running.mail_rows, *new_ids)
    await _settle(recorder, second[0]["room_id"])
    all_ids = [first[0]["event_id"], *new_ids]
    assert sorted(e for e in recorder.ids if e in all_ids) == sorted(all_ids)


async def test_same_events_under_new_transaction_id(running: LotseApp, recorder: Recorder) -> None:
    """Events redelivered under a new transaction id are not handled again."""
    events = _events(2)
    ids = [e["event_id"] for e in events]
    assert await _put(running, f"t-{secrets.token_hex(4)}", {"events": events}) == 200
    await _wait_handled(running.mail_rows, *ids)
    assert await _put(running, f"t-{secrets.token_hex(4)}", {"events": events}) == 200
    await _settle(recorder, events[0]["room_id"])
    assert sorted(e for e in recorder.ids if e in ids) == sorted(ids)


async def test_redelivered_real_message_is_not_answered_twice(
    make_human: MakeHuman, running: LotseApp, recorder: Recorder
) -> None:
    """A real encrypted `help` redelivered by a new transaction gets no second answer."""
    bot = running.cfg.assistant_mxid
    fina = await make_human("fina", centre="nord", role="client")
    room_id = await fina.service_room(bot)
    await fina.next_notice(room_id, bot, 0)
    answered = len(fina.notices(room_id, bot))
    asked = await fina.send(room_id, "help")
    reply = await fina.next_notice(room_id, bot, answered)
    assert reply.encrypted
    await _wait_handled(running.mail_rows, asked)
    assert recorder.ids.count(asked) == 1

    base = running.cfg.homeserver.address
    headers = {"Authorization": f"Bearer {fina.client.access_token}"}
    async with aiohttp.ClientSession() as http:
        url = f"{base}/_matrix/client/v3/rooms/{room_id}/event/{asked}"
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200
            raw = await resp.json()
    assert raw["type"] == "m.room.encrypted" and raw["event_id"] == asked
    raw.setdefault("room_id", room_id)

    before = len(fina.notices(room_id, bot))
    assert await _put(running, f"t-{secrets.token_hex(4)}", {"events": [raw]}) == 200
    # A second `help` as the marker: a second answer to the first would come before its own.
    assert await notices_before_marker(fina, room_id, bot, before, "help") == []
    assert recorder.ids.count(asked) == 1


async def test_slow_room_does_not_hold_up_other_rooms(running: LotseApp) -> None:
    """While one room's event waits (e.g. for a late room key), another room is answered."""
    slow, fast = _events(2), _events(1)
    slow_ids = [e["event_id"] for e in slow]
    release = asyncio.Event()
    order: list[str] = []
    original = running.receiver.handler

    async def handler(evt: Event) -> None:
        if str(evt.event_id) == slow_ids[0]:
            await release.wait()
        order.append(str(evt.event_id))
        await original(evt)

    running.receiver.handler = handler
    try:
        assert await _put(running, f"slow-{secrets.token_hex(4)}", {"events": slow}) == 200
        assert await _put(running, f"fast-{secrets.token_hex(4)}", {"events": fast}) == 200
        await _wait_handled(running.mail_rows, fast[0]["event_id"])
        assert await running.rows.Inbox.state_of(slow_ids[0]) == "pending"
        release.set()
        await _wait_handled(running.mail_rows, *slow_ids)
        # Within the slow room the order is kept.
        assert [i for i in order if i in slow_ids] == slow_ids
    finally:
        release.set()
        running.receiver.handler = original


async def test_ephemeral_events_reach_their_handlers_before_the_200(running: LotseApp) -> None:
    """Read receipts come under either key; a handler failure withholds the 200 (Synapse
    resends), while the transaction's room events are stored all the same."""
    seen: list[list[Any]] = []
    fail = False

    async def handler(ephemeral: list[Any]) -> None:
        if fail:
            raise RuntimeError("database away")
        seen.append(ephemeral)

    receipt = {"type": "m.receipt", "room_id": "!r:lotse.test", "content": {}}
    running.receiver.ephemeral_handlers.append(handler)
    try:
        assert await _put(running, f"e-{secrets.token_hex(4)}", {"ephemeral": [receipt]}) == 200
        msc = {"de.sorunome.msc2409.ephemeral": [receipt], "events": []}
        assert await _put(running, f"e-{secrets.token_hex(4)}", msc) == 200
        assert seen == [[receipt], [receipt]]
        fail = True
        events = _events(1)
        body = {"events": events, "ephemeral": [receipt]}
        assert await _put(running, f"e-{secrets.token_hex(4)}", body) == 500
        assert await running.rows.Inbox.add_many(events) == 0  # stored before the failure
    finally:
        running.receiver.ephemeral_handlers.remove(handler)
