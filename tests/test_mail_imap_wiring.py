"""The running app with `imap:` enabled against a real IMAP server (pymap), and the admins'
notices about bouncing addresses and permanent SMTP failures (metadata only)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from appservice.app import LotseApp
from appservice.config import ImapConfig
from appservice.dev.client import ask, notices_before_marker
from tests.conftest import Lotse, MailSink, MakeHuman, join_control_room
from tests.imap_server import ImapServer
from tests.mail_helpers import give_confirmed_address, mails_to, wait_for_mails
from tests.test_mail_bounces import dsn, reply
from tests.test_privacy import _database_dump
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse


@pytest.fixture
async def imap_app(lotse: Lotse) -> AsyncIterator[tuple[LotseApp, ImapServer]]:
    """The app restarted with the poller on (threshold 1); the plain app again afterwards."""
    plain = lotse.cfg
    async with ImapServer() as server:
        lotse.cfg = replace(
            plain,
            imap=ImapConfig(
                enabled=True,
                host=server.host,
                port=server.port,
                security="none",
                ca_file="",
                username=server.username,
                password=server.password,
                mailbox="INBOX",
                processed_folder="Lotse/Processed",
                skipped_folder="Lotse/Skipped",
                poll_interval=0.5,
                bounce_threshold=1,
                max_message_bytes=1_000_000,
            ),
        )
        try:
            app = await lotse.restart()
            assert app.mail.poller is not None
            yield app, server
        finally:
            lotse.cfg = plain
            await lotse.restart()


async def test_bounce_marks_address_and_tells_its_centres_admins(
    imap_app: tuple[LotseApp, ImapServer], make_human: MakeHuman, mail_sink: MailSink
) -> None:
    app, server = imap_app
    bot = app.cfg.assistant_mxid
    admin = await make_human("leitung", centre="nord", role="admin")
    other_admin = await make_human("lead", centre="south", role="admin")
    client = await make_human("klient", centre="nord", role="client")
    client_room = await _service_room(client, bot)
    admin_control = await join_control_room(app, admin)
    other_control = await join_control_room(app, other_admin)
    person, address = await give_confirmed_address(app.mail_rows, client)

    # A real mail of ours, so the report is about a Message-ID Lotse sent.
    assert await app.assistant.services.notify(person, "centre_message") == "queued"
    [sent] = await wait_for_mails(mail_sink, address)
    before = len(admin.notices(admin_control, bot))
    other_before = len(other_admin.notices(other_control, bot))
    await server.append(dsn([(address, "failed", "5.1.1")], original_id=str(sent["Message-ID"])))

    told = await admin.next_notice(admin_control, bot, before, contains="nicht erreichbar")
    assert person.user_id in told.body and address not in told.body
    assert await app.mail_rows.MailAddress.is_bouncing(address)
    # The person sees it next time they look; nothing more is mailed there.
    status = await ask(client, client_room, bot, "email")
    assert "nicht erreichbar" in status.body
    assert await app.assistant.services.notify(person, "centre_message") == "bouncing"
    # The other centre hears nothing of it (its admin asks for help afterwards: whatever the
    # bounce had sent there would be in the room before the answer).
    heard = await notices_before_marker(other_admin, other_control, bot, other_before)
    assert not any(person.user_id in n.body for n in heard)


async def test_auto_answer_only_to_a_confirmed_address_strangers_leave_no_trace(
    imap_app: tuple[LotseApp, ImapServer], make_human: MakeHuman, mail_sink: MailSink
) -> None:
    """A reply from any address that is not a person's confirmed one gets no mail, and that
    address is in no table afterwards; a person's reply from their confirmed address gets
    the one auto-answer (nothing of either reaches Matrix)."""
    app, server = imap_app
    client = await make_human("antwortet", centre="nord", role="client")
    _, address = await give_confirmed_address(app.mail_rows, client)
    stranger = f"fremd-{secrets.token_hex(4)}@example.org"
    await server.append(reply(sender=f"Fremde Person <{stranger}>"))
    await server.append(reply(sender=address.upper()))  # handled after the stranger's
    [answer] = await wait_for_mails(mail_sink, address)
    assert "nicht gelesen" in str(answer["Subject"])
    assert answer["Auto-Submitted"] == "auto-generated"
    assert mails_to(mail_sink, stranger) == []  # its answer would have been sent first
    dump = await _database_dump(app)
    # The scan reads the table it must not be in (keyed by the address's keyed hash).
    assert str(app.db.contact.lookup(address)) in dump["mail_address"]
    assert not [table for table, text in dump.items() if stranger in text.lower()]
    assert app.mail.poller.counts["human-stranger"] >= 1


async def test_permanent_failure_tells_admins_which_person_and_kind(
    running: LotseApp, make_human: MakeHuman, mail_sink: MailSink
) -> None:
    bot = running.cfg.assistant_mxid
    admin = await make_human("admin", centre="south", role="admin")
    counsellor = await make_human("counsellor", centre="south", role="counsellor")
    control = await join_control_room(running, admin)
    person, address = await give_confirmed_address(running.mail_rows, counsellor)
    mail_sink.refuse.add(address)
    before = len(admin.notices(control, bot))
    assert await running.assistant.services.notify(person, "new_request", request_id=77) == "queued"
    told = await admin.next_notice(control, bot, before, contains="could not be delivered")
    assert "new_request" in told.body and person.user_id in told.body
    # The request number is no business of the notice (the user id may contain digits).
    assert "77" not in told.body.replace(person.user_id, "") and address not in told.body
    assert mails_to(mail_sink, address) == []
