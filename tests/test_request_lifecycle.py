"""A request's life after triage: admin assignment, answered, overdue, the absence assistant."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from appservice.app import LotseApp
from appservice.db import CounsellingRequest
from appservice.dev.client import Human, ask
from bots.requests.lifecycle import OVERDUE_JOB
from mailgateway.rows import MailRows
from tests.conftest import MakeHuman, join_control_room
from tests.test_privacy import _database_dump
from tests.test_requests import _request, _service_room

pytestmark = pytest.mark.synapse


async def _wait_status(
    rows: MailRows, request_id: int, status: str, human: Human
) -> CounsellingRequest:
    async def check() -> CounsellingRequest | None:
        row = await rows.CounsellingRequest.get_in_centre(request_id, "nord")
        return row if row is not None and row.status == status else None

    for _ in range(60):
        row = await check()
        if row is not None:
            return row
        await human.sync(timeout_ms=500)
    raise AssertionError(f"request {request_id} never became {status}")


async def _notices_after(human: Human, room: str, bot: str, marker_from: int) -> list[str]:
    """Bodies of the bot's notices after index ``marker_from``, once a status reply arrived.

    Asking ``status`` and waiting for its answer proves everything sent before has arrived.
    """
    await ask(human, room, bot, "status")
    return [s.body for s in human.notices(room, bot)[marker_from:]]


async def test_admin_assigns_within_the_centre_only(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """`assign` takes the centre's staff only, is audited, and loses against an earlier accept."""
    bot = running.cfg.assistant_mxid
    admin = await make_human("nordadmin", centre="nord", role="admin")
    counsellor = await make_human("zugewiesen", centre="nord", role="counsellor")
    outsider = await make_human("suedberater", centre="south", role="counsellor")
    client = await make_human("zuweisungsklient", centre="nord", role="client")
    admin_room = await _service_room(admin, bot)
    room = await _service_room(client, bot)
    await _request(client, room, bot)
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and request.status == "new" and request.room_id

    south_admin = await make_human("southadmin", centre="south", role="admin")
    south_room = await _service_room(south_admin, bot)
    foreign = await ask(south_admin, south_room, bot, f"assign {request.id} {outsider.user_id}")
    assert "no request" in foreign.body
    elsewhere = await ask(admin, admin_room, bot, f"zuweisen {request.id} {outsider.user_id}")
    assert "keine Beraterin" in elsewhere.body
    unknown = await ask(admin, admin_room, bot, "zuweisen 99999999 irgendwer")
    assert "99999999" in unknown.body
    row = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
    assert row is not None and row.status == "new"

    localpart = counsellor.user_id[1:].split(":")[0]
    done = await ask(admin, admin_room, bot, f"zuweisen {request.id} {localpart}")
    assert "zugewiesen" in done.body
    row = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
    assert row is not None and row.counsellor_id == counsellor.user_id
    assert row.room_id == request.room_id  # the pool room is kept, the others leave it
    entries = await running.rows.AuditEntry.recent("nord", 20)
    assert any(
        e.action == "assign" and e.actor_id == admin.user_id and e.target == counsellor.user_id
        for e in entries
    )
    again = await ask(admin, admin_room, bot, f"zuweisen {request.id} {admin.user_id}")
    assert "schon vergeben" in again.body
    # The client's first request: the assigned counsellor is now home counsellor.
    await ask(counsellor, await _service_room(counsellor, bot), bot, f"close {request.id}")


