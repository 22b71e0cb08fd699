"""Requests in pool mode: a client asks, staff of the same centre see and accept it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from mautrix.types import EventType, RoomID

from appservice.app import LotseApp
from appservice.contact_data import ContactData
from appservice.db import CounsellingRequest, LotseDatabase
from appservice.dev.client import Human, Seen, ask
from mailgateway.rows import MailRows
from tests.conftest import TEST_CONTACT_KEY, MakeHuman

pytestmark = pytest.mark.synapse


async def _service_room(human: Human, bot: str) -> str:
    """The person's service room, joined, once the assistant's welcome arrived there."""
    room_id = await human.service_room(bot)
    await human.next_notice(room_id, bot, 0)  # the welcome
    return room_id


async def _request(human: Human, room: str, bot: str, first: str = "anfrage") -> Seen:
    """Ask for counselling and answer the one triage question of the test centres (channel)."""
    question = await ask(human, room, bot, first)
    assert "1." in question.body and "2." in question.body, question.body
    return await ask(human, room, bot, "2")


async def _first_request_taken(
    rows: MailRows, make_human: MakeHuman, bot: str
) -> tuple[Human, str, Human, str, CounsellingRequest]:
    """A client whose first request a counsellor accepted: that counsellor is now home."""
    client = await make_human("klient", centre="nord", role="client")
    home = await make_human("stammberatung", centre="nord", role="counsellor")
    client_room = await _service_room(client, bot)
    home_room = await _service_room(home, bot)
    await _request(client, client_room, bot)
    first = await rows.CounsellingRequest.open_for_client(client.user_id)
    assert first is not None
    await ask(home, home_room, bot, f"annehmen {first.id}")
    return client, client_room, home, home_room, first


async def test_request_accept_creates_encrypted_counselling_room(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Client asks; staff are told; one accepts; both are invited; a second accept is refused."""
    bot = running.cfg.assistant_mxid
    client = await make_human("ratsuchend", centre="nord", role="client")
    first = await make_human("beraterin", centre="nord", role="counsellor")
    second = await make_human("berater", centre="nord", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (client, first, second)}

    notices_before = len(first.notices(rooms[first.user_id], bot))
    second_before = len(second.notices(rooms[second.user_id], bot))
    reply = await _request(client, rooms[client.user_id], bot)
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and f"Nr. {request.id}" in reply.body
    told = await first.next_notice(rooms[first.user_id], bot, notices_before)
    assert f"annehmen {request.id}" in told.body

    again = await ask(client, rooms[client.user_id], bot, "anfrage")
    assert f"Nr. {request.id}" in again.body and "schon" in again.body

    listing = await ask(first, rooms[first.user_id], bot, "anfragen")
    assert f"Nr. {request.id}" in listing.body and client.user_id in listing.body

    # Pool room (aygonet 3.4.1.3): client and every on-duty counsellor are invited at once.
    room_id = await first.join_invite()
    assert await second.join_invite() == room_id
    assert await client.join_invite() == room_id
    assert client.client.rooms[room_id].encrypted
    assert running.cfg.steward_mxid in client.members(room_id)
    # Named for the client in their language, with the request and the centre's picture.
    person = await running.rows.Person.get(client.user_id)
    assert person is not None
    shown = client.client.rooms[room_id]
    assert shown.name == f"Beratung für {person.name} – Beratungsstelle Nord"
    assert f"Anfrage Nr. {request.id} bei Beratungsstelle Nord" in (shown.topic or "")
    assert shown.room_avatar_url == running.room_looks.avatar("nord")

    accepted = await ask(first, rooms[first.user_id], bot, f"annehmen {request.id}")
    assert "angenommen" in accepted.body
    # The others are removed: from now on keys go to client and counsellor only.
    await client.wait_left(room_id, second.user_id)
    assert first.user_id in client.members(room_id)

    # The second counsellor was told too; then tries to take it as well.
    await second.next_notice(
        rooms[second.user_id], bot, second_before, contains=f"annehmen {request.id}"
    )
    taken = await ask(second, rooms[second.user_id], bot, f"annehmen {request.id}")
    assert "schon vergeben" in taken.body
    row = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
    assert row is not None and row.counsellor_id == first.user_id and row.room_id == room_id


