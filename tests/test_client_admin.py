"""Admins lock, unlock, delete and restore clients (checked by real logins on Synapse), and
the deletion routine erases people after the grace period."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from mautrix.types import RoomID
from nio import DownloadError

from appservice.app import LotseApp
from appservice.dev.client import Human, ask, notices_before_marker
from appservice.dev.synapse_runner import password_login
from bots.records import documents
from bots.records.client_rules import DAY_MS
from tests.conftest import MakeHuman, join_control_room
from tests.test_clients import PASSWORD, created, staff, unique
from tests.test_documents import PDF, send_file
from tests.test_requests import _request, _service_room

pytestmark = pytest.mark.synapse


async def login_status(running: LotseApp, user_id: str) -> tuple[int, str]:
    status, body = await password_login(running.cfg.homeserver.address, user_id, PASSWORD)
    return status, str(body.get("errcode", ""))


async def event_as(running: LotseApp, human: Human, room_id: str, event_id: str) -> dict:
    """The event as ``human``'s homeserver serves it (raw JSON: shows a redaction)."""
    url = f"{running.cfg.homeserver.address}/_matrix/client/v3/rooms/{room_id}/event/{event_id}"
    headers = {"Authorization": f"Bearer {human.client.access_token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def test_lock_delete_restore(make_human: MakeHuman, running: LotseApp) -> None:
    """Lock refuses the login (M_USER_LOCKED), unlock allows it; delete refuses it and strikes
    the name through; restore brings everything back; a lock from before stays."""
    bot = running.cfg.assistant_mxid
    admin, admin_room = await staff(make_human, bot, "chefin", "admin")
    counsellor, staff_room = await staff(make_human, bot, "berater", "counsellor")
    client = await created(
        running.mail_rows,
        counsellor,
        staff_room,
        bot,
        f"client new {unique('Sperre')} age_group=40-49",
    )
    await running.assistant.services.admin.set_password(client.user_id, PASSWORD)
    assert await login_status(running, client.user_id) == (200, "")

    denied = await ask(counsellor, staff_room, bot, f"client lock {client.name}")
    assert "nur" in denied.body and "Admins" in denied.body
    assert await login_status(running, client.user_id) == (200, "")

    locked = await ask(admin, admin_room, bot, f"klient sperren {client.name}")
    assert "gesperrt" in locked.body
    assert await login_status(running, client.user_id) == (401, "M_USER_LOCKED")
    again = await ask(admin, admin_room, bot, f"client lock {client.name}")
    assert "schon gesperrt" in again.body
    unlocked = await ask(admin, admin_room, bot, f"client unlock {client.name}")
    assert "entsperrt" in unlocked.body
    assert await login_status(running, client.user_id) == (200, "")
    not_locked = await ask(admin, admin_room, bot, f"client unlock {client.name}")
    assert "nicht gesperrt" in not_locked.body

    not_deleted = await ask(admin, admin_room, bot, f"client restore {client.name}")
    assert "nicht gelöscht" in not_deleted.body
    denied = await ask(counsellor, staff_room, bot, f"client delete {client.name}")
    assert "Admins" in denied.body
    deleted = await ask(admin, admin_room, bot, f"client delete {client.name}")
    assert "gelöscht" in deleted.body and "30 Tage" in deleted.body
    assert await login_status(running, client.user_id) == (401, "M_USER_LOCKED")
    listing = await ask(counsellor, staff_room, bot, f"clients {client.name}")
    assert f"~~{client.name}~~" in listing.body and "gelöscht" in listing.body
    assert f"<s>{client.name}</s>" in listing.html  # struck through in Element
    twice = await ask(admin, admin_room, bot, f"client delete {client.name}")
    assert "schon gelöscht" in twice.body
    refused = await ask(counsellor, staff_room, bot, f"client set {client.name} postcode=1")
    assert "ist gelöscht" in refused.body

    restored = await ask(admin, admin_room, bot, f"client restore {client.name}")
    assert "wiederhergestellt" in restored.body
    assert await login_status(running, client.user_id) == (200, "")
    fresh = await running.rows.Person.get(client.user_id)
    assert fresh is not None and fresh.deleted_at is None and fresh.locked_at is None
    assert fresh.home_counsellor_id == counsellor.user_id
    assert fresh.service_room_id == client.service_room_id
    assert fresh.display_name == client.display_name
    assert await running.rows.MasterDataValue.of(client.user_id) == {"age_group": "40-49"}

    # Locked before the deletion: the restore keeps the lock.
    await ask(admin, admin_room, bot, f"client lock {client.name}")
    await ask(admin, admin_room, bot, f"client delete {client.name}")
    kept = await ask(admin, admin_room, bot, f"client restore {client.name}")
    assert "Sperre bleibt" in kept.body
    assert await login_status(running, client.user_id) == (401, "M_USER_LOCKED")
    await ask(admin, admin_room, bot, f"client unlock {client.name}")
    assert await login_status(running, client.user_id) == (200, "")

    # After the grace period a restore is refused and nothing changes.
    await ask(admin, admin_room, bot, f"client delete {client.name}")
    marked = await running.rows.Person.get(client.user_id)
    assert marked is not None and marked.deleted_at is not None
    await marked.set_account(deleted_at=marked.deleted_at - 31 * DAY_MS)
    late = await ask(admin, admin_room, bot, f"client restore {client.name}")
    assert "Löschfrist" in late.body and "abgelaufen" in late.body
    fresh = await running.rows.Person.get(client.user_id)
    assert fresh is not None and fresh.deleted_at == marked.deleted_at
    assert await login_status(running, client.user_id) == (401, "M_USER_LOCKED")

    actions = [
        (e.action, e.actor_id)
        for e in await running.rows.AuditEntry.recent("nord", 200)
        if e.target == client.user_id
    ]
    for action in ("client_lock", "client_unlock", "client_delete", "client_restore"):
        assert (action, admin.user_id) in actions


async def test_delete_withdraws_the_open_request(make_human: MakeHuman, running: LotseApp) -> None:
    """Deleting a client closes their open request: a pool request leaves `requests` and the
    staff leave its room; an assigned counsellor is told. A restore leaves it closed and says
    so; the client can ask again."""
    bot = running.cfg.assistant_mxid
    rooms = running.assistant.services.counselling_rooms
    admin, admin_room = await staff(make_human, bot, "rueckzugadmin", "admin")
    counsellor, staff_room = await staff(make_human, bot, "poolberaterin", "counsellor")
    pooled = await make_human("poolklient", centre="nord", role="client")
    taken = await make_human("vergeben", centre="nord", role="client")
    pooled_room = await _service_room(pooled, bot)
    taken_room = await _service_room(taken, bot)

    await _request(pooled, pooled_room, bot)
    waiting = await running.rows.CounsellingRequest.open_for_client(pooled.user_id)
    assert waiting is not None and waiting.status == "new" and waiting.room_id
    pool_room = RoomID(waiting.room_id)
    assert await counsellor.join_invite() == pool_room
    assert counsellor.user_id in await rooms.members(pool_room)
    listing = await ask(counsellor, staff_room, bot, "anfragen")
    assert f"Nr. {waiting.id}" in listing.body

    await _request(taken, taken_room, bot)
    assigned = await running.rows.CounsellingRequest.open_for_client(taken.user_id)
    assert assigned is not None
    await ask(counsellor, staff_room, bot, f"annehmen {assigned.id}")

    deleted = await ask(admin, admin_room, bot, f"client delete {pooled.user_id}")
    assert f"Nr. {waiting.id}" in deleted.body and "zurückgezogen" in deleted.body
    row = await running.rows.CounsellingRequest.get_in_centre(waiting.id, "nord")
    assert row is not None and row.status == "withdrawn"
    assert await running.rows.CounsellingRequest.open_for_client(pooled.user_id) is None
    listing = await ask(counsellor, staff_room, bot, "anfragen")
    assert f"Nr. {waiting.id}" not in listing.body
    assert await rooms.members(pool_room) == {pooled.user_id, running.cfg.steward_mxid}
    late = await ask(counsellor, staff_room, bot, f"annehmen {waiting.id}")
    assert "schon vergeben" in late.body

    before = len(counsellor.notices(staff_room, bot))
    gone = await ask(admin, admin_room, bot, f"client delete {taken.user_id}")
    assert f"Nr. {assigned.id}" in gone.body
    told = await counsellor.next_notice(staff_room, bot, before, contains="zurückgezogen")
    assert f"Nr. {assigned.id}" in told.body and taken.user_id in told.body
    row = await running.rows.CounsellingRequest.get_in_centre(assigned.id, "nord")
    assert row is not None and row.status == "withdrawn"
    assert row.counsellor_id == counsellor.user_id  # the counsellor keeps the room
    assert counsellor.user_id in await rooms.members(RoomID(assigned.room_id or ""))

    restored = await ask(admin, admin_room, bot, f"client restore {pooled.user_id}")
    assert "wiederhergestellt" in restored.body
    assert f"Nr. {waiting.id}" in restored.body and "bleibt geschlossen" in restored.body
    row = await running.rows.CounsellingRequest.get_in_centre(waiting.id, "nord")
    assert row is not None and row.status == "withdrawn"
    # Unlocked again, the client asks anew and gets a new request.
    await _request(pooled, pooled_room, bot)
    again = await running.rows.CounsellingRequest.open_for_client(pooled.user_id)
    assert again is not None and again.id != waiting.id and again.status == "new"
    actions = {
        (e.action, e.detail)
        for e in await running.rows.AuditEntry.recent("nord", 200)
        if e.target == pooled.user_id
    }
    assert ("client_delete", f"grace 30 days; request {waiting.id} withdrawn") in actions
    await ask(admin, admin_room, bot, f"client delete {pooled.user_id}")


async def test_deletion_routine_erases_after_the_grace_period(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """Clients and counsellors past the grace period are erased on Synapse (login gives 403
    M_FORBIDDEN) and in Lotse (a tombstone stays), with the documents an erased counsellor
    uploaded; the admins are told; those still within the grace period stay; a second run and
    an interrupted run are safe."""
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    admin, admin_room = await staff(make_human, bot, "loeschadmin", "admin")
    counsellor, staff_room = await staff(make_human, bot, "loeschberater", "counsellor")
    gone = await created(
        running.mail_rows, counsellor, staff_room, bot, f"client new {unique('Weg')} postcode=1"
    )
    stays = await created(
        running.mail_rows, counsellor, staff_room, bot, f"client new {unique('Bleibt')}"
    )
    resumed = await created(
        running.mail_rows, counsellor, staff_room, bot, f"client new {unique('Halb')}"
    )
    await services.admin.set_password(gone.user_id, PASSWORD)

    # The client asks for counselling and writes in the counselling room: that event must be
    # redacted for the counsellor, who stays in the room.
    human = await Human.login(running.cfg.homeserver.address, gone.user_id, PASSWORD, tmp_path)
    try:
        service_room = await human.join_invite()
        await _request(human, service_room, bot)
        counselling_room = await human.join_invite()
        assert await counsellor.join_invite() == counselling_room
        message_id = await human.send(counselling_room, "Hallo, ich bin es.")
    finally:
        await human.close()

    # What counsellors kept about the client must go with them: notes and group places.
    noted = await ask(counsellor, staff_room, bot, f"note {gone.user_id} Erstgespräch geführt")
    assert "Nr." in noted.body or "No." in noted.body
    group_name = unique("Gruppe")
    await ask(counsellor, staff_room, bot, f"group new {group_name}")
    await ask(counsellor, staff_room, bot, f"group add {group_name} {gone.user_id}")
    assert [g.name for g in await running.rows.ClientGroup.of_client(gone.user_id)] == [group_name]

    # A counsellor who leaves uploaded a document on a client who stays; a colleague did too.
    leaver = await make_human("gehtberater", centre="nord", role="counsellor")
    leaving = await running.rows.Person.get(leaver.user_id)
    assert leaving is not None
    leaver_room = await _service_room(leaver, bot)
    for human, room, name in ((leaver, leaver_room, "weg.pdf"), (counsellor, staff_room, "da.pdf")):
        await ask(human, room, bot, f"doc {stays.user_id}")
        attached = await send_file(human, room, bot, PDF, name, "application/pdf")
        assert name in attached.body
    (left_doc,) = await running.rows.ClientDocument.uploaded_by(leaver.user_id)
    opened = documents._open(services, left_doc)
    assert opened is not None and opened[1].url
    left_file = str(opened[1].url)

    for person in (gone, stays, resumed):
        reply = await ask(admin, admin_room, bot, f"client delete {person.user_id}")
        assert "gelöscht" in reply.body
    past = (await running.rows.Person.get(gone.user_id)).deleted_at - 31 * DAY_MS  # type: ignore[union-attr]
    for user_id in (gone.user_id, resumed.user_id, leaver.user_id):
        person = await running.rows.Person.get(user_id)
        assert person is not None
        await person.set_account(deleted_at=past)
    # An earlier run was interrupted after deactivating this one.
    claim = await running.rows.ErasedPerson.claim(resumed.user_id, past)
    assert claim is not None
    await services.admin.deactivate(resumed.user_id, erase=True)

    control = await join_control_room(running, admin)
    notices_before = len(admin.notices(control, bot))
    await running.scheduler.run_now("deletion_routine")

    for user_id in (gone.user_id, resumed.user_id, leaver.user_id):
        status, errcode = await login_status(running, user_id)
        assert status == 403 and errcode == "M_FORBIDDEN", user_id
        info = await services.admin.get_user(user_id)
        assert info is not None and info.deactivated and info.erased
        assert await running.rows.Person.get(user_id) is None
        tomb = await running.rows.ErasedPerson.get(user_id)
        assert tomb is not None and tomb.erased_at is not None and tomb.centre_id == "nord"
    assert await running.rows.MasterDataValue.of(gone.user_id) == {}
    assert await running.rows.ClientNote.for_client("nord", gone.user_id) == []
    assert await running.rows.ClientGroup.of_client(gone.user_id) == []
    still = await running.rows.Person.get(stays.user_id)
    assert still is not None and still.deleted_at is not None
    assert await running.rows.ErasedPerson.get(stays.user_id) is None
    # The leaver's document went, row and file; the colleague's on the same client stays.
    assert await running.rows.ClientDocument.uploaded_by(leaver.user_id) == []
    assert [d.uploader_id for d in await running.rows.ClientDocument.of_client(stays.user_id)] == [
        counsellor.user_id
    ]
    assert isinstance(await counsellor.client.download(mxc=left_file), DownloadError)

    redacted = await event_as(running, counsellor, counselling_room, message_id)
    assert redacted.get("content") == {} and "redacted_because" in redacted.get("unsigned", {})
    joined = await running.assistant.intent.get_joined_rooms()
    assert service_room not in joined  # purged with the account

    told = await admin.next_notice(control, bot, notices_before, contains="Löschroutine")
    assert gone.user_id in told.body and leaver.user_id in told.body
    assert gone.display_name not in told.body  # the notice names logins, not pseudonyms
    # The audit names them by their tombstones, never by the Matrix id any more.
    erased = {
        e.target for e in await running.rows.AuditEntry.recent("nord", 200) if e.action == "erase"
    }
    tombs = [
        await running.rows.ErasedPerson.get(p)
        for p in (gone.user_id, resumed.user_id, leaver.user_id)
    ]
    assert {t.ref for t in tombs if t is not None} <= erased
    assert not {gone.user_id, resumed.user_id, leaver.user_id} & erased

    # A second run finds nothing to do and tells nobody.
    notices_before = len(admin.notices(control, bot))
    await running.scheduler.run_now("deletion_routine")
    assert await notices_before_marker(admin, control, bot, notices_before) == []
    login = gone.user_id[1:].split(":")[0]
    listing = await ask(counsellor, staff_room, bot, f"clients alle {login}")
    assert "Keine Ratsuchenden gefunden" in listing.body
