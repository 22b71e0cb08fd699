"""A deleted or erased counsellor strands nobody (issue 9, point 4), through real Synapse and
real E2EE clients: their open requests go back through the assignment — into the pool with
the on-duty staff invited, or to the fallback counsellor — the steward takes them out of the
counselling room and invites the new counsellor, the client and the admins are told, and the
client can ask again later."""

from __future__ import annotations

import pytest
from mautrix.types import RoomID

from appservice.app import LotseApp
from appservice.dev.client import Human, ask
from bots.records.client_rules import DAY_MS
from tests.conftest import MakeHuman, join_control_room
from tests.test_clients import staff
from tests.test_requests import _request, _service_room

pytestmark = pytest.mark.synapse


async def _erase(running: LotseApp, user_id: str) -> None:
    person = await running.rows.Person.get(user_id)
    assert person is not None and person.deleted_at is not None
    await person.set_account(deleted_at=person.deleted_at - 31 * DAY_MS)
    await running.scheduler.run_now("deletion_routine")
    tomb = await running.rows.ErasedPerson.get(user_id)
    assert tomb is not None and tomb.erased_at is not None


async def test_deleted_counsellors_requests_go_back_to_the_pool(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """`counsellor delete`: the assigned request waits in the pool again, in its room, without
    the departed counsellor and with the on-duty staff invited; a pool room they were invited
    to loses them; their proposed transfer is withdrawn; client and admins are told. After the
    erasure the client, served by whoever took over, gets a new request as usual."""
    bot = running.cfg.assistant_mxid
    rooms = running.assistant.services.counselling_rooms
    admin, admin_room = await staff(make_human, bot, "abschiedsleitung", "admin")
    control = await join_control_room(running, admin)
    leaving, leaving_room = await staff(make_human, bot, "gehtweg", "counsellor")
    other, other_room = await staff(make_human, bot, "bleibtda", "counsellor")
    client = await make_human("verlassen", centre="nord", role="client")
    pooled = await make_human("wartend", centre="nord", role="client")
    client_room = await _service_room(client, bot)
    pooled_room = await _service_room(pooled, bot)

    await _request(client, client_room, bot)
    taken = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert taken is not None and taken.room_id
    room = RoomID(taken.room_id)
    await ask(leaving, leaving_room, bot, f"annehmen {taken.id}")
    assert await client.join_invite() == room
    await leaving.client.join(room)
    assert other.user_id not in await rooms.members(room)  # removed once it was taken
    client_row = await running.rows.Person.get(client.user_id)
    assert client_row is not None and client_row.home_counsellor_id == leaving.user_id
    leaving_login = leaving.user_id[1:].split(":")[0]
    other_login = other.user_id[1:].split(":")[0]
    proposed = await ask(leaving, leaving_room, bot, f"transfer {client.user_id} {other_login}")
    assert "Nr." in proposed.body, proposed.body
    transfer_id = int(proposed.body.split("Nr. ")[1].split()[0].strip(".:"))

    await _request(pooled, pooled_room, bot)
    waiting = await running.rows.CounsellingRequest.open_for_client(pooled.user_id)
    assert waiting is not None and waiting.room_id
    assert leaving.user_id in await rooms.members(RoomID(waiting.room_id))

    await other.sync()
    other_before = len(other.notices(other_room, bot))
    client_before = len(client.notices(client_room, bot))
    admins_before = len(admin.notices(control, bot))
    deleted = await ask(admin, admin_room, bot, f"berater loeschen {leaving_login}")
    again = await running.rows.CounsellingRequest.get_in_centre(taken.id, "nord")
    assert again is not None and again.status == "new" and again.counsellor_id is None
    assert "Löschen vorgemerkt" in deleted.body and "1 offene Anfrage(n)" in deleted.body
    assert "Stammberater:in von 1" in deleted.body
    assert again.room_id == taken.room_id  # the client keeps their room
    members = await rooms.members(room)
    assert leaving.user_id not in members and other.user_id in members
    assert leaving.user_id not in await rooms.members(RoomID(waiting.room_id))
    told = await other.next_notice(other_room, bot, other_before, contains=f"Nr. {taken.id}")
    assert "Neue Anfrage" in told.body
    heard = await client.next_notice(client_room, bot, client_before, contains="nicht mehr")
    assert f"Nr. {taken.id}" in heard.body and "wartet" in heard.body
    notice = await admin.next_notice(control, bot, admins_before, contains="neu vergeben")
    assert f"Nr. {taken.id} → Pool" in notice.body
    assert client.user_id not in notice.body  # request numbers, not who asked
    client_row = await running.rows.Person.get(client.user_id)
    assert client_row is not None and client_row.home_counsellor_id is None
    transfer = await running.rows.Transfer.get(transfer_id)
    assert transfer is not None and transfer.status == "withdrawn"
    # Nor can an admin hand them a request again.
    refused = await ask(admin, admin_room, bot, f"zuweisen {waiting.id} {leaving_login}")
    assert "zum Löschen vorgemerkt" in refused.body and "Nichts wurde geändert" in refused.body
    still = await running.rows.CounsellingRequest.get_in_centre(waiting.id, "nord")
    assert still is not None and still.status == "new" and still.counsellor_id is None

    # Whoever accepts becomes the client's home counsellor; after the erasure the client's
    # next request goes to them as usual.
    accepted = await ask(other, other_room, bot, f"annehmen {taken.id}")
    assert "angenommen" in accepted.body, accepted.body
    await _erase(running, leaving.user_id)
    assert "abgeschlossen" in (await ask(other, other_room, bot, f"close {taken.id}")).body
    reply = await _request(client, client_room, bot)
    fresh = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert fresh is not None and fresh.id != taken.id
    assert fresh.status == "assigned" and fresh.counsellor_id == other.user_id
    assert f"Nr. {fresh.id}" in reply.body


async def _ask_in_farsi(client: Human, room: str, bot: str) -> None:
    """West asks topic, language, channel: addiction, Farsi, a message."""
    await ask(client, room, bot, "anfrage")
    await ask(client, room, bot, "2")
    await ask(client, room, bot, "2")
    await ask(client, room, bot, "Nachricht")


async def test_erased_counsellors_request_goes_to_the_fallback(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A counsellor deleted before requests were handed back (as on an older Lotse) still
    held a request when the routine erased them: it goes to the fallback counsellor, who is
    invited to the client's room; client and admins are told; the client asks again later."""
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    admin, admin_room = await staff(make_human, bot, "westabschied", "admin", centre="west")
    control = await join_control_room(running, admin)
    leaving, leaving_room = await staff(make_human, bot, "farsi", "counsellor", centre="west")
    fallback, fallback_room = await staff(make_human, bot, "auffangnetz", "counsellor", "west")
    client = await make_human("westfrage", centre="west", role="client")
    client_room = await _service_room(client, bot)
    await ask(leaving, leaving_room, bot, "profile languages=de,fa")
    fallback_login = fallback.user_id[1:].split(":")[0]
    settings = f"automatic_assignment=on languages=de,fa fallback_counsellor={fallback_login}"
    await ask(admin, admin_room, bot, f"einstellungen {settings}")
    try:
        await _ask_in_farsi(client, client_room, bot)
        request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
        assert request is not None and request.counsellor_id == leaving.user_id
        assert request.room_id
        assert await client.join_invite() == request.room_id

        # Deleted the old way: locked and marked, nothing handed back.
        await services.admin.lock(leaving.user_id)
        row = await running.rows.Person.get(leaving.user_id)
        assert row is not None
        await row.set_account(deleted_at=row.created_at)
        still = await running.rows.CounsellingRequest.open_for_client(client.user_id)
        assert still is not None and still.counsellor_id == leaving.user_id

        client_before = len(client.notices(client_room, bot))
        admins_before = len(admin.notices(control, bot))
        await _erase(running, leaving.user_id)

        moved = await running.rows.CounsellingRequest.open_for_client(client.user_id)
        assert moved is not None and moved.id == request.id
        assert moved.status == "assigned" and moved.counsellor_id == fallback.user_id
        assert await fallback.join_invite() == request.room_id
        told = await fallback.next_notice(fallback_room, bot, 0, contains=f"Nr. {request.id}")
        assert "Fallback" in told.body
        heard = await client.next_notice(client_room, bot, client_before, contains="nicht mehr")
        fallback_name = fallback.user_id
        assert f"Nr. {request.id}" in heard.body and fallback_name in heard.body
        notice = await admin.next_notice(control, bot, admins_before, contains="neu vergeben")
        assert f"Nr. {request.id} → {fallback_name}" in notice.body

        # The client is not stuck with a request of an erased counsellor: once it is closed,
        # the next one goes to the fallback counsellor, now their home counsellor.
        closed = await ask(fallback, fallback_room, bot, f"close {request.id}")
        assert "abgeschlossen" in closed.body
        await _ask_in_farsi(client, client_room, bot)
        fresh = await running.rows.CounsellingRequest.open_for_client(client.user_id)
        assert fresh is not None and fresh.id != request.id
        assert fresh.counsellor_id == fallback.user_id
    finally:
        reset = "automatic_assignment=off languages=de fallback_counsellor=-"
        await ask(admin, admin_room, bot, f"einstellungen {reset}")
