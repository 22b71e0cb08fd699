"""Lotse's rooms as a person's client shows them in the room list, on a real Synapse: name,
topic and picture in the person's language, the centre's logo or the shipped compass; and the
assistant's identity key on the web pages.

Centre "nord" (German) has no logo of its own; centre "south" (English) has
``tests/logo_south.png`` (see conftest). What a client sees is read with matrix-nio after
a sync, and each picture is downloaded through the authenticated media API and compared
byte for byte with the file it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mautrix.api import Method, SynapseAdminPath
from mautrix.types import EventType, RoomID, UserID

from appservice.app import LotseApp
from appservice.cross_signing import fingerprint
from appservice.dev.client import Human
from appservice.resources import data_path
from bridge.group_rooms import GroupRooms
from tests.conftest import SOUTH_LOGO, Lotse, MakeHuman
from tests.test_cross_signing import keys_seen_by

pytestmark = pytest.mark.synapse

COMPASS = data_path("templates") / "avatar.png"


async def picture(human: Human, mxc: str) -> bytes:
    """The bytes behind ``mxc`` as a logged-in client downloads them."""
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    url = f"{human.client.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}"
    headers = {"Authorization": f"Bearer {human.client.access_token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.read()


async def seen(human: Human, room_id: str, name: str) -> tuple[str, str, str]:
    """Name, topic and picture of a joined room as the client has them once it shows ``name``."""

    def shown() -> bool:
        room = human.client.rooms.get(room_id)
        return room is not None and room.name == name

    await human.wait_until(shown, 30, f"the name {name!r} of {room_id}")
    room = human.client.rooms[room_id]
    return str(room.name), str(room.topic or ""), str(room.room_avatar_url or "")


async def joined(human: Human, room_id: str) -> None:
    await human.wait_until(lambda: room_id in human.invites, 30, f"an invite to {room_id}")
    human.invites.discard(room_id)
    await human.client.join(room_id)
    await human.sync()


@pytest.mark.parametrize(
    ("centre", "language", "name", "topic", "logo"),
    [
        ("nord", None, "Mein Zugang – Beratungsstelle Nord", "Ihr persönlicher Raum", COMPASS),
        ("nord", "en", "My access – Beratungsstelle Nord", "Your personal room", COMPASS),
        ("south", None, "My access – Counselling Centre South", "Your personal room", SOUTH_LOGO),
    ],
    ids=["centre-de", "person-en", "centre-en-logo"],
)
async def test_service_room_carries_name_topic_and_picture(
    make_human: MakeHuman,
    running: LotseApp,
    centre: str,
    language: str | None,
    name: str,
    topic: str,
    logo: Path,
) -> None:
    """A person's service room reads "Mein Zugang – <centre>" in their own language (their
    language before the centre's), already in the invitation, with the centre's picture."""
    bot = running.cfg.assistant_mxid
    human = await make_human("zugang", centre=centre, role="client")
    if language is not None:
        await running.db.main.execute(
            "UPDATE person SET language=$1 WHERE user_id=$2", language, human.user_id
        )
    chat = await human.open_dm(bot)

    def invitation() -> str | None:
        rooms = human.client.invited_rooms
        return next((r for r in rooms if r != chat and rooms[r].name == name), None)

    # What Element shows for the invitation comes from its stripped state: already named.
    room_id = await human.wait_until(invitation, 30, f"an invitation to {name!r}")
    await human.client.join(room_id)
    await human.sync()
    shown_name, shown_topic, avatar = await seen(human, room_id, name)
    assert shown_name == name and topic in shown_topic
    assert centre_name(running, centre) in shown_topic
    assert avatar.startswith("mxc://")
    assert await picture(human, avatar) == logo.read_bytes()


def centre_name(app: LotseApp, centre_id: str) -> str:
    centre = app.cfg.centre(centre_id)
    assert centre is not None
    return centre.name


@pytest.mark.parametrize(
    ("centre", "name", "topic", "group_topic", "logo"),
    [
        (
            "nord",
            "Beratung für {} – Beratungsstelle Nord",
            "Anfrage Nr. 42 bei Beratungsstelle Nord. Ende-zu-Ende-verschlüsselt",
            "Gruppe „Eltern“ bei Beratungsstelle Nord",
            COMPASS,
        ),
        (
            "south",
            "Counselling for {} – Counselling Centre South",
            "Request no. 42 at Counselling Centre South. End-to-end encrypted",
            "Group “Eltern” at Counselling Centre South",
            SOUTH_LOGO,
        ),
    ],
    ids=["de", "en"],
)
async def test_counselling_and_group_rooms_carry_name_topic_and_picture(
    make_human: MakeHuman,
    running: LotseApp,
    centre: str,
    name: str,
    topic: str,
    group_topic: str,
    logo: Path,
) -> None:
    """A request's room is named for the client in the client's language, a group room
    keeps the group's name with a default topic; both show the centre's picture. The steward
    made them and is the only bot inside, and it has no device (privacy model 1)."""
    client = await make_human("klient", centre=centre, role="client")
    counsellor = await make_human("berat", centre=centre, role="counsellor")
    person = await running.rows.Person.get(client.user_id)
    assert person is not None
    rooms = running.assistant.services.counselling_rooms
    members = [UserID(client.user_id), UserID(counsellor.user_id)]
    room_id = await rooms.create(rooms.name_for(person, 42), members, person, 42)
    await joined(client, room_id)
    await joined(counsellor, room_id)
    shown_name, shown_topic, avatar = await seen(client, room_id, name.format(person.name))
    assert shown_topic.startswith(topic)
    assert await picture(client, avatar) == logo.read_bytes()

    group_room = await GroupRooms(rooms).create("Eltern", "", UserID(counsellor.user_id), centre)
    await joined(counsellor, group_room)
    _, shown_topic, avatar = await seen(counsellor, group_room, "Eltern")
    assert shown_topic.startswith(group_topic)
    assert await picture(counsellor, avatar) == logo.read_bytes()

    steward, assistant = running.cfg.steward_mxid, running.cfg.assistant_mxid
    for room in (room_id, group_room):
        await counsellor.wait_member(room, counsellor.user_id)
        assert steward in counsellor.members(room) and assistant not in counsellor.members(room)
    devices = await keys_seen_by_devices(client, steward)
    assert devices == {}


async def state_of(human: Human, room_id: str, event_type: str) -> dict[str, Any]:
    url = f"{human.client.homeserver}/_matrix/client/v3/rooms/{room_id}/state/{event_type}"
    headers = {"Authorization": f"Bearer {human.client.access_token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        content: dict[str, Any] = await resp.json()
        return content


async def media_of(app: LotseApp) -> int:
    """How many files the assistant uploaded, as Synapse's admin API counts them."""
    path = SynapseAdminPath.v1.users[app.cfg.assistant_mxid].media
    resp = await app.assistant_intent.api.request(Method.GET, path)
    return int(resp["total"])


