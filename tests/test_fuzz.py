"""Fuzzing (issue 13): generated commands through the command path, generated transactions
and events through the running appservice's endpoint, and the role matrix of every command.

The suite runs a few thousand examples; benchmarks/fuzz_commands.py runs 100,000 and more.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appservice.app import LotseApp
from appservice.transactions import well_formed
from bots.framework.commands import Denied, Resolved, Role
from bots.framework.parsing import parse
from tests.conftest import DOMAIN
from tests.fuzz_inputs import NAMES, REGISTRY, check_command_text, commands

SUITE_EXAMPLES = 3000


@settings(max_examples=SUITE_EXAMPLES, deadline=None, derandomize=True)
@given(text=commands, role=st.sampled_from(list(Role)), lang=st.sampled_from(["de", "en"]))
def test_generated_commands_are_answered_or_ignored(text: str, role: Role, lang: str) -> None:
    """No generated text makes the command path up to the handler raise: it is a command
    the role may run, no command at all, or refused with a rendered answer."""
    check_command_text(text, role, lang)


def test_every_command_name_is_generated() -> None:
    assert len(NAMES) >= len(REGISTRY.specs) > 20


@pytest.mark.parametrize(
    ("name", "role"),
    [(spec.name, role) for spec in REGISTRY.specs for role in Role],
)
def test_role_matrix(name: str, role: Role) -> None:
    """Every command × every role: it resolves exactly where ``may_use`` allows it; other
    roles are refused before any handler runs (clients do not even learn that it exists)."""
    spec = next(s for s in REGISTRY.specs if s.name == name)
    words = [f"{a.name}=x" if a.keyword else "x" for a in spec.positional if a.required]
    parsed = parse(" ".join([name, *words]))
    assert parsed is not None
    resolution = REGISTRY.resolve(parsed, role)
    # The rule spelled out here, not taken from bots.commands.may_use: admins may do what
    # counsellors may, nobody else borrows another role's commands.
    allowed = role in spec.roles or (role is Role.ADMIN and Role.COUNSELLOR in spec.roles)
    if allowed:
        # Resolved, or the command's own word about its arguments: the role got through.
        assert not isinstance(resolution, Denied), resolution
        assert getattr(resolution, "spec", None) is spec, resolution
        return
    # Refused, or another command of the same first word that this role has (a client's
    # `counsellor` for the admins' `counsellor new`) and that then judges the words itself.
    assert not (isinstance(resolution, Resolved) and resolution.spec is spec), resolution
    if role is Role.CLIENT:
        assert not isinstance(resolution, Denied), resolution


# --- the transaction endpoint ----------------------------------------------------------------

_ids = itertools.count()
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_types = st.sampled_from(
    [
        "m.room.message",
        "m.room.encrypted",
        "m.room.member",
        "m.room.create",
        "m.room.power_levels",
        "m.room.encryption",
        "m.reaction",
        "org.matrix.msc3381.poll.response",
        "m.room.redaction",
    ]
) | st.text(max_size=20)


@st.composite
def _events(draw: st.DrawFn) -> Any:
    """Event-shaped dicts with wrong, missing or odd fields, or no dict at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_json)
    event: dict[str, Any] = {
        "event_id": f"$fuzz-{next(_ids)}-{secrets.token_hex(4)}",
        "room_id": draw(
            st.sampled_from([f"!fuzz:{DOMAIN}", f"!other:{DOMAIN}"]) | st.text(max_size=10)
        ),
        "type": draw(_types),
    }
    optional = {
        "sender": st.from_regex(r"@[a-z]{1,6}:lotse\.test", fullmatch=True) | _json,
        "content": st.dictionaries(
            st.sampled_from(
                [
                    "body",
                    "msgtype",
                    "membership",
                    "algorithm",
                    "ciphertext",
                    "session_id",
                    "m.relates_to",
                    "is_direct",
                    "displayname",
                ]
            ),
            _json,
            max_size=5,
        )
        | _json,
        "state_key": st.text(max_size=10) | _json,
        "origin_server_ts": st.integers() | _json,
        "unsigned": _json,
        "redacts": _json,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            event[key] = draw(strategy)
    return event


_bodies = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v).encode()),
    st.lists(_events(), max_size=8).map(lambda evs: json.dumps({"events": evs}).encode()),
    st.tuples(st.lists(_events(), max_size=4), _json).map(
        lambda pair: json.dumps({"events": pair[0], "ephemeral": pair[1]}).encode()
    ),
)


