"""A consented transfer is judged on the present and happens whole or not at all (issue 9,
point 11); `client home` moves a client only with their consent (point 2)."""

from __future__ import annotations

import re

import pytest
from mautrix.types import RoomID

from appservice.app import LotseApp
from appservice.db import CounsellingRequest
from appservice.dev.client import Human, ask
from mailgateway.rows import MailRows
from tests.conftest import MakeHuman, opened
from tests.test_requests import _request, _service_room

pytestmark = pytest.mark.synapse

CENTRE = "ost"  # few staff on duty: a pool request invites only the people of the test


async def _client_with_home(
    rows: MailRows, make_human: MakeHuman, bot: str
) -> tuple[Human, str, Human, str, CounsellingRequest]:
    """A client of the centre whose first request their (now home) counsellor accepted."""
    client = await make_human("wechselnd", centre=CENTRE, role="client")
    home = await make_human("bisherig", centre=CENTRE, role="counsellor")
    client_room = await _service_room(client, bot)
    home_room = await _service_room(home, bot)
    await _request(client, client_room, bot)
    request = await rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and request.room_id
    accepted = await ask(home, home_room, bot, f"annehmen {request.id}")
    assert "angenommen" in accepted.body, accepted.body
    taken = await rows.CounsellingRequest.get_in_centre(request.id, CENTRE)
    assert taken is not None
    return client, client_room, home, home_room, taken


async def _propose(human: Human, room: str, bot: str, text: str) -> int:
    reply = await ask(human, room, bot, text)
    found = re.search(r"Übergabe Nr\. (\d+) vorgeschlagen", reply.body)
    assert found, reply.body
    return int(found.group(1))


async def _home_of(rows: MailRows, client: Human) -> str | None:
    row = await rows.Person.get(client.user_id)
    assert row is not None
    return row.home_counsellor_id


async def _status(rows: MailRows, transfer_id: int) -> str:
    transfer = await rows.Transfer.get(transfer_id)
    assert transfer is not None
    return transfer.status


async def test_consent_is_judged_on_the_present(make_human: MakeHuman, running: LotseApp) -> None:
    """Consent to a transfer whose new counsellor was deactivated meanwhile, or whose old
    counsellor is no longer the home counsellor, changes nothing: the proposal is withdrawn,
    the client learns why, the proposer is told, nobody is invited."""
    bot = running.cfg.assistant_mxid
    steward = running.assistant.services.counselling_rooms
    client, client_room, old, old_room, request = await _client_with_home(
        running.mail_rows, make_human, bot
    )
    room_id = RoomID(str(request.room_id))
    gone = await make_human("ausgeschieden", centre=CENTRE, role="counsellor")
    admin = await make_human("ostleitung", centre=CENTRE, role="admin")
    admin_room = await _service_room(admin, bot)

    first = await _propose(old, old_room, bot, f"übergeben {client.user_id} {gone.user_id}")
    await ask(admin, admin_room, bot, f"counsellor deactivate {gone.user_id}")
    told_before = len(old.notices(old_room, bot))
    refused = await ask(client, client_room, bot, f"zustimmen {first}")
    assert "nicht mehr möglich" in refused.body and "nicht mehr in Ihrer" in refused.body
    await old.next_notice(old_room, bot, told_before, contains=f"Nr. {first}")
    assert await _status(running.mail_rows, first) == "withdrawn"
    assert await _home_of(running.mail_rows, client) == old.user_id
    assert gone.user_id not in await steward.members(room_id)
    again = await ask(client, client_room, bot, f"zustimmen {first}")
    assert "schon entschieden" in again.body

    other = await make_human("naechste", centre=CENTRE, role="counsellor")
    second = await _propose(old, old_room, bot, f"übergeben {client.user_id} {other.user_id}")
    # The home counsellor changes meanwhile (set here directly; in production e.g. the old
    # counsellor's erasure clears it).
    row = await running.rows.Person.get(client.user_id)
    assert row is not None
    await row.set_home_counsellor(None)
    changed = await ask(client, client_room, bot, f"zustimmen {second}")
    assert "nicht mehr möglich" in changed.body and "Stammberatung" in changed.body
    assert await _status(running.mail_rows, second) == "withdrawn"
    assert await _home_of(running.mail_rows, client) is None
    assert other.user_id not in await steward.members(room_id)
    assert old.user_id in await steward.members(room_id)


