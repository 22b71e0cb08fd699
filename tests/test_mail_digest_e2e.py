"""Proof (issue 5): real E2EE people in a real counselling room; the steward's metadata and
read receipts decide who gets one content-free mail per room per digest window."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from appservice.app import LotseApp
from appservice.dev.client import Human, ask
from mailgateway.rows import MailRows
from tests.conftest import Lotse, MailSink, MakeHuman
from tests.mail_helpers import mails_before_marker, mails_to, readable, wait_for_mails
from tests.test_requests import _first_request_taken, _request, _service_room

pytestmark = pytest.mark.synapse


async def _row(rows: MailRows, user_id: str, room_id: str) -> Any:
    return await rows.RoomNotices.db.fetchrow(
        "SELECT pending_since, last_event_id, read_event_id FROM room_notice "
        "WHERE user_id=$1 AND room_id=$2",
        user_id,
        room_id,
    )


async def _until(check: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _observed(
    rows: MailRows,
    user_id: str,
    room_id: str,
    event_id: str,
    pending: bool,
    column: str = "last_event_id",
) -> None:
    async def check() -> bool:
        row = await _row(rows, user_id, room_id)
        return (
            row is not None
            and row[column] == event_id
            and (row["pending_since"] is not None) == pending
        )

    await _until(check, f"{event_id} noted as {'unread' if pending else 'read'}")


async def _handled(rows: MailRows, event_id: str) -> bool:
    return await rows.Inbox.state_of(event_id) == "handled"


async def _confirmed_address(rows: MailRows, human: Human) -> str:
    address = f"{human.user_id[1:].split(':')[0]}@example.net"
    person = await rows.Person.get(human.user_id)
    assert person is not None
    await person.set_account(email=address)
    await rows.Preferences.mark_confirmed(human.user_id, address)
    return address


async def test_unread_messages_give_one_mail_without_content(
    make_human: MakeHuman, running: LotseApp, lotse: Lotse, mail_sink: MailSink
) -> None:
    bot = running.cfg.assistant_mxid
    client, client_room, home, home_room, _request = await _first_request_taken(
        running.mail_rows, make_human, bot
    )
    room_id = await home.join_invite()
    assert await client.join_invite() == room_id
    await home.wait_member(room_id, client.user_id)
    await client.wait_member(room_id, home.user_id)
    address = await _confirmed_address(running.mail_rows, home)
    client_address = await _confirmed_address(running.mail_rows, client)
    sent: list[str] = []

    async def say(who: Human) -> str:
        text = f"vertraulich {secrets.token_hex(8)}"
        sent.append(text)
        return await who.send(room_id, text)

    # 1. Read within the delay: no mail.
    assert "0 Minuten" in (await ask(home, home_room, bot, "notifications delay 0")).body
    first = await say(client)
    await home.wait_until(
        lambda: any(s.event_id == first for s in home.seen), what="the client's message"
    )
    await home.client.room_read_markers(room_id, first, first)
    await _observed(running.mail_rows, home.user_id, room_id, first, pending=False)
    await running.scheduler.run_now("mail-notices")
    assert await mails_before_marker(running, mail_sink, home.user_id, address) == []

    # 2. Several unread messages before the delay (15 minutes) has passed: nothing yet.
    await ask(home, home_room, bot, "notifications delay 15")
    for _ in range(3):
        last = await say(client)
    await _observed(running.mail_rows, home.user_id, room_id, last, pending=True)
    await running.scheduler.run_now("mail-notices")
    assert await mails_before_marker(running, mail_sink, home.user_id, address) == []

    # 3. A restart loses nothing; once the delay has passed: exactly one mail for the three.
    running = await lotse.restart()
    await ask(home, home_room, bot, "notifications delay 0")
    await running.scheduler.run_now("mail-notices")
    [mail] = await mails_before_marker(running, mail_sink, home.user_id, address)
    assert "Neue Nachricht" in str(mail["Subject"]) and "Ihr Beratungsraum" in readable(mail)

    # 4. More messages inside the digest window: still that one mail.
    later = await say(client)
    await _observed(running.mail_rows, home.user_id, room_id, later, pending=True)
    await running.scheduler.run_now("mail-notices")
    assert await mails_before_marker(running, mail_sink, home.user_id, address) == []

    # The writer is never notified of their own messages; the counsellor's answer is
    # unread for the client (default delay 15 minutes: not yet due).
    answer = await say(home)
    await _observed(running.mail_rows, client.user_id, room_id, answer, pending=True)
    await _observed(
        running.mail_rows, home.user_id, room_id, answer, pending=False, column="read_event_id"
    )
    await running.scheduler.run_now("mail-notices")
    assert await mails_before_marker(running, mail_sink, client.user_id, client_address) == []

    # Nothing said in the room is in any mail Lotse sent, to anyone.
    assert sent
    for _rcpts, data in mail_sink.messages:
        for text in sent:
            assert text.encode() not in data
    for msg in mails_to(mail_sink, address):
        shown = readable(msg)
        assert not any(text in shown for text in sent)
        assert not any(text.split()[1] in shown for text in sent)


async def test_service_rooms_do_not_count(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """Talking to the assistant never produces a new-message mail (not a counselling room)."""
    bot = running.cfg.assistant_mxid
    human = await make_human("klientin", centre="nord", role="client")
    room = await _service_room(human, bot)
    address = await _confirmed_address(running.mail_rows, human)
    await ask(human, room, bot, "notifications delay 0")
    answer = await ask(human, room, bot, "hilfe")
    # The notifier has seen the assistant's answer (an unread message for the person).
    await _until(lambda: _handled(running.mail_rows, answer.event_id), "the answer to be handled")
    await running.scheduler.run_now("mail-notices")
    assert await running.mail_rows.RoomNotices.pending_for(human.user_id) == []
    assert await _row(running.mail_rows, human.user_id, room) is None
    assert await mails_before_marker(running, mail_sink, human.user_id, address) == []


async def test_staff_room_does_not_count(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """The centre's staff room belongs to the steward too, but team chat never mails anyone."""
    writer = await make_human("teamchat", centre="nord", role="counsellor")
    reader = await make_human("teamleser", centre="nord", role="counsellor")
    services = running.assistant.services
    assert services.centre_rooms is not None
    staff_room = await running.rows.CentreRoom.get("nord", "staff")
    assert staff_room is not None
    for human in (writer, reader):
        person = await running.rows.Person.get(human.user_id)
        assert person is not None
        await services.centre_rooms.follow(person)  # invites to the Space and the staff room
        await human.wait_until(lambda h=human: staff_room in h.invites, 30, "the staff room invite")
        human.invites.discard(staff_room)
        await human.client.join(staff_room)
        await human.sync()
    address = await _confirmed_address(running.mail_rows, reader)
    await running.mail_rows.Preferences.set_delay(reader.user_id, 0)
    await writer.wait_member(staff_room, reader.user_id)
    said = await writer.send(staff_room, "Teambesprechung um drei")
    # Handled means the steward's view (the notifier) has seen it.
    await _until(lambda: _handled(running.mail_rows, said), "the team message to be handled")
    await running.scheduler.run_now("mail-notices")
    assert await _row(running.mail_rows, reader.user_id, staff_room) is None
    assert await mails_before_marker(running, mail_sink, reader.user_id, address) == []