async def test_answered_and_overdue_once(make_human: MakeHuman, running: LotseApp) -> None:
    """Overdue after the centre's hours, reminded once; the counsellor's first message answers."""
    bot = running.cfg.assistant_mxid
    admin = await make_human("ueberfaellig-admin", centre="nord", role="admin")
    counsellor = await make_human("ueberfaellig", centre="nord", role="counsellor")
    client = await make_human("wartet", centre="nord", role="client")
    admin_room = await _service_room(admin, bot)
    counsellor_room = await _service_room(counsellor, bot)
    room = await _service_room(client, bot)
    control = await join_control_room(running, admin)
    await ask(admin, admin_room, bot, "einstellungen overdue_hours=2")
    try:
        await _request(client, room, bot)
        request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
        assert request is not None
        admin_before = len(admin.notices(control, bot))
        staff_before = len(counsellor.notices(counsellor_room, bot))

        await running.scheduler.run_now(OVERDUE_JOB)  # not old enough yet
        row = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
        assert row is not None and row.overdue_at is None

        three_hours_ago = int((datetime.now(UTC) - timedelta(hours=3)).timestamp() * 1000)
        await running.rows.CounsellingRequest.db.execute(
            "UPDATE counselling_request SET created_at=$2 WHERE id=$1", request.id, three_hours_ago
        )
        await running.scheduler.run_now(OVERDUE_JOB)
        await running.scheduler.run_now(OVERDUE_JOB)
        told_staff = await counsellor.next_notice(
            counsellor_room, bot, staff_before, contains="überfällig"
        )
        assert f"Nr. {request.id}" in told_staff.body
        # Admins are on-duty staff too; the admins' notice is the one that names `zuweisen`.
        told_admin = await admin.next_notice(
            control, bot, admin_before, contains=f"zuweisen {request.id}"
        )
        assert "überfällig" in told_admin.body
        admin_bodies = await _notices_after(admin, control, bot, admin_before)
        assert sum(f"zuweisen {request.id}" in b for b in admin_bodies) == 1, admin_bodies
        staff_bodies = await _notices_after(counsellor, counsellor_room, bot, staff_before)
        assert sum(f"Nr. {request.id} " in b and "überfällig" in b for b in staff_bodies) == 1
        listing = await ask(counsellor, counsellor_room, bot, "anfragen")
        assert "überfällig" in listing.body

        # Accept; the client's message does not answer, the counsellor's first one does.
        await ask(counsellor, counsellor_room, bot, f"annehmen {request.id}")
        room_id = request.room_id
        assert room_id is not None
        while room_id in client.invites or room_id not in client.client.rooms:
            await client.join_invite()
        while room_id in counsellor.invites or room_id not in counsellor.client.rooms:
            await counsellor.join_invite()
        await client.send(room_id, "Hallo, ist jemand da?")
        await counsellor.wait_until(
            lambda: any(s.room_id == room_id and s.kind == "text" for s in counsellor.seen),
            what="the client's message",
        )
        row = await running.rows.CounsellingRequest.get_in_centre(request.id, "nord")
        assert row is not None and row.status == "assigned"
        await counsellor.send(room_id, "Ja, ich bin da.")
        answered = await _wait_status(running.mail_rows, request.id, "answered", counsellor)
        assert answered.answered_at is not None
        closed = await ask(counsellor, counsellor_room, bot, f"close {request.id}")
        assert "abgeschlossen" in closed.body
    finally:
        await ask(admin, admin_room, bot, "einstellungen overdue_hours=48")


async def test_absence_assistant_tells_admins_once_without_content(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A client writes while the counsellor is absent: admins hear who and whom, never what."""
    bot = running.cfg.assistant_mxid
    admin = await make_human("abwesenheit-admin", centre="nord", role="admin")
    counsellor = await make_human("urlaub", centre="nord", role="counsellor")
    client = await make_human("schreibtimurlaub", centre="nord", role="client")
    await _service_room(admin, bot)
    counsellor_room = await _service_room(counsellor, bot)
    room = await _service_room(client, bot)
    await _request(client, room, bot)
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and request.room_id
    await ask(counsellor, counsellor_room, bot, f"annehmen {request.id}")
    room_id = request.room_id
    while room_id not in client.client.rooms:
        await client.join_invite()
    today = datetime.now(UTC).date()
    await ask(
        counsellor,
        counsellor_room,
        bot,
        f"absence add {today - timedelta(days=1)} {today + timedelta(days=1)} Urlaub",
    )
    control = await join_control_room(running, admin)
    before = len(admin.notices(control, bot))
    marker = f"Geheimnis{secrets.token_hex(8)}"  # found by chance in no timestamp or id
    secret = f"Streng vertraulich: {marker}"
    await client.send(room_id, secret)
    told = await admin.next_notice(control, bot, before, contains="Abwesenheitsassistent")
    assert client.user_id in told.body and counsellor.user_id in told.body
    assert "message" in told.body and marker not in told.body
    await client.send(room_id, "noch eine Nachricht")
    bodies = await _notices_after(admin, control, bot, before)
    mine = [b for b in bodies if "Abwesenheitsassistent" in b and client.user_id in b]
    assert len(mine) == 1  # at most once per room and day
    assert not any(marker in b for b in bodies)
    dump = await _database_dump(running)
    assert not [table for table, text in dump.items() if marker in text]