async def keys_seen_by_devices(human: Human, user_id: str) -> dict[str, Any]:
    """The devices ``/keys/query`` lists for ``user_id``."""
    url = f"{human.client.homeserver}/_matrix/client/v3/keys/query"
    headers = {"Authorization": f"Bearer {human.client.access_token}"}
    body = {"device_keys": {user_id: []}}
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        found: dict[str, Any] = (await resp.json()).get("device_keys", {}).get(user_id, {})
        return found


async def test_centre_rooms_and_space_and_their_repair_at_start(
    make_human: MakeHuman, lotse: Lotse
) -> None:
    """The centre's Space and team room carry the centre's name and logo; a room whose look
    was lost (as in an install from before) gets it back at the next start, and the logo is
    not uploaded again."""
    app = lotse.app if lotse.app is not None and lotse.app.started else await lotse.start()
    counsellor = await make_human("team", centre="south", role="counsellor")
    person = await app.rows.Person.get(counsellor.user_id)
    assert person is not None and app.assistant.centre_rooms is not None
    await app.assistant.centre_rooms.follow(person)
    space = await app.rows.CentreRoom.get("south", "space")
    staff = await app.rows.CentreRoom.get("south", "staff")
    assert space is not None and staff is not None
    for room in (space, staff):
        await joined(counsellor, room)
    logo = SOUTH_LOGO.read_bytes()
    _, topic, avatar = await seen(counsellor, space, "Counselling Centre South")
    assert topic == "The rooms of Counselling Centre South"
    assert await picture(counsellor, avatar) == logo
    _, topic, avatar = await seen(counsellor, staff, "Team – Counselling Centre South")
    assert topic.startswith("The counsellors' team room")
    assert await picture(counsellor, avatar) == logo

    uploads = await media_of(app)
    # An older install's room: no picture, another name.
    steward = app.steward_intent
    await steward.send_state_event(RoomID(staff), EventType.ROOM_AVATAR, {})
    await steward.set_room_name(RoomID(staff), "Team")
    await seen(counsellor, staff, "Team")
    assert await state_of(counsellor, staff, "m.room.avatar") == {}
    app = await lotse.restart()
    _, _, again = await seen(counsellor, staff, "Team – Counselling Centre South")
    assert again == avatar
    # The start uploaded nothing: the two pictures of this config (the compass, south's
    # logo) were uploaded once in the session, and their URIs kept.
    assert await media_of(app) == uploads
    assert await app.db.main.fetchval("SELECT COUNT(*) FROM room_avatar") == 2


