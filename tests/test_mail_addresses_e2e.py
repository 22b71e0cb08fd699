"""`email` and `notifications` typed in a service room, and the confirmation page."""

from __future__ import annotations

import secrets

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.dev.client import ask
from tests.conftest import MailSink, MakeHuman
from tests.mail_helpers import link_in, mails_to, wait_for_mails
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse


async def test_email_double_opt_in(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """Only the confirmation goes to a new address until its link is used; then it is the
    person's address; the link works once; `email off` removes it."""
    bot = running.cfg.assistant_mxid
    notify = running.assistant.services.notify
    human = await make_human("beraterin", centre="nord", role="counsellor")
    room = await _service_room(human, bot)
    address = f"beraterin-{secrets.token_hex(4)}@example.net"

    reply = await ask(human, room, bot, "email")
    assert "keine Adresse" in reply.body
    bad = await ask(human, room, bot, "email beraterin@")
    assert "keine E-Mail-Adresse" in bad.body and "email name@example.org" in bad.body
    assert await running.mail_rows.Preferences.pending(human.user_id) is None

    sent = await ask(human, room, bot, f"email {address}")
    assert "Bestätigungslink" in sent.body
    [mail] = await wait_for_mails(mail_sink, address)
    assert "bestätigen" in str(mail["Subject"])
    link = link_in(mail)

    person = await running.rows.Person.get(human.user_id)
    assert person is not None and person.email is None
    # Nothing but the confirmation reaches the address until the link is used.
    assert await notify(person, "new_request", request_id=1) == "no_address"
    status = await ask(human, room, bot, "email")
    assert f"Auf Bestätigung wartet: {address}" in status.body

    async with aiohttp.ClientSession() as http:
        async with http.get(link) as resp:  # a mail scanner opening the link confirms nothing
            assert resp.status == 200
            page = await resp.text()
            assert "<form" in page and "Beratungsstelle Nord" in page
            assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert await running.mail_rows.Preferences.pending(human.user_id) is not None
        async with http.post(link) as resp:
            assert resp.status == 200 and "bestätigt" in await resp.text()
        async with http.post(link) as resp:  # once only
            assert resp.status == 404
        async with http.get(link, headers={"Accept-Language": "en"}) as resp:
            assert resp.status == 404 and "expired" in await resp.text()

    person = await running.rows.Person.get(human.user_id)
    assert person is not None and person.email == address
    status = await ask(human, room, bot, "email")
    assert f"{address} (bestätigt)" in status.body and "nach 15 Minuten" in status.body
    again = await ask(human, room, bot, f"email {address}")  # already confirmed: no new link
    assert f"{address} (bestätigt)" in again.body
    assert await running.mail_rows.Preferences.pending(human.user_id) is None
    assert await notify(person, "new_request", request_id=1) == "queued"
    _confirmation, notice = await wait_for_mails(mail_sink, address, 2)
    assert "List-Unsubscribe" not in _confirmation
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = "".join(str(notice["List-Unsubscribe"]).split()).strip("<>")
    async with aiohttp.ClientSession() as http:
        async with http.get(unsubscribe) as resp:  # only asks
            assert resp.status == 200 and "<form" in await resp.text()
        assert (await running.mail_rows.Preferences.get(human.user_id)).notifications
        async with http.post(unsubscribe + "x") as resp:
            assert resp.status == 404
        one_click = {"List-Unsubscribe": "One-Click"}
        async with http.post(unsubscribe, data=one_click) as resp:  # RFC 8058, as a mail client
            assert resp.status == 200 and "keine Benachrichtigungen mehr" in await resp.text()
    assert not (await running.mail_rows.Preferences.get(human.user_id)).notifications
    assert await notify(person, "new_request", request_id=1) == "notifications_off"
    await ask(human, room, bot, "notifications on")

    off = await ask(human, room, bot, "email off")
    assert "entfernt" in off.body
    person = await running.rows.Person.get(human.user_id)
    assert person is not None and person.email is None
    assert await notify(person, "new_request", request_id=1) == "no_address"
    assert len(mails_to(mail_sink, address)) == 2


async def test_notifications_command(make_human: MakeHuman, running: LotseApp) -> None:
    """on/off/delay with bounds; anything else is explained and changes nothing (English)."""
    bot = running.cfg.assistant_mxid
    human = await make_human("client", centre="south", role="client")
    room = await _service_room(human, bot)

    off = await ask(human, room, bot, "notifications off")
    assert "notifications are off" in off.body
    assert not (await running.mail_rows.Preferences.get(human.user_id)).notifications
    on = await ask(human, room, bot, "notifications on")
    assert "notifications are on" in on.body and "email ADDRESS" in on.body
    delay = await ask(human, room, bot, "notifications delay 30")
    assert "30 minutes" in delay.body
    for bad in ("notifications delay 1441", "notifications delay soon", "notifications later"):
        reply = await ask(human, room, bot, bad)
        assert "notifications delay MINUTES" in reply.body and "0 to 1440" in reply.body
    preference = await running.mail_rows.Preferences.get(human.user_id)
    assert preference.notifications and preference.delay_minutes == 30
    shown = await ask(human, room, bot, "notifications")
    assert "after 30 minutes" in shown.body and "no address" in shown.body
