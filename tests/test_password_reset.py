"""An account in use is its person's (DESIGN.md, privacy point 7), through real E2EE clients,
real Synapse, the database and SMTP: staff get no password link for it, a reset goes only to
the person's own confirmed address, using it tells the person and logs out every device, the
public /reset page reveals nothing and is rate-limited, and only admins change a client's
address, which counts only once confirmed."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.dev.client import PASSWORD, Human, ask
from appservice.dev.synapse_runner import password_login
from bots.accounts.invitation_rules import RESETS_PER_PERSON_PER_HOUR
from tests.conftest import MailSink, MakeHuman, join_control_room
from tests.invitation_support import (
    LINK_RE,
    direct_link,
    mail_to,
    new_person,
    second_listener,
    text_of,
)
from tests.mail_helpers import give_confirmed_address, mails_to
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

RESET_RE = re.compile(LINK_RE.pattern.replace("/invite/", "/reset/"))
CONFIRM_RE = re.compile(LINK_RE.pattern.replace("/invite/", "/confirm/"))
NEW = "Neu-Passwort!2027"


async def _get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def _post(url: str, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.post(url, data=form) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def _set_password(url: str, password: str) -> tuple[int, str]:
    status, html, _ = await _post(url, {"password": password, "password_repeat": password})
    return status, html


async def _whoami(running: LotseApp, token: str) -> int:
    url = f"{running.cfg.homeserver.address}/_matrix/client/v3/account/whoami"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status


def _login(human: Human) -> str:
    return human.user_id[1:].split(":")[0]


def _reset_link(text: str) -> str:
    match = RESET_RE.search(text)
    assert match, f"no reset link in: {text!r}"
    return match.group(0)


async def test_staff_get_no_password_link_for_an_account_in_use(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """`client invite` on a client who has logged in makes no invitation: without a confirmed
    address nothing goes anywhere (not even to an address staff typed in); with one, a reset
    link goes there and only there, and the counsellor sees neither link nor address."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("beraterin", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    client = await make_human("kundin", centre="nord", role="client")
    person = await running.rows.Person.get(client.user_id)
    assert person is not None and person.activated_at is None  # only Synapse knows the login
    staff_mailbox = f"staff-{secrets.token_hex(3)}@example.org"
    await person.set_account(email=staff_mailbox)  # an address the client never confirmed

    reply = await ask(counsellor, room, bot, f"klient einladen {_login(client)}")
    assert "nutzt das Konto schon" in reply.body and "keine selbst bestätigte" in reply.body
    assert "/invite/" not in reply.body and "/reset/" not in reply.body
    assert await running.rows.Invitation.latest_for(client.user_id) is None
    assert not await running.db.main.fetchval(
        "SELECT COUNT(*) FROM mail_outbox WHERE recipient_hash=$1",
        running.db.contact.lookup(staff_mailbox),
    )

    _, address = await give_confirmed_address(running.mail_rows, client)
    reply = await ask(counsellor, room, bot, f"klient einladen {_login(client)}")
    assert "Link zum Zurücksetzen" in reply.body and "selbst bestätigt" in reply.body
    assert address not in reply.body and "/reset/" not in reply.body
    link = _reset_link(text_of(await mail_to(mail_sink, running, address)))
    stored = await running.rows.Invitation.latest_for(client.user_id)
    assert stored is not None and (stored.purpose, stored.sent_to) == ("reset", address)
    assert mails_to(mail_sink, staff_mailbox) == []
    status, html, _ = await _get(link)
    assert status == 200 and "Neues Passwort festlegen" in html
    # A reset link opens only the reset page, never the invitation page.
    invite_url = link.replace("/reset/", "/invite/")
    assert (await _get(invite_url))[0] == 404
    assert (await _set_password(invite_url, NEW))[0] == 404
    entries = await running.rows.AuditEntry.recent("nord", 20)
    assert any(e.action == "reset_mail" and e.target == client.user_id for e in entries)


