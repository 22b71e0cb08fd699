"""The assistant through a real E2EE Matrix client against a real Synapse."""

from __future__ import annotations

import pytest
from nio.event_builders import EnableEncryptionBuilder

from appservice.app import LotseApp
from appservice.dev.client import ask
from tests.conftest import Lotse, MakeHuman

pytestmark = pytest.mark.synapse


async def _service_room(human, bot: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Reach the service room and wait for the (encrypted) welcome; return room and text."""
    room_id = await human.service_room(bot)
    welcome = await human.next_notice(room_id, bot, 0)
    return room_id, welcome.body


async def test_help_round_trip_is_encrypted(make_human: MakeHuman, running: LotseApp) -> None:
    """A client opens an encrypted DM, gets a German welcome, and `help` is answered encrypted."""
    bot = running.cfg.assistant_mxid
    anna = await make_human("anna", centre="nord", role="client")
    room_id, welcome = await _service_room(anna, bot)
    assert "Beratungsstelle Nord" in welcome
    reply = await ask(anna, room_id, bot, "help")
    assert reply.encrypted
    assert "hilfe" in reply.body.lower() or "help" in reply.body
    assert "<code>help" in reply.html  # Element shows formatting, not raw Markdown
    # The service room is recorded for the person.
    person = await running.assistant.directory.lookup(anna.user_id)
    assert person is not None and person.service_room_id == room_id


async def test_aliases_prefix_and_language(make_human: MakeHuman, running: LotseApp) -> None:
    """`!hilfe` works like `help`; an English centre answers in English; typos get suggestions."""
    bot = running.cfg.assistant_mxid
    ben = await make_human("ben", centre="south", role="counsellor")
    room_id, welcome = await _service_room(ben, bot)
    assert "Counselling Centre South" in welcome
    english = await ask(ben, room_id, bot, "!hilfe")
    same = await ask(ben, room_id, bot, "help")
    assert english.body == same.body
    typo = await ask(ben, room_id, bot, "hlep")
    assert "help" in typo.body and typo.body != same.body


async def test_roles_shape_the_help(make_human: MakeHuman, running: LotseApp) -> None:
    """A client's help lists no staff commands; an unknown command says what to type instead."""
    bot = running.cfg.assistant_mxid
    cleo = await make_human("cleo", centre="nord", role="client")
    room_id, _ = await _service_room(cleo, bot)
    unknown = await ask(cleo, room_id, bot, "frobnicate now")
    assert "frobnicate" in unknown.body
    assert "hilfe" in unknown.body.lower()


async def test_stranger_is_refused_politely(make_human: MakeHuman, running: LotseApp) -> None:
    """Someone of no centre who invites the bot gets an explanation, then the bot leaves."""
    bot = running.cfg.assistant_mxid
    stranger = await make_human("stranger", centre=None)
    room_id = await stranger.open_dm(bot)
    note = await stranger.next_notice(room_id, bot, 0)
    assert note.encrypted
    await stranger.wait_left(room_id, bot)
    assert await running.assistant.directory.lookup(stranger.user_id) is None


async def test_restart_keeps_device_and_keys(make_human: MakeHuman, lotse: Lotse) -> None:
    """After a restart the bot keeps its device and the next encrypted exchange still works."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    dora = await make_human("dora", centre="nord", role="counsellor")
    room_id, _ = await _service_room(dora, bot)
    device_before = app.device.device_id
    app = await lotse.restart()
    assert app.device.device_id == device_before
    reply = await ask(dora, room_id, bot, "hilfe")
    assert reply.encrypted and reply.kind == "notice"


async def test_message_sent_while_down_is_answered(make_human: MakeHuman, lotse: Lotse) -> None:
    """A message (and its room key) sent while Lotse is stopped is decrypted and answered later."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    emil = await make_human("emil", centre="nord", role="client")
    room_id, _ = await _service_room(emil, bot)
    await lotse.stop()
    before = len(emil.notices(room_id, bot))
    await emil.send(room_id, "hilfe")
    await lotse.start()
    reply = await emil.next_notice(room_id, bot, before, timeout=90)
    assert reply.encrypted


async def test_bot_never_joins_a_room_that_is_not_a_direct_chat(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """An invite to a non-direct room (it could be a counselling room) is rejected unjoined."""
    bot = running.cfg.assistant_mxid
    fiona = await make_human("fiona", centre="nord", role="counsellor")
    resp = await fiona.client.room_create(
        invite=[bot], initial_state=[EnableEncryptionBuilder().as_dict()]
    )
    room_id = resp.room_id  # type: ignore[union-attr]
    await fiona.wait_left(room_id, bot)
    joined = [
        s
        for s in fiona.seen
        if s.room_id == room_id and s.state_key == bot and s.membership == "join"
    ]
    assert joined == []
    person = await running.assistant.directory.lookup(fiona.user_id)
    assert person is not None and person.service_room_id != room_id
