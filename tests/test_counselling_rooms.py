"""Counselling rooms: people read each other, the platform cannot (privacy model, point 1)."""

from __future__ import annotations

import secrets

import aiohttp
import pytest
from mautrix.types import UserID

from appservice.app import LotseApp
from appservice.dev.client import Human
from tests.conftest import MakeHuman
from tests.test_privacy import _database_dump

pytestmark = pytest.mark.synapse


async def _next_text(human: Human, room_id: str, sender: str, before: int) -> str:
    def found() -> str | None:
        texts = [s for s in human.seen if s.room_id == room_id and s.sender == sender]
        texts = [s for s in texts if s.kind in ("text", "undecryptable")]
        return texts[before].kind + ":" + texts[before].body if len(texts) > before else None

    return str(await human.wait_until(found, 30, f"a message from {sender}"))


async def test_client_and_counsellor_read_each_other_but_the_platform_cannot(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """E2EE both ways; the steward has no device; no room key and no text in Lotse's database."""
    client = await make_human("klientin", centre="nord", role="client")
    counsellor = await make_human("berater", centre="nord", role="counsellor")
    rooms = running.assistant.services.counselling_rooms
    room_id = await rooms.create("Beratung", [UserID(client.user_id), UserID(counsellor.user_id)])

    for human in (client, counsellor):
        joined = await human.join_invite()
        assert joined == room_id
    await client.wait_member(room_id, counsellor.user_id)
    await counsellor.wait_member(room_id, client.user_id)
    assert client.client.rooms[room_id].encrypted
    assert client.client.rooms[room_id].history_visibility == "joined"

    secret = f"Ich habe Angst vor der Pruefung {secrets.token_hex(4)}"
    await client.send(room_id, secret)
    assert await _next_text(counsellor, room_id, client.user_id, 0) == f"text:{secret}"
    answer = f"Erzaehlen Sie mehr {secrets.token_hex(4)}"
    await counsellor.send(room_id, answer)
    assert await _next_text(client, room_id, counsellor.user_id, 0) == f"text:{answer}"

    # The steward is in the room, yet no key reached Lotse: no inbound megolm session here.
    assert running.cfg.steward_mxid in client.members(room_id)
    sessions = await running.db.main.fetchval(
        "SELECT COUNT(*) FROM crypto_megolm_inbound_session WHERE room_id=$1", room_id
    )
    assert sessions == 0
    dump = "\n".join((await _database_dump(running)).values())
    assert secret not in dump and answer not in dump
    assert room_id in dump  # the scan does see this room's rows (metadata only)


async def test_only_the_steward_manages_membership(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A counsellor cannot invite a third person; the steward can add and remove people."""
    client = await make_human("kl2", centre="nord", role="client")
    counsellor = await make_human("be2", centre="nord", role="counsellor")
    other = await make_human("be3", centre="nord", role="counsellor")
    rooms = running.assistant.services.counselling_rooms
    room_id = await rooms.create("Beratung", [UserID(client.user_id), UserID(counsellor.user_id)])
    await client.join_invite()
    await counsellor.join_invite()

    url = f"{running.cfg.homeserver.address}/_matrix/client/v3/rooms/{room_id}/invite"
    headers = {"Authorization": f"Bearer {counsellor.client.access_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"user_id": other.user_id}, headers=headers) as resp:
            assert resp.status == 403

    await rooms.invite(room_id, UserID(other.user_id))
    assert await other.join_invite() == room_id
    await rooms.remove(room_id, UserID(other.user_id), reason="transfer declined")
    await client.wait_left(room_id, other.user_id)
