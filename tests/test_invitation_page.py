"""The invitation page over HTTP and the invite commands through real E2EE clients.

(The same flow in a real browser is in test_invitation_browser.py.)
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.dev.client import ask
from appservice.dev.synapse_runner import password_login
from appservice.web_pages import WebPages
from bots.accounts.invitation_rules import MAX_FAILED_ATTEMPTS, hash_token, new_token
from tests.conftest import MailSink, MakeHuman
from tests.invitation_support import direct_link, link_in, mail_to, new_person, text_of
from tests.test_privacy import _database_dump
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

GOOD = "Sicher!2026"


async def _get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def _post(url: str, password: str, repeat: str | None = None) -> tuple[int, str]:
    form = {"password": password, "password_repeat": password if repeat is None else repeat}
    async with aiohttp.ClientSession() as http, http.post(url, data=form) as resp:
        return resp.status, await resp.text()


def test_pages_escape_what_they_show() -> None:
    """Autoescape: a hostile centre name or user name is text, never markup (both languages)."""
    pages = WebPages()
    for lang in ("de", "en"):
        for purpose in ("invitation", "reset"):
            html = pages.render(
                lang, "invitation_invalid", reason="used", centre_name="<b>x</b>", purpose=purpose
            )
            assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
            assert f'<html lang="{lang}">' in html


async def test_invite_without_address_gives_a_link_that_sets_the_password(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Counsellor invites an address-less client; the link works once and the login works."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("beraterin", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    client = await new_person(running, "Wolke")
    reply = await ask(counsellor, room, bot, f"klient einladen {client.display_name}")
    assert "keine E-Mail-Adresse" in reply.body and "7 Tage" in reply.body
    link = link_in(reply.body)
    stored = await running.rows.Person.get(client.user_id)
    assert stored is not None and stored.account_status == "invited"

    status, html, headers = await _get(link)
    assert status == 200 and "Passwort festlegen" in html
    assert client.user_id.split(":")[0][1:] in html  # the user name is shown
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "<script" not in html

    status, html = await _post(link, GOOD, "Sicher!2027")
    assert status == 400 and "stimmen nicht überein" in html
    status, html = await _post(link, GOOD)
    assert status == 200 and running.cfg.public_homeserver_url in html
    assert client.user_id in html
    login_status, _ = await password_login(running.cfg.homeserver.address, client.user_id, GOOD)
    assert login_status == 200
    stored = await running.rows.Person.get(client.user_id)
    assert stored is not None and stored.account_status == "activated"

    # Used up: neither the form nor a second password.
    status, html, _ = await _get(link)
    assert status == 410 and "schon benutzt" in html and "neue Einladung" in html
    status, html = await _post(link, "Anders!2026")
    assert status == 410
    login_status, _ = await password_login(
        running.cfg.homeserver.address, client.user_id, "Anders!2026"
    )
    assert login_status == 403


WEAK = [
    ("xy", ["zu kurz", "Großbuchstabe", "Ziffer", "Sonderzeichen"]),
    ("nurkleinbuchstaben", ["Großbuchstabe", "Ziffer", "Sonderzeichen"]),
    ("GROSS123!", ["Kleinbuchstabe"]),
    ("Passwort!!", ["Ziffer"]),
    ("Passwort12", ["Sonderzeichen"]),
    ("        ", ["leer", "Großbuchstabe"]),
    ("Aa1!" * 129, ["zu lang"]),
]


@pytest.mark.parametrize(("password", "messages"), WEAK, ids=[w[0][:12] for w in WEAK])
async def test_weak_passwords_are_explained(
    running: LotseApp, password: str, messages: list[str]
) -> None:
    """Each unmet rule gets its own sentence, the form comes back, nothing is set or used."""
    client = await new_person(running, "Regen")
    link = await direct_link(running, client)
    status, html = await _post(link, password)
    assert status == 400 and "Passwort festlegen" in html
    for message in messages:
        assert message in html, message
    assert f'value="{password}' not in html  # never echoed back
    status, _, _ = await _get(link)
    assert status == 200
    assert (await password_login(running.cfg.homeserver.address, client.user_id, password))[
        0
    ] == 403


async def test_english_centre_gets_english_pages(running: LotseApp) -> None:
    client = await new_person(running, "Cloud", centre="south")
    link = await direct_link(running, client)
    status, html = await _post(link, "weak")
    assert status == 400 and "too short" in html and "upper-case" in html
    status, html = await _post(link, GOOD)
    assert status == 200 and "Your password is saved" in html


async def test_bad_links_get_a_clear_page(running: LotseApp) -> None:
    """Unknown, malformed, expired, replaced and locked-out links: 404/410, never a traceback."""
    base = running.cfg.public_web_url
    for url in (
        f"{base}/invite/{new_token()}",
        f"{base}/invite/nonsense",
        f"{base}/invite/%3Cx%3E",
    ):
        status, html, headers = await _get(url)
        assert status == 404 and "neue Einladung" in html, url
        assert headers["Cache-Control"] == "no-store"
        status, html = await _post(url, GOOD)
        assert status == 404

    client = await new_person(running, "Nebel")
    expired = await direct_link(running, client, valid_ms=-1000)
    status, html, _ = await _get(expired)
    assert status == 410 and "abgelaufen" in html
    assert (await _post(expired, GOOD))[0] == 410

    replaced = await direct_link(running, client)
    newer = await direct_link(running, client)
    status, html, _ = await _get(replaced)
    assert status == 410 and "neuere Einladung" in html
    assert (await _get(newer))[0] == 200

    await client.set_account(locked_at=int(time.time() * 1000))
    status, html = await _post(newer, GOOD)
    assert status == 410
    assert (await password_login(running.cfg.homeserver.address, client.user_id, GOOD))[0] == 403


async def test_too_many_refused_passwords_block_the_link(running: LotseApp) -> None:
    client = await new_person(running, "Hagel")
    link = await direct_link(running, client)
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        assert (await _post(link, "weak"))[0] == 400
    status, html = await _post(link, "weak")
    assert status == 410 and "zu oft" in html
    status, html = await _post(link, GOOD)
    assert status == 410 and "zu oft" in html


async def test_invite_by_mail_and_admin_invites_counsellor(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """With an address the link goes by mail (outbox); admins invite counsellors; audited."""
    bot = running.cfg.assistant_mxid
    admin = await make_human("chefin", centre="nord", role="admin")
    room = await _service_room(admin, bot)
    address = f"berater-{new_token()[:8].lower()}@example.org"
    staff = await new_person(running, "Mueller", role="counsellor", email=address)
    login = staff.user_id.split(":")[0][1:]
    reply = await ask(admin, room, bot, f"berater einladen {login}")
    assert f"per E-Mail an {address}" in reply.body
    assert "/invite/" not in reply.body  # the link goes only to the person
    mail = await mail_to(mail_sink, running, address)
    assert "Einladung" in str(mail["Subject"])
    link = link_in(text_of(mail))
    invitation = await running.rows.Invitation.latest_for(staff.user_id)
    assert invitation is not None and invitation.sent_to == address

    # A second invitation replaces the first link.
    again = await ask(admin, room, bot, f"counsellor invite {login}")
    assert "E-Mail" in again.body
    status, html, _ = await _get(link)
    assert status == 410 and "neuere Einladung" in html

    entries = await running.rows.AuditEntry.recent("nord", 50)
    assert any(
        e.action == "invite" and e.target == staff.user_id and e.actor_id == admin.user_id
        for e in entries
    )


async def test_completed_mailed_invitation_confirms_the_address(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """Following a link mailed to an address proves the person reads it: notification mails
    may go there without a second opt-in; a handed-over link proves nothing."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("einladerin", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    address = f"wolke-{new_token()[:8].lower()}@example.org"
    client = await new_person(running, "Postwolke", email=address)
    await ask(counsellor, room, bot, f"klient einladen {client.display_name}")
    link = link_in(text_of(await mail_to(mail_sink, running, address)))
    assert not (await running.mail_rows.Preferences.get(client.user_id)).confirmed_for(address)
    status, _ = await _post(link, GOOD)
    assert status == 200
    assert (await running.mail_rows.Preferences.get(client.user_id)).confirmed_for(address)

    handed = await new_person(running, "Handwolke")
    reply = await ask(counsellor, room, bot, f"klient einladen {handed.display_name}")
    status, _ = await _post(link_in(reply.body), GOOD)
    assert status == 200
    stored = await running.rows.Person.get(handed.user_id)
    assert stored is not None and stored.email is None
    assert not (await running.mail_rows.Preferences.get(handed.user_id)).confirmed_for(
        "x@example.org"
    )


