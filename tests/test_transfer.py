"""Transfer with consent through real E2EE clients: earlier messages stay unreadable."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from nio import MegolmEvent
from nio.exceptions import EncryptionError

from appservice.app import LotseApp
from appservice.contact_data import ContactData
from appservice.db import LotseDatabase
from appservice.dev.client import ask
from tests.conftest import TEST_CONTACT_KEY, MakeHuman
from tests.test_requests import _request, _service_room

pytestmark = pytest.mark.synapse


async def test_transfer_only_with_consent_and_old_messages_stay_sealed(
    make_human: MakeHuman, running: LotseApp
) -> None:
    bot = running.cfg.assistant_mxid
    client = await make_human("uebergabe", centre="nord", role="client")
    old = await make_human("bisher", centre="nord", role="counsellor")
    new = await make_human("kuenftig", centre="nord", role="counsellor")
    other = await make_human("unbeteiligt", centre="nord", role="counsellor")
    intruder = await make_human("fremdklient", centre="nord", role="client")
    outsider = await make_human("suedlich", centre="south", role="counsellor")
    # Not on duty, so the pool room holds only client and the old counsellor.
    for person in (new, other):
        row = await running.rows.Person.get(person.user_id)
        assert row is not None
        await row.set_status("unavailable")
    rooms = {h.user_id: await _service_room(h, bot) for h in (client, old, new, other, intruder)}
    await _request(client, rooms[client.user_id], bot)
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and request.room_id
    room_id = request.room_id
    await ask(old, rooms[old.user_id], bot, f"annehmen {request.id}")
    assert await client.join_invite() == room_id
    assert await old.join_invite() == room_id
    await old.wait_member(room_id, client.user_id)

    before_id = await client.send(room_id, "Vorher: nur für die bisherige Beratung")
    await old.wait_until(
        lambda: any(s.event_id == before_id and s.kind == "text" for s in old.seen),
        what="the first message",
    )

    # Bad input: someone else's client, another centre's counsellor, the same counsellor.
    refused = await ask(
        other, rooms[other.user_id], bot, f"transfer {client.user_id} {new.user_id}"
    )
    client_row = await running.rows.Person.get(client.user_id)
    assert client_row is not None
    assert refused.body == (
        f"Übergeben kann nur die Stammberatung von {client_row.name} oder die Verwaltung. "
        "Nichts wurde geändert."
    )
    wrong_centre = await ask(
        old, rooms[old.user_id], bot, f"transfer {client.user_id} {outsider.user_id}"
    )
    assert "keine Beraterin" in wrong_centre.body
    same = await ask(old, rooms[old.user_id], bot, f"transfer {client.user_id} {old.user_id}")
    assert "schon" in same.body

    client_before = len(client.notices(rooms[client.user_id], bot))
    proposed = await ask(old, rooms[old.user_id], bot, f"transfer {client.user_id} {new.user_id}")
    assert "vorgeschlagen" in proposed.body
    notice = await client.next_notice(
        rooms[client.user_id], bot, client_before, contains="zustimmen"
    )
    transfer_id = notice.body.split("zustimmen ")[1].split("`")[0]
    # Nothing happens before consent.
    row = await running.rows.Person.get(client.user_id)
    assert row is not None and row.home_counsellor_id == old.user_id
    assert new.user_id not in client.members(room_id)

    foreign = await ask(intruder, rooms[intruder.user_id], bot, f"zustimmen {transfer_id}")
    assert "keine Übergabe" in foreign.body
    garbage = await ask(client, rooms[client.user_id], bot, "zustimmen morgen")
    assert "keine Übergabe-Nummer" in garbage.body

    consented = await ask(client, rooms[client.user_id], bot, f"zustimmen {transfer_id}")
    assert "Danke" in consented.body
    twice = await ask(client, rooms[client.user_id], bot, f"zustimmen {transfer_id}")
    assert "schon entschieden" in twice.body
    late_decline = await ask(client, rooms[client.user_id], bot, f"ablehnen {transfer_id}")
    assert "schon entschieden" in late_decline.body

    assert await new.join_invite() == room_id
    await client.wait_left(room_id, old.user_id)
    await client.wait_member(room_id, new.user_id)
    row = await running.rows.Person.get(client.user_id)
    assert row is not None and row.home_counsellor_id == new.user_id
    moved = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
    assert moved is not None and moved.counsellor_id == new.user_id
    await old.next_notice(rooms[old.user_id], bot, 0, contains="übergeben")

    after_id = await client.send(room_id, "Nachher: für die neue Beratung")
    seen = await new.wait_until(
        lambda: next((s for s in new.seen if s.event_id == after_id), None),
        what="the message after the transfer",
    )
    assert seen.kind == "text" and seen.body == "Nachher: für die neue Beratung"

    # The earlier message, as the server stores it: the new counsellor holds no key for it.
    url = f"{client.client.homeserver}/_matrix/client/v3/rooms/{room_id}/event/{before_id}"
    headers = {"Authorization": f"Bearer {client.client.access_token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        raw = await resp.json()
    assert raw["type"] == "m.room.encrypted" and "Vorher" not in str(raw)
    sealed = MegolmEvent.from_dict(raw)
    assert isinstance(sealed, MegolmEvent)
    with pytest.raises(EncryptionError):
        new.client.decrypt_event(sealed)
    assert not any(s.event_id == before_id for s in new.seen)


async def test_declined_transfer_changes_nothing(make_human: MakeHuman, running: LotseApp) -> None:
    bot = running.cfg.assistant_mxid
    client = await make_human("bleibt", centre="nord", role="client")
    home = await make_human("stamm", centre="nord", role="counsellor")
    admin = await make_human("uebergabeadmin", centre="nord", role="admin")
    proposed_to = await make_human("vorgeschlagen", centre="nord", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (client, home, admin)}
    no_home = await ask(
        admin, rooms[admin.user_id], bot, f"transfer {client.user_id} {home.user_id}"
    )
    assert "noch keine Stammberatung" in no_home.body
    await _request(client, rooms[client.user_id], bot)
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None
    await ask(home, rooms[home.user_id], bot, f"annehmen {request.id}")

    # Another centre's staff cannot even find the client.
    south = await make_human("suedadmin", centre="south", role="admin")
    south_room = await _service_room(south, bot)
    hidden = await ask(south, south_room, bot, f"transfer {client.user_id} {south.user_id}")
    assert "no client" in hidden.body

    before = len(client.notices(rooms[client.user_id], bot))
    by_admin = await ask(
        admin, rooms[admin.user_id], bot, f"transfer {client.user_id} {proposed_to.user_id}"
    )
    assert "vorgeschlagen" in by_admin.body
    notice = await client.next_notice(rooms[client.user_id], bot, before, contains="ablehnen")
    transfer_id = notice.body.split("ablehnen ")[1].split("`")[0]
    declined = await ask(client, rooms[client.user_id], bot, f"ablehnen {transfer_id}")
    assert "abgelehnt" in declined.body
    await home.next_notice(rooms[home.user_id], bot, 0, contains="abgelehnt")
    row = await running.rows.Person.get(client.user_id)
    assert row is not None and row.home_counsellor_id == home.user_id
    kept = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
    assert kept is not None and kept.counsellor_id == home.user_id


async def test_two_answers_to_one_transfer_one_counts(database_url: str) -> None:
    """Consent and decline at the same moment: exactly one decides (both backends)."""
    db = LotseDatabase(database_url, ContactData(TEST_CONTACT_KEY))
    await db.start()
    try:
        transfer_id = await db.rows.Transfer.propose("nord", "@c:x", "@old:x", "@new:x", "@old:x")
        results = await asyncio.gather(
            db.rows.Transfer.decide(transfer_id, "@c:x", "consented"),
            db.rows.Transfer.decide(transfer_id, "@c:x", "declined"),
            db.rows.Transfer.decide(transfer_id, "@c:x", "consented"),
        )
        assert sorted(results) == [False, False, True]
        assert not await db.rows.Transfer.decide(transfer_id, "@someone-else:x", "declined")
    finally:
        await db.stop()