async def test_reset_sets_the_password_tells_the_person_and_logs_out_every_device(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    """/reset → mail to the confirmed address → new password: the device that is online reads
    the notice in the service room, then every device (two here) is logged out; the new
    password works, the old one no longer; the link works once."""
    bot = running.cfg.assistant_mxid
    client = await make_human("vergesslich", centre="nord", role="client")
    room = await _service_room(client, bot)
    _, address = await give_confirmed_address(running.mail_rows, client)
    second = await Human.login(
        running.cfg.homeserver.address, client.user_id, PASSWORD, tmp_path / "second"
    )
    try:
        assert await running.assistant.services.admin.device_count(client.user_id) >= 2
        status, html, _ = await _post(
            f"{running.cfg.public_web_url}/reset", {"who": _login(client)}
        )
        assert status == 200 and "Passwort vergessen" in html
        mail = await mail_to(mail_sink, running, address)
        assert "Neues Passwort" in str(mail["Subject"]) and _login(client) in text_of(mail)
        assert mail["List-Unsubscribe"] is None  # about the account, not a notification
        link = _reset_link(text_of(mail))

        before = len(client.notices(room, bot))
        told = asyncio.create_task(client.next_notice(room, bot, before, contains="neu gesetzt"))
        status, html = await _set_password(link, NEW)
        assert status == 200 and "abgemeldet" in html
        notice = await told
        assert "bestätigte E-Mail-Adresse" in notice.body and notice.encrypted

        for human in (client, second):
            assert await _whoami(running, str(human.client.access_token)) == 401
        assert await running.assistant.services.admin.device_count(client.user_id) == 0
        base = running.cfg.homeserver.address
        assert (await password_login(base, client.user_id, NEW))[0] == 200
        assert (await password_login(base, client.user_id, PASSWORD))[0] == 403
        stored = await running.rows.Person.get(client.user_id)
        assert stored is not None and stored.account_status == "activated"
        entries = await running.rows.AuditEntry.recent("nord", 20)
        assert any(e.action == "password_reset" and e.target == client.user_id for e in entries)

        status, html, _ = await _get(link)
        assert status == 410 and "schon benutzt" in html
        assert (await _set_password(link, "Anders!2027"))[0] == 410
    finally:
        await second.close()


async def test_reset_page_answers_the_same_whatever_is_typed(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """Unknown logins and addresses, an unconfirmed address, a person without a confirmed
    address: the same page as for a real one, and no mail, no link. A login or the confirmed
    address itself both reach the person (and only their confirmed address)."""
    base = f"{running.cfg.public_web_url}/reset"
    status, html, headers = await _get(base)
    assert status == 200 and 'name="who"' in html and "<script" not in html
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, html, _ = await _post(base, {"who": "   "})
    assert status == 400 and "Bitte geben Sie" in html

    known = await make_human("bekannt", centre="nord", role="client")
    await give_confirmed_address(running.mail_rows, known)
    unconfirmed = await make_human("offen", centre="south", role="client")
    typed_in = f"offen-{secrets.token_hex(3)}@example.org"
    unconfirmed_person = await running.rows.Person.get(unconfirmed.user_id)
    assert unconfirmed_person is not None
    await unconfirmed_person.set_account(email=typed_in)
    pages = set()
    for who in (
        f"niemand-{secrets.token_hex(3)}",
        f"niemand-{secrets.token_hex(3)}@example.org",
        typed_in,
        _login(unconfirmed),
        f"@{_login(known)}:other.example",  # the right name on another server
    ):
        status, html, _ = await _post(base, {"who": who})
        pages.add((status, html))
    # The marker, by address this time: answered exactly like the others.
    marker = f"marker-{secrets.token_hex(3)}@example.net"
    marked = await make_human("markiert", centre="nord", role="client")
    marked_person = await running.rows.Person.get(marked.user_id)
    assert marked_person is not None
    await marked_person.set_account(email=marker)
    await running.mail_rows.Preferences.mark_confirmed(marked.user_id, marker)
    status, html, _ = await _post(base, {"who": marker.upper()})
    pages.add((status, html))
    assert len(pages) == 1 and next(iter(pages))[0] == 200
    _reset_link(text_of(await mail_to(mail_sink, running, marker)))

    # The resets are handled one after another in the order asked: by now all are done.
    assert mails_to(mail_sink, typed_in) == []
    for human in (known, unconfirmed):
        assert await running.rows.Invitation.latest_for(human.user_id) is None
    by_login = await _post(base, {"who": _login(known)})
    assert by_login[:2] == next(iter(pages))
    _, known_address = await give_confirmed_address(running.mail_rows, known)
    _reset_link(text_of(await mail_to(mail_sink, running, known_address)))


@pytest.fixture
async def strict_site(running: LotseApp) -> AsyncIterator[str]:
    """A second listener whose /reset takes only three forms an hour."""
    invitations = dataclasses.replace(running.cfg.invitations, resets_per_hour=3)
    async with second_listener(running, invitations=invitations) as base:
        yield base


async def test_reset_limits_per_person_and_for_everyone(
    strict_site: str, make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """A person gets at most three reset mails an hour however often they are asked for (the
    page stays the same); the page takes three forms an hour in all, then says to come back
    later (429, Retry-After) and mails nothing."""
    person = await make_human("oft", centre="nord", role="client")
    _, address = await give_confirmed_address(running.mail_rows, person)
    for _ in range(RESETS_PER_PERSON_PER_HOUR):
        await running.rows.Invitation.create(
            secrets.token_hex(32), person.user_id, "nord", "@t:x", 0, address, "reset"
        )
    status, html, _ = await _post(f"{strict_site}/reset", {"who": _login(person)})
    assert status == 200 and "Danke" in html  # the same answer, but no mail this time
    other = await make_human("selten", centre="nord", role="client")
    _, other_address = await give_confirmed_address(running.mail_rows, other)
    status, _, _ = await _post(f"{strict_site}/reset", {"who": _login(other)})
    assert status == 200
    _reset_link(text_of(await mail_to(mail_sink, running, other_address)))
    assert mails_to(mail_sink, address) == []

    third = await make_human("dritte", centre="nord", role="client")
    _, third_address = await give_confirmed_address(running.mail_rows, third)
    assert (await _post(f"{strict_site}/reset", {"who": "irgendwer"}))[0] == 200
    status, html, headers = await _post(f"{strict_site}/reset", {"who": _login(third)})
    assert status == 429 and "später" in html and int(headers["Retry-After"]) > 0
    assert await running.rows.Invitation.latest_for(third.user_id) is None
    assert mails_to(mail_sink, third_address) == []


async def test_an_invitation_stops_working_once_the_account_is_in_use(
    running: LotseApp,
) -> None:
    """A first-password link made while nobody used the account is refused (410, pointing to
    /reset) as soon as the account has a password in use; the password stays as it is."""
    person = await new_person(running, "Spaet")
    link = await direct_link(running, person)
    assert (await _get(link))[0] == 200
    admin = running.assistant.services.admin
    await admin.set_password(person.user_id, "Eigenes!2027")  # e.g. given by the operator
    assert (await password_login(running.cfg.homeserver.address, person.user_id, "Eigenes!2027"))[
        0
    ] == 200
    status, html, _ = await _get(link)
    assert status == 410 and "schon festgelegt" in html and "/reset" in html
    status, _ = await _set_password(link, NEW)
    assert status == 410
    base = running.cfg.homeserver.address
    assert (await password_login(base, person.user_id, NEW))[0] == 403
    assert (await password_login(base, person.user_id, "Eigenes!2027"))[0] == 200


async def test_only_admins_change_a_clients_address_and_it_counts_once_confirmed(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """A counsellor cannot point a client's address anywhere; an admin's new address gets
    only its confirmation link (notices keep going to the confirmed one, an invitation does
    not go there) until the link is used; the client is told in their service room."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("berater", centre="nord", role="counsellor")
    counsellor_room = await _service_room(counsellor, bot)
    admin = await make_human("leitung", centre="nord", role="admin")
    control = await join_control_room(running, admin)
    client = await make_human("klientin", centre="nord", role="client")
    client_room = await _service_room(client, bot)
    person, old = await give_confirmed_address(running.mail_rows, client)

    evil = f"evil-{secrets.token_hex(3)}@example.org"
    reply = await ask(counsellor, counsellor_room, bot, f"client set {_login(client)} email={evil}")
    assert "nur Admins" in reply.body and "nichts geändert" in reply.body
    stored = await running.rows.Person.get(client.user_id)
    assert stored is not None and stored.email == old
    assert not await running.db.main.fetchval(
        "SELECT COUNT(*) FROM mail_outbox WHERE recipient_hash=$1", running.db.contact.lookup(evil)
    )

    new = f"neu-{secrets.token_hex(3)}@example.org"
    before = len(client.notices(client_room, bot))
    reply = await ask(admin, control, bot, f"client set {_login(client)} email={new} phone=040123")
    assert "Bestätigungslink" in reply.body and "bisherige Adresse bleibt" in reply.body
    told = await client.next_notice(client_room, bot, before, contains=new)
    assert "erst" in told.body
    stored = await running.rows.Person.get(client.user_id)
    assert stored is not None and (stored.email, stored.phone) == (old, "040123")
    confirm = CONFIRM_RE.search(text_of(await mail_to(mail_sink, running, new)))
    assert confirm
    assert (
        await running.assistant.services.notify(stored, "centre_message") == "queued"
    )  # still the confirmed address
    recipients = await running.db.main.fetch(
        "SELECT recipient_hash, kind FROM mail_outbox WHERE recipient_hash IN ($1, $2)",
        running.db.contact.lookup(new),
        running.db.contact.lookup(old),
    )
    assert sorted((r["recipient_hash"], r["kind"]) for r in recipients) == sorted(
        [
            (running.db.contact.lookup(new), "address_confirmation"),
            (running.db.contact.lookup(old), "centre_message"),
        ]
    )

    status, html, _ = await _post(confirm.group(0), {})
    assert status == 200
    stored = await running.rows.Person.get(client.user_id)
    assert stored is not None and stored.email == new
    assert (await running.mail_rows.Preferences.get(client.user_id)).confirmed_for(new)

    # An account nobody used: its new address gets no invitation before it is confirmed.
    fresh = await new_person(running, "Frisch", email=f"alt-{secrets.token_hex(3)}@example.org")
    pending = f"bald-{secrets.token_hex(3)}@example.org"
    await ask(admin, control, bot, f"client set {fresh.user_id} email={pending}")
    # `client invite` answers the asker alone: typed in the admin's own service room.
    admin_room = await _service_room(admin, bot)
    reply = await ask(admin, admin_room, bot, f"client invite {fresh.user_id}")
    assert pending not in reply.body and fresh.email in reply.body
    rows = await running.db.main.fetch(
        "SELECT kind FROM mail_outbox WHERE recipient_hash=$1", running.db.contact.lookup(pending)
    )
    assert [r["kind"] for r in rows] == ["address_confirmation"]