async def test_other_centres_never_see_the_request(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Staff of another centre cannot list or accept a request; bad numbers get a hint."""
    bot = running.cfg.assistant_mxid
    client = await make_human("nordklient", centre="nord", role="client")
    outsider = await make_human("southstaff", centre="south", role="counsellor")
    client_room = await _service_room(client, bot)
    outsider_room = await _service_room(outsider, bot)
    await _request(client, client_room, bot)
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None

    listing = await ask(outsider, outsider_room, bot, "requests")
    assert client.user_id not in listing.body
    refused = await ask(outsider, outsider_room, bot, f"accept {request.id}")
    assert "no request" in refused.body
    bad = await ask(outsider, outsider_room, bot, "accept seven")
    assert "not a request number" in bad.body
    row = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
    assert row is not None and row.status == "new"


async def test_two_simultaneous_accepts_one_wins(database_url: str) -> None:
    """Of two counsellors accepting at the same moment exactly one gets it (both backends)."""
    db = LotseDatabase(database_url, ContactData(TEST_CONTACT_KEY))
    await db.start()
    try:
        request = await db.rows.CounsellingRequest.create("nord", "@client:x")
        assert request is not None
        assert await db.rows.CounsellingRequest.create("nord", "@client:x") is None  # one open each
        results = await asyncio.gather(
            *(db.rows.CounsellingRequest.claim(request.id, "nord", f"@c{i}:x") for i in range(5))
        )
        assert sorted(results) == [False, False, False, False, True]
        assert not await db.rows.CounsellingRequest.claim(request.id, "south", "@c9:x")
    finally:
        await db.stop()


async def test_home_counsellor_gets_the_next_request_unless_unavailable(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Who took the first request is home counsellor; the next goes straight to them."""
    bot = running.cfg.assistant_mxid
    client, client_room, home, home_room, first = await _first_request_taken(
        running.mail_rows, make_human, bot
    )
    bad_close = await ask(home, home_room, bot, "abschliessen 999999")
    assert "nicht abschließen" in bad_close.body
    closed = await ask(home, home_room, bot, f"abschliessen {first.id}")
    assert "abgeschlossen" in closed.body

    # Second request: no pool, straight to the home counsellor, with a new room.
    reply = await _request(client, client_room, bot)
    second = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert second is not None and second.id != first.id
    assert home.user_id in reply.body
    assert second.counsellor_id == home.user_id and second.room_id
    # A room made for a counsellor directly is named for the client as well.
    steward, made = running.steward_intent, RoomID(second.room_id)
    name = await steward.get_state_event(made, EventType.ROOM_NAME)
    assert getattr(name, "name", "").startswith("Beratung für ")
    avatar = await steward.get_state_event(made, EventType.ROOM_AVATAR)
    assert getattr(avatar, "url", None) == running.room_looks.avatar("nord")
    await ask(home, home_room, bot, f"close {second.id}")

    # Unavailable: the request waits in the pool instead.
    status = await ask(home, home_room, bot, "status unavailable")
    assert "unavailable" in status.body
    wrong = await ask(home, home_room, bot, "status busy")
    assert "status online" in wrong.body
    shown = await ask(home, home_room, bot, "status")
    assert "nicht erreichbar" in shown.body
    await _request(client, client_room, bot)
    third = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert third is not None and third.status == "new" and third.counsellor_id is None
    await ask(home, home_room, bot, "status online")


async def test_capacity_command_validates(make_human: MakeHuman, running: LotseApp) -> None:
    """`capacity` takes unlimited, none or a number; anything else changes nothing."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("kapazitaet", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    assert "bis zu 4" in (await ask(counsellor, room, bot, "capacity 4")).body
    assert "keine Kapazität" in (await ask(counsellor, room, bot, "capacity viele")).body
    assert "bis zu 4" in (await ask(counsellor, room, bot, "status")).body
    assert "unbegrenzt" in (await ask(counsellor, room, bot, "ressourcen unbegrenzt")).body


async def test_absent_home_counsellor_is_skipped(make_human: MakeHuman, running: LotseApp) -> None:
    """During a recorded absence the home counsellor gets no request; bad dates change nothing."""
    bot = running.cfg.assistant_mxid
    client, client_room, home, home_room, first = await _first_request_taken(
        running.mail_rows, make_human, bot
    )
    await ask(home, home_room, bot, f"close {first.id}")

    reversed_range = await ask(home, home_room, bot, "absence add 05.03.2026 01.03.2026 Urlaub")
    assert "vor dem Anfang" in reversed_range.body
    today = datetime.now(UTC).date()
    added = await ask(
        home,
        home_room,
        bot,
        f"absence add {today - timedelta(days=1)} {today + timedelta(days=1)} Fortbildung",
    )
    assert "Fortbildung" in added.body
    listed = await ask(home, home_room, bot, "abwesenheiten")
    assert "Fortbildung" in listed.body

    await _request(client, client_room, bot)
    waiting = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert waiting is not None and waiting.status == "new"  # in the pool, not with home

    absence_id = added.body.split("Nr. ")[1].split(" ")[0]
    assert "nicht" in (await ask(home, home_room, bot, "absence delete 999999")).body
    assert "gelöscht" in (await ask(home, home_room, bot, f"absence delete {absence_id}")).body
    assert "keine Abwesenheiten" in (await ask(home, home_room, bot, "absences")).body


async def test_a_client_who_just_writes_gets_a_request(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A sentence starts a request (its text is not passed on); a typo still gets suggestions."""
    bot = running.cfg.assistant_mxid
    client = await make_human("schreibt", centre="nord", role="client")
    room = await _service_room(client, bot)
    typo = await ask(client, room, bot, "anfrgae")
    assert (
        "anfrage" in typo.body
        and await running.rows.CounsellingRequest.open_for_client(client.user_id) is None
    )
    question = await ask(client, room, bot, "Hallo, ich weiss gerade nicht weiter")
    assert "gebe ich nicht weiter" in question.body and "Wie möchten Sie schreiben" in question.body
    reply = await ask(client, room, bot, "Nachricht")
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and f"Nr. {request.id}" in reply.body
    assert request.channel == "async"
    again = await ask(client, room, bot, "Ist schon jemand da?")
    assert f"Nr. {request.id}" in again.body and "schon" in again.body