async def test_invite_refusals_change_nothing(make_human: MakeHuman, running: LotseApp) -> None:
    """Unknown people, other centres' people, deleted, locked, no account, wrong role."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("berater", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)

    reply = await ask(counsellor, room, bot, "klient einladen Niemand")
    assert "keine:n Ratsuchende:n „Niemand“" in reply.body

    foreign = await new_person(running, "Fremd", centre="south")
    for text in (foreign.display_name, foreign.user_id):
        reply = await ask(counsellor, room, bot, f"client invite {text}")
        assert "keine:n Ratsuchende:n" in reply.body, text
    assert await running.rows.Invitation.latest_for(foreign.user_id) is None

    deleted = await new_person(running, "Weg")
    await deleted.set_account(deleted_at=int(time.time() * 1000))
    reply = await ask(counsellor, room, bot, f"client invite {deleted.display_name}")
    assert "gelöscht" in reply.body

    locked = await new_person(running, "Zu")
    await locked.set_account(locked_at=int(time.time() * 1000))
    reply = await ask(counsellor, room, bot, f"client invite {locked.display_name}")
    assert "gesperrt" in reply.body

    synapse_locked = await new_person(running, "Riegel")
    await running.assistant.services.admin.lock(synapse_locked.user_id)
    reply = await ask(counsellor, room, bot, f"client invite {synapse_locked.display_name}")
    assert "gesperrt" in reply.body

    ghost = await new_person(running, "Geist", synapse_account=False)
    reply = await ask(counsellor, room, bot, f"client invite {ghost.display_name}")
    assert "kein aktives Konto" in reply.body

    colleague = await new_person(running, "Kollegin", role="counsellor")
    reply = await ask(counsellor, room, bot, f"counsellor invite {colleague.user_id}")
    assert "admin" in reply.body.lower()
    reply = await ask(counsellor, room, bot, f"client invite {colleague.user_id}")
    assert "keine:n Ratsuchende:n" in reply.body

    for person in (deleted, locked, synapse_locked, ghost, colleague):
        assert await running.rows.Invitation.latest_for(person.user_id) is None
        stored = await running.rows.Person.get(person.user_id)
        assert stored is not None and stored.invited_at is None


async def test_two_posts_at_once_one_wins(running: LotseApp) -> None:
    """The same link submitted twice at the same moment sets exactly one password."""
    client = await new_person(running, "Doppel")
    link = await direct_link(running, client)
    results = await asyncio.gather(_post(link, "Erstes!2026"), _post(link, "Zweites!2026"))
    assert sorted(status for status, _ in results) == [200, 410]
    winner = "Erstes!2026" if results[0][0] == 200 else "Zweites!2026"
    base = running.cfg.homeserver.address
    assert (await password_login(base, client.user_id, winner))[0] == 200


async def test_synapse_refusal_keeps_the_link_usable(running: LotseApp) -> None:
    """When Synapse does not take the password the person is told to retry; the link stays."""
    ghost = await new_person(running, "Ohnekonto", synapse_account=False)
    link = await direct_link(running, ghost)
    status, html = await _post(link, GOOD)
    assert status == 503 and "noch einmal" in html
    assert (await _get(link))[0] == 200
    stored = await running.rows.Person.get(ghost.user_id)
    assert stored is not None and stored.activated_at is None


async def test_english_centre_invites_its_own_clients_only(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """South (English) gets English replies and cannot reach a north client."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("counsellor", centre="south", role="counsellor")
    room = await _service_room(counsellor, bot)
    own = await new_person(running, "Cloud", centre="south")
    north = await new_person(running, "Sonne", centre="nord")
    reply = await ask(counsellor, room, bot, f"client invite {own.display_name}")
    assert "no e-mail address on file" in reply.body and "7 days" in reply.body
    status, html, _ = await _get(link_in(reply.body))
    assert status == 200 and "Set your password" in html
    refused = await ask(counsellor, room, bot, f"client invite {north.user_id}")
    assert "There is no client" in refused.body
    assert await running.rows.Invitation.latest_for(north.user_id) is None


async def test_token_and_password_are_stored_and_logged_nowhere(
    running: LotseApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the token's hash is kept; neither the link nor the password is in a table or log.

    The HTTP access log is left out: it names the path, and ``setup_logging`` keeps
    ``aiohttp.access`` at WARNING in production for exactly that reason.
    """
    caplog.set_level(logging.DEBUG)
    client = await new_person(running, "Tau")
    link = await direct_link(running, client)
    token = link.rsplit("/", 1)[1]
    password = f"Tau!{secrets.token_hex(6)}"
    assert (await _post(link, "weak"))[0] == 400
    assert (await _post(link, password))[0] == 200

    assert any(r.name == "lotse.invitation_page" for r in caplog.records)
    for secret in (token, password):
        records = [r for r in caplog.records if r.name != "aiohttp.access"]
        leaking = [r.name for r in records if secret in r.getMessage()]
        assert not leaking, f"logged by {leaking}"
    dump = await _database_dump(running)
    assert hash_token(token) in dump["invitation"]
    for secret in (token, password):
        assert not [t for t, text in dump.items() if secret in text]