@pytest.mark.parametrize(
    ("path", "accept", "words"),
    [
        ("/invite/" + "A" * 43, "de", "Identitätsschlüssel"),
        ("/reset/" + "B" * 43, "de", "Identitätsschlüssel"),
        ("/confirm/nothing-here", "en", "identity key"),
        ("/unsubscribe/nothing.here", "en", "identity key"),
    ],
)
async def test_web_pages_show_the_identity_key(
    make_human: MakeHuman, running: LotseApp, path: str, accept: str, words: str
) -> None:
    """Every page of the web listener names the assistant's master key as a person's client
    gets it from the server, in groups of four, in the page's language."""
    human = await make_human("vergleich", centre="nord", role="counsellor")
    shown = fingerprint((await keys_seen_by(human, running.cfg.assistant_mxid)).master_key)
    url = f"http://127.0.0.1:{running.cfg.appservice.port}{path}"
    headers = {"Accept-Language": accept}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        html = await resp.text()
    assert resp.content_type == "text/html"
    assert f"<code>{shown}</code>" in html and words in html


async def test_service_rooms_from_before_get_their_look_once(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A service room made before rooms were named (the assistant's display name, no topic,
    no picture) is given its look by the background job; once every room has it, the job
    leaves rooms alone until a centre's name, logo or the texts change."""
    bot = running.cfg.assistant_mxid
    human = await make_human("alt", centre="nord", role="client")
    room_id = await human.service_room(bot)
    name = "Mein Zugang – Beratungsstelle Nord"
    await seen(human, room_id, name)
    assistant = running.assistant_intent
    await assistant.send_state_event(RoomID(room_id), EventType.ROOM_AVATAR, {})
    await assistant.send_state_event(RoomID(room_id), EventType.ROOM_TOPIC, {"topic": ""})
    await assistant.set_room_name(RoomID(room_id), "Lotse")
    await seen(human, room_id, "Lotse")
    await running.db.main.execute("DELETE FROM bot_state WHERE key='service_room_looks'")

    await running.scheduler.run_now("service_room_looks")
    _, topic, avatar = await seen(human, room_id, name)
    assert "Ihr persönlicher Raum" in topic
    assert await picture(human, avatar) == COMPASS.read_bytes()

    # Done once: the next run finds the stored signature and touches no room.
    await assistant.set_room_name(RoomID(room_id), "Lotse")
    await running.scheduler.run_now("service_room_looks")
    assert await state_of(human, room_id, "m.room.name") == {"name": "Lotse"}
