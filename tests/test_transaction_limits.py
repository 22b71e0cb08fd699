"""The transaction endpoint's limits against the running listener: how the hs_token may come,
and how large a transaction may be (Synapse retries a refused one for ever)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from appservice.app import LotseApp
from tests.test_transactions import _events, _url, _wait_handled

pytestmark = pytest.mark.synapse

KIB = 1024
# What Synapse 1.163 puts into one transaction at most (synapse/appservice/scheduler.py,
# synapse/api/constants.py): 100 room events, 100 ephemeral events, 100 to-device messages;
# an event is at most 64 KiB as a PDU, and a state event carries the content it replaces.
MAX_EVENTS = 100
MAX_EVENT_BYTES = 64 * KIB
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=60)


def _filler(size: int) -> str:
    return secrets.token_hex(size // 2)


def _maximal_transaction() -> dict[str, Any]:
    """A transaction as large as Synapse sends: every part full, every item at its maximum."""
    events = _events(MAX_EVENTS)
    for n, evt in enumerate(events):
        evt.update(
            type="m.room.topic",
            state_key="",
            content={"topic": _filler(MAX_EVENT_BYTES - 600)},
            unsigned={"prev_content": {"topic": _filler(MAX_EVENT_BYTES - 600)}, "age": n},
        )
    ephemeral = [
        {"type": "m.typing", "room_id": events[0]["room_id"], "content": {"x": _filler(64 * KIB)}}
        for _ in range(MAX_EVENTS)
    ]
    to_device = [
        {
            "type": "m.room_key_request",
            "sender": "@someone:lotse.test",
            "to_user_id": "@lotse:lotse.test",
            "to_device_id": "LOTSE",
            "content": {"x": _filler(64 * KIB)},
        }
        for _ in range(MAX_EVENTS)
    ]
    return {
        "events": events,
        "de.sorunome.msc2409.ephemeral": ephemeral,
        "de.sorunome.msc2409.to_device": to_device,
    }


async def _put_raw(
    app: LotseApp, data: Any, *, headers: dict[str, str] | None = None, query: str = ""
) -> tuple[int, dict[str, Any]]:
    """PUT a transaction body as bytes (or an async iterator: sent chunked, without length)."""
    sent = {"Content-Type": "application/json"}
    sent.update(headers if headers is not None else _bearer(app))
    url = _url(app, f"t-{secrets.token_hex(4)}") + query
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        async with http.put(url, data=data, headers=sent) as resp:
            return resp.status, await resp.json(content_type=None)


def _bearer(app: LotseApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.cfg.appservice.hs_token}"}


@pytest.fixture
def limit(running: LotseApp) -> int:
    return running.cfg.appservice.max_transaction_bytes


async def test_maximal_transaction_is_taken(running: LotseApp, limit: int) -> None:
    """The default limit (32 MiB) fits the largest transaction Synapse sends (about 25 MiB):
    it is answered 200 and every one of its 100 events is stored and handled."""
    body = _maximal_transaction()
    data = json.dumps(body).encode()
    assert 24 * KIB * KIB < len(data) <= limit, len(data)
    status, answer = await _put_raw(running, data)
    assert (status, answer) == (200, {})
    await _wait_handled(running.mail_rows, *(evt["event_id"] for evt in body["events"]), timeout=60)


async def _chunks(data: bytes, size: int = 256 * KIB) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("chunked", [False, True])
async def test_transaction_over_the_limit_gets_a_clear_413(
    running: LotseApp, limit: int, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """One byte over the limit (with or without a Content-Length): a prompt 413 M_TOO_LARGE
    naming the option, an error in the log, and nothing stored."""
    events = _events(1)
    data = json.dumps({"events": events, "padding": "x" * limit}).encode()
    assert len(data) > limit
    with caplog.at_level(logging.ERROR, logger="lotse.transactions"):
        status, answer = await _put_raw(running, _chunks(data) if chunked else data)
    assert status == 413 and answer["errcode"] == "M_TOO_LARGE"
    assert "appservice.max_transaction_mb" in answer["error"]
    assert any("appservice.max_transaction_mb" in r.getMessage() for r in caplog.records)
    assert await running.rows.Inbox.state_of(events[0]["event_id"]) is None


async def test_token_in_the_query_string_is_refused(running: LotseApp) -> None:
    """The hs_token counts only in the Authorization header: the deprecated ?access_token=
    (which would land in access logs) is refused on every route, and nothing is stored."""
    token = running.cfg.appservice.hs_token
    events = _events(1)
    data = json.dumps({"events": events}).encode()
    status, answer = await _put_raw(running, data, headers={}, query=f"?access_token={token}")
    assert status == 403 and "Authorization header" in answer["error"]
    assert await running.rows.Inbox.state_of(events[0]["event_id"]) is None
    base = f"http://127.0.0.1:{running.cfg.appservice.port}/_matrix/app/v1"
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        for method, path in (("POST", "/ping"), ("GET", "/users/@lotse_x:lotse.test")):
            url = f"{base}{path}?access_token={token}"
            async with http.request(method, url, json={}) as resp:
                assert resp.status == 403, path
            async with http.request(method, base + path, json={}, headers=_bearer(running)) as ok:
                assert ok.status in (200, 404), path


async def test_bearer_token_must_match_exactly(running: LotseApp) -> None:
    """Another scheme, a prefix or an extension of the hs_token is refused."""
    token = running.cfg.appservice.hs_token
    data = json.dumps({"events": _events(1)}).encode()
    for header in (f"Basic {token}", f"Bearer {token[:-1]}", f"Bearer {token}x", token):
        status, _ = await _put_raw(running, data, headers={"Authorization": header})
        assert status == 403, header