def _stored_ids(body: bytes) -> list[str]:
    """The event ids a body names (in any event-shaped dict)."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        return []
    return [e["event_id"] for e in events if isinstance(e, dict) and "event_id" in e]


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.synapse
async def test_generated_transactions_answered_and_refused_ones_store_nothing(
    running: LotseApp,
) -> None:
    """Generated bodies (bytes, any JSON, event-shaped dicts with odd fields) PUT to the real
    endpoint: each gets 200 or 400, never a 500; a refused one stores nothing; everything
    stored is handled or skipped without an error logged, and the worker still answers."""
    url = f"http://127.0.0.1:{running.cfg.appservice.port}/_matrix/app/v1/transactions/"
    headers = {
        "Authorization": f"Bearer {running.cfg.appservice.hs_token}",
        "Content-Type": "application/json",
    }
    stored: list[str] = []
    errors = _Errors()
    logging.getLogger("lotse").addHandler(errors)
    try:
        async with aiohttp.ClientSession() as http:

            @settings(
                max_examples=300,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(body=_bodies)
            def one(body: bytes) -> None:
                bodies.append(body)

            bodies: list[bytes] = []
            one()
            for body in bodies:
                txn = f"fuzz-{secrets.token_hex(4)}"
                async with http.put(url + txn, data=body, headers=headers) as resp:
                    assert resp.status in (200, 400), (resp.status, body[:200])
                    names = _stored_ids(body)
                    if resp.status == 400:
                        for event_id in names:
                            if isinstance(event_id, str):
                                assert await running.rows.Inbox.state_of(event_id) is None
                    else:
                        stored += [e for e in names if isinstance(e, str)]
            marker = {
                "event_id": f"$fuzz-marker-{secrets.token_hex(4)}",
                "room_id": f"!fuzz-marker:{DOMAIN}",
                "type": "m.room.message",
                "sender": f"@someone:{DOMAIN}",
                "origin_server_ts": int(time.time() * 1000),
                "content": {},
            }
            body = json.dumps({"events": [marker]}).encode()
            async with http.put(url + "fuzz-marker", data=body, headers=headers) as resp:
                assert resp.status == 200
        deadline = time.monotonic() + 60
        while True:
            states = {
                e: await running.rows.Inbox.state_of(e) for e in [*stored, marker["event_id"]]
            }
            if all(s in ("handled", "failed", None) for s in states.values()):
                break
            assert time.monotonic() < deadline, {e: s for e, s in states.items() if s}
            await asyncio.sleep(0.2)
        assert states[marker["event_id"]] == "handled"
    finally:
        logging.getLogger("lotse").removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"membership": "join", "displayname": "Anna"}, True),
        ({"membership": "join", "displayname": None, "avatar_url": None}, True),
        ({"membership": "join"}, True),
        # Found by the generated transactions: the state store would bind a list into SQL.
        ({"membership": "join", "displayname": ["Anna"]}, False),
        ({"membership": "join", "avatar_url": {"url": "mxc://x/y"}}, False),
        ({"membership": 1}, False),
    ],
)
def test_member_content_must_be_text(content: dict[str, object], expected: bool) -> None:
    event = {
        "event_id": "$e",
        "room_id": "!r:x",
        "sender": "@a:x",
        "type": "m.room.member",
        "state_key": "@a:x",
        "content": content,
    }
    assert well_formed(event) is expected