async def test_failed_room_move_leaves_no_half_done_transfer(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """The client has two counselling rooms with their counsellor; the second refuses the new
    counsellor. Consent: the new counsellor's invitation to the first room is taken back, the
    old counsellor stays in both, the database keeps the old counsellor, the proposal stays
    open, and the client is told nothing changed."""
    bot = running.cfg.assistant_mxid
    steward = running.assistant.services.counselling_rooms
    client, client_room, old, old_room, first = await _client_with_home(
        running.mail_rows, make_human, bot
    )
    closed = await ask(old, old_room, bot, f"abschliessen {first.id}")
    assert "abgeschlossen" in closed.body, closed.body
    await _request(client, client_room, bot)  # goes straight to the home counsellor
    second = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert second is not None and second.counsellor_id == old.user_id and second.room_id
    rooms = sorted(RoomID(str(r.room_id)) for r in (first, second))
    new = await make_human("uebernehmend", centre=CENTRE, role="counsellor")
    transfer_id = await _propose(old, old_room, bot, f"übergeben {client.user_id} {new.user_id}")

    # The move goes room by room in this order; the second room refuses the new counsellor
    # (banned there earlier), after the first invited them.
    await running.steward_intent.ban_user(rooms[1], new.user_id, reason="test")
    failed = await ask(client, client_room, bot, f"zustimmen {transfer_id}")
    assert "nicht ausgeführt" in failed.body and "nichts geändert" in failed.body

    for room_id in rooms:
        members = await steward.members(room_id)
        assert new.user_id not in members and old.user_id in members
    assert await _status(running.mail_rows, transfer_id) == "proposed"
    assert await _home_of(running.mail_rows, client) == old.user_id
    for request in (first, second):
        row = await running.rows.CounsellingRequest.get_in_centre(request.id, CENTRE)
        assert row is not None and row.counsellor_id == old.user_id


async def test_client_home_moves_a_client_only_with_their_consent(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """`client home` for a client who has a home counsellor is a transfer proposal: only the
    home counsellor or an admin may make it, nothing moves before the client consents, and
    the consent moves rooms and home counsellor. A client without one gets one at once."""
    bot = running.cfg.assistant_mxid
    steward = running.assistant.services.counselling_rooms
    client, client_room, old, _, request = await _client_with_home(
        running.mail_rows, make_human, bot
    )
    room_id = RoomID(str(request.room_id))
    nosy = await make_human("neugierig", centre=CENTRE, role="counsellor")
    nosy_room = await _service_room(nosy, bot)
    chosen = await make_human("gewaehlt", centre=CENTRE, role="counsellor")
    admin = await make_human("ostverwaltung", centre=CENTRE, role="admin")
    admin_room = await _service_room(admin, bot)

    grab = await ask(nosy, nosy_room, bot, f"client home {client.user_id} {nosy.user_id}")
    assert "Übergeben kann nur die Stammberatung" in grab.body
    assert await _home_of(running.mail_rows, client) == old.user_id

    before = len(client.notices(client_room, bot))
    transfer_id = await _propose(
        admin, admin_room, bot, f"client home {client.user_id} {chosen.user_id}"
    )
    await client.next_notice(client_room, bot, before, contains=f"zustimmen {transfer_id}")
    assert await _home_of(running.mail_rows, client) == old.user_id
    assert chosen.user_id not in await steward.members(room_id)

    consented = await ask(client, client_room, bot, f"zustimmen {transfer_id}")
    assert "Danke" in consented.body
    assert await _home_of(running.mail_rows, client) == chosen.user_id
    members = await steward.members(room_id)
    assert chosen.user_id in members and old.user_id not in members

    newcomer = await make_human("ohnestamm", centre=CENTRE, role="client")
    direct = await ask(admin, admin_room, bot, f"client home {newcomer.user_id} {chosen.user_id}")
    assert "jetzt Stammberat" in direct.body
    assert await _home_of(running.mail_rows, newcomer) == chosen.user_id


async def test_a_new_proposal_replaces_the_open_one_in_one_step(database_url: str) -> None:
    """Proposing withdraws the client's open proposal in the same transaction as it stores
    the new one: afterwards exactly one is open, and a proposal that cannot be stored
    withdraws nothing (both backends)."""
    async with opened(database_url) as db:
        first = await db.rows.Transfer.propose(CENTRE, "@c:x", "@old:x", "@a:x", "@old:x")
        second = await db.rows.Transfer.propose(CENTRE, "@c:x", "@old:x", "@b:x", "@old:x")
        assert await _status(MailRows(db), first) == "withdrawn"
        assert await _status(MailRows(db), second) == "proposed"
        with pytest.raises(Exception, match="(?i)null"):
            await db.rows.Transfer.propose(CENTRE, "@c:x", "@old:x", None, "@old:x")  # type: ignore[arg-type]
        assert await _status(MailRows(db), second) == "proposed"