async def test_message_from_the_centre_mails_a_notice_without_subject_or_text(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """With a confirmed address the client gets a mail that there is a message; neither the
    subject nor the text is in it, and the admin is told a notice went out."""
    bot = running.cfg.assistant_mxid
    admin = await make_human("zentrale", centre="nord", role="admin")
    admin_room = await _service_room(admin, bot)
    client = await make_human("postfach", centre="nord", role="client")
    await _service_room(client, bot)
    address = await _confirmed_address(running.mail_rows, client)
    subject, text = f"Betreff{secrets.token_hex(3)}", f"Inhalt{secrets.token_hex(4)}"
    sent = await ask(admin, admin_room, bot, f'message {client.user_id} "{subject}" {text}')
    assert "bestätigte Adresse" in sent.body and "geht nicht" not in sent.body
    (mail,) = await wait_for_mails(mail_sink, address)
    seen = readable(mail)
    assert subject not in seen and text not in seen
    assert "Beratungsstelle Nord" in seen


async def test_new_request_mails_on_duty_staff(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """A new request in the pool: on-duty staff with a confirmed address get a mail with the
    request number only; staff who switched notifications off get none."""
    bot = running.cfg.assistant_mxid
    on = await make_human("dienst", centre="south", role="counsellor")
    off = await make_human("ruhe", centre="south", role="counsellor")
    client = await make_human("asking", centre="south", role="client")
    on_address, off_address = (
        await _confirmed_address(running.mail_rows, on),
        await _confirmed_address(running.mail_rows, off),
    )
    await running.mail_rows.Preferences.set_notifications(off.user_id, False)
    client_room = await _service_room(client, bot)
    await _request(client, client_room, bot, "request")
    [mail] = await wait_for_mails(mail_sink, on_address)
    assert "New request" in str(mail["Subject"])
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and f"no. {request.id}" in readable(mail)
    assert client.user_id not in readable(mail)
    # The mail to `off` would have been queued with the one to `on`, before this marker.
    assert await mails_before_marker(running, mail_sink, on.user_id, on_address) == []
    assert mails_to(mail_sink, off_address) == []
