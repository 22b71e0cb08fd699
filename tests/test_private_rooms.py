"""Service rooms and the admin control room stay private, through real E2EE clients.

A service room is created and managed by the assistant alone: the person writes, nothing
more (read back as their client sees the room's state). A chat a person opens with the
assistant is never used: they are invited to their own room instead. Whoever else appears in
a service room (invited by its owner in a room made before v18, or pushed in by a server
admin) gets no answer, no key and no decrypted message: the assistant leaves that room and
the person is told why in a new one. The control room holds the centre's admins only.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp
import pytest
from mautrix.types import RoomCreatePreset, UserID

from appservice.app import LotseApp
from appservice.dev.client import Human, Seen, ask
from appservice.dev.synapse_runner import register_user
from bridge.service_rooms import ENCRYPTION_STATE
from tests.conftest import Lotse, MakeHuman, Stack, join_control_room
from tests.test_privacy import _database_dump

pytestmark = pytest.mark.synapse

ENCRYPTION = ENCRYPTION_STATE["content"]


async def _client_get(human: Human, path: str) -> tuple[int, Any]:
    """GET a client-server API path as the person's own client would."""
    url = f"{human.client.homeserver}/_matrix/client/v3{path}"
    headers = {"Authorization": f"Bearer {human.client.access_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers) as resp:
            return resp.status, await resp.json()


async def _client_post(human: Human, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    url = f"{human.client.homeserver}/_matrix/client/v3{path}"
    headers = {"Authorization": f"Bearer {human.client.access_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


def _bot_said(human: Human, room_id: str, bot: str, after: int = 0) -> list[Seen]:
    """What the assistant posted in the room, as this person's client shows it."""
    return human.notices(room_id, bot)[after:]


async def test_service_room_is_managed_by_the_assistant_alone(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """The person's chat with the assistant is answered with an invitation to a room the
    assistant created (the chat is explained and left); read as the person's client sees it,
    the assistant is that room's only creator, the person's power is 0 and inviting, removing
    and changing state need 100, so the person's own invite and room rename are refused."""
    bot = running.cfg.assistant_mxid
    anna = await make_human("privat", centre="nord", role="client")
    friend = await make_human("freundin", centre=None)

    chat = await anna.open_dm(bot)
    room = await anna.service_room(bot)
    assert room != chat
    explained = await anna.next_notice(chat, bot, 0)
    assert "„Mein Zugang – Beratungsstelle Nord“" in explained.body and explained.encrypted
    await anna.wait_left(chat, bot)
    welcome = await anna.next_notice(room, bot, 0)
    assert "Willkommen" in welcome.body and welcome.encrypted
    person = await running.rows.Person.get(anna.user_id)
    assert person is not None and person.service_room_id == room

    status, create = await _client_get(anna, f"/rooms/{room}/state/m.room.create/")
    assert status == 200, create
    assert anna.user_id not in create.get("additional_creators", [])
    status, events = await _client_get(anna, f"/rooms/{room}/state")
    assert status == 200, events
    (create_event,) = [e for e in events if e["type"] == "m.room.create"]
    assert create_event["sender"] == bot
    (levels,) = [e["content"] for e in events if e["type"] == "m.room.power_levels"]
    assert levels["users"].get(anna.user_id, levels["users_default"]) == 0
    assert levels["events_default"] == 0  # the person writes
    for action in ("invite", "kick", "ban", "redact", "state_default"):
        assert levels[action] == 100, (action, levels)
    assert all(level == 100 for level in levels.get("events", {}).values()), levels
    (join_rule,) = [e["content"]["join_rule"] for e in events if e["type"] == "m.room.join_rules"]
    assert join_rule == "invite"

    status, refused = await _client_post(anna, f"/rooms/{room}/invite", {"user_id": friend.user_id})
    assert status == 403 and refused["errcode"] == "M_FORBIDDEN", refused
    renamed = await anna.client.room_put_state(room, "m.room.name", {"name": "Mein Raum"})
    assert getattr(renamed, "status_code", "") == "M_FORBIDDEN", renamed
    reply = await ask(anna, room, bot, "hilfe")
    assert reply.encrypted and "anfrage" in reply.body

    # A second chat changes nothing: the same room, no second invitation.
    second = await anna.open_dm(bot)
    again = await anna.next_notice(second, bot, 0)
    assert "„Mein Zugang – Beratungsstelle Nord“" in again.body
    await anna.wait_left(second, bot)
    person = await running.rows.Person.get(anna.user_id)
    assert person is not None and person.service_room_id == room
    assert not [r for r in anna.invites if r not in (chat, second)]


async def test_a_chat_with_others_in_it_gets_no_word(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A "direct" chat the person opened with the assistant and a friend: the assistant says
    nothing there (its words would be encrypted for the friend too) and leaves; the person is
    still invited to their own room."""
    bot = running.cfg.assistant_mxid
    person = await make_human("gruppenchat", centre="nord", role="counsellor")
    friend = await make_human("mitlesend", centre=None)
    resp = await person.client.room_create(
        is_direct=True,
        invite=[bot, friend.user_id],
        initial_state=[{"type": "m.room.encryption", "state_key": "", "content": ENCRYPTION}],
    )
    chat = resp.room_id  # type: ignore[union-attr]
    assert await friend.join_invite() == chat
    room = await _new_room_from(person, bot, chat)
    await person.next_notice(room, bot, 0, contains="Willkommen")
    await person.wait_left(chat, bot)
    await friend.sync()
    assert _bot_said(person, chat, bot) == [] and _bot_said(friend, chat, bot) == []


async def room_as_main_made_it(app: LotseApp, human: Human) -> str:
    """A service room created exactly as Lotse did before v18 (``trusted_private_chat``, so
    the person is a creator too and may invite), joined by the person, welcome received."""
    person = await app.rows.Person.get(human.user_id)
    assert person is not None
    intent = app.assistant_intent
    room_id = await intent.create_room(
        preset=RoomCreatePreset.TRUSTED_PRIVATE,
        is_direct=True,
        invitees=[UserID(human.user_id)],
        name=app.cfg.bots.assistant.displayname,
        initial_state=[ENCRYPTION_STATE],
    )
    await intent.get_state(room_id)
    await person.set_service_room(room_id)
    await human.wait_until(lambda: room_id in human.invites, 30, f"an invite to {room_id}")
    human.invites.discard(room_id)
    await human.client.join(room_id)
    await human.next_notice(room_id, app.cfg.assistant_mxid, 0, contains="Willkommen")
    return str(room_id)


async def _new_room_from(human: Human, bot: str, old: str) -> str:
    """Join the room the assistant invites the person to instead of ``old``."""

    def invitation() -> str | None:
        for room_id, room in human.client.invited_rooms.items():
            if room_id in human.invites and room_id != old and room.inviter == bot:
                return str(room_id)
        return None

    room_id: str = await human.wait_until(invitation, 60, "an invitation to a new room")
    human.invites.discard(room_id)
    await human.client.join(room_id)
    await human.sync()
    return room_id


@pytest.mark.parametrize(("owner_role", "third_role"), [("client", None), ("counsellor", "client")])
async def test_somebody_let_into_a_service_room_gets_nothing(
    make_human: MakeHuman, lotse: Lotse, owner_role: str, third_role: str | None
) -> None:
    """A client lets a friend into their service room, a counsellor a client (possible in a
    room made before v18): from that membership on the assistant answers nothing there,
    decrypts nobody's message (neither the owner's nor the third party's), shares no key the
    third party could use; it removes them, leaves, and tells the owner why in a new room.

    Lotse is stopped while it happens, so the invitation, the join and both messages wait
    in Synapse and reach the assistant in order on restart, exactly as they would under load.
    """
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    owner = await make_human("eigner", centre="nord", role=owner_role)
    third = await make_human("dritte", centre="nord" if third_role else None, role=third_role or "")
    old = await room_as_main_made_it(app, owner)
    control = await ask(owner, old, bot, "hilfe")  # decrypted and answered: the room works
    asked_before = control.reply_to

    await lotse.stop()
    status, body = await _client_post(owner, f"/rooms/{old}/invite", {"user_id": third.user_id})
    assert status == 200, body  # a creator of the old room may invite
    assert await third.join_invite() == old
    await owner.wait_member(old, third.user_id)
    answered = len(_bot_said(owner, old, bot))
    by_owner = await owner.send(old, "hilfe")
    by_third = await third.send(old, "hilfe")
    app = await lotse.start()

    new = await _new_room_from(owner, bot, old)
    told = await owner.next_notice(new, bot, 0, contains="noch jemand")
    assert told.encrypted
    await owner.wait_left(old, bot)
    await owner.wait_left(old, third.user_id)
    await third.sync()
    assert _bot_said(owner, old, bot, answered) == []  # the owner's `hilfe` went unanswered
    assert [s for s in _bot_said(third, old, bot) if s.kind == "notice"] == []  # no key
    assert owner.members(new) == {owner.user_id, bot}
    person = await app.rows.Person.get(owner.user_id)
    assert person is not None and person.service_room_id == new
    assert person.service_room_renew is None and person.service_room_notice is None
    # Decrypting leaves the message index in the crypto store: only the message from before.
    index = (await _database_dump(app))["crypto_message_index"]
    assert asked_before in index
    assert by_owner not in index and by_third not in index
    reply = await ask(owner, new, bot, "hilfe")
    assert reply.encrypted and "hilfe" in reply.body.lower()


async def _make_room_admin(stack: Stack, room_id: str, user_id: str) -> None:
    """As a Synapse server admin: have the room's creator invite ``user_id`` with power 100."""
    _, token = await register_user(
        stack.synapse.base_url,
        stack.synapse.shared_secret,
        f"serveradmin-{secrets.token_hex(3)}",
        "Server-admin-1!",
        admin=True,
    )
    url = f"{stack.synapse.base_url}/_synapse/admin/v1/rooms/{room_id}/make_room_admin"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json={"user_id": user_id}, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200, await resp.text()


async def test_server_admin_pushing_somebody_in_ends_the_room(
    make_human: MakeHuman, running: LotseApp, stack: Stack
) -> None:
    """Even in a room made after v18 a Synapse admin can push somebody in (the admin API
    makes the room's creator invite them): the assistant removes them, leaves, and the person
    continues in a new room with an explanation."""
    bot = running.cfg.assistant_mxid
    owner = await make_human("beobachtet", centre="nord", role="client")
    intruder = await make_human("eindringling", centre="nord", role="counsellor")
    room = await owner.service_room(bot)
    await owner.next_notice(room, bot, 0, contains="Willkommen")
    await _make_room_admin(stack, room, intruder.user_id)

    new = await _new_room_from(owner, bot, room)
    told = await owner.next_notice(new, bot, 0, contains="noch jemand")
    assert told.encrypted
    await owner.wait_left(room, bot)
    await owner.wait_left(room, intruder.user_id)
    assert _bot_said(owner, room, bot)[1:] == []  # nothing after the welcome
    assert owner.members(new) == {owner.user_id, bot}


async def test_control_room_holds_the_centres_admins_only(
    make_human: MakeHuman, lotse: Lotse, stack: Stack
) -> None:
    """An admin demoted without being removed yet: notices for the admins go to their service
    rooms instead, and the demoted one is removed. Somebody a server admin pushed in while
    Lotse was down: removed on restart, and nothing the assistant posts from their join on
    is readable to them. The admins go on working in the room afterwards."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    first = await make_human("leiterin", centre="nord", role="admin")
    second = await make_human("leiter", centre="nord", role="admin")
    own_room = await first.service_room(bot)
    await first.next_notice(own_room, bot, 0, contains="Willkommen")
    control = await join_control_room(app, first)
    assert await join_control_room(app, second) == control

    # Demoted in Lotse, still in the room (as if the removal had failed).
    await app.rows.Person.upsert(second.user_id, "nord", "counsellor")
    marker = f"{secrets.randbelow(10**6)}"
    told = await app.assistant.services.tell_admins("nord", "new_request_for_staff", id=marker)
    assert told >= 1
    await first.next_notice(own_room, bot, 1, contains=marker)
    await first.wait_left(control, second.user_id)
    reply = await ask(first, control, bot, "hilfe")
    assert reply.encrypted
    assert not [s for s in _bot_said(first, control, bot) if marker in s.body]
    await second.sync()
    assert not [s for s in _bot_said(second, control, bot) if marker in s.body]

    # Pushed in by a server admin while Lotse is down; an admin types a command meanwhile.
    outsider = await make_human("aussen", centre="nord", role="counsellor")
    await lotse.stop()
    await _make_room_admin(stack, control, outsider.user_id)
    assert await outsider.join_invite() == control
    await first.wait_member(control, outsider.user_id)
    await first.send(control, "counsellors")
    app = await lotse.start()
    await first.wait_left(control, outsider.user_id)
    later = await ask(first, control, bot, "hilfe")
    assert later.encrypted
    await outsider.sync()
    readable = [s for s in _bot_said(outsider, control, bot) if s.kind == "notice"]
    assert readable == [], readable


async def test_two_chats_opened_at_once_make_one_service_room(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Two chats with the assistant opened at the same moment (two devices, a double click):
    both are explained and left, and the person is invited to one service room, not two."""
    bot = running.cfg.assistant_mxid
    anna = await make_human("doppelt", centre="nord", role="client")
    first, second = await asyncio.gather(anna.open_dm(bot), anna.open_dm(bot))
    await anna.wait_left(first, bot)
    await anna.wait_left(second, bot)
    await anna.sync()
    person = await running.rows.Person.get(anna.user_id)
    assert person is not None and person.service_room_id is not None
    invited = {
        room_id
        for room_id, room in anna.client.invited_rooms.items()
        if room.inviter == bot and room_id not in (first, second)
    }
    assert invited == {person.service_room_id}
