"""Self-registration with double opt-in, over HTTP against real Synapse, database and SMTP.

The shared test stack offers no self-registration, so the pages are mounted on a second
listener whose config names the English centre ``south``; everything behind them (Synapse,
the database, the outbox and its sender) is the running app's.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.config import SelfRegistrationConfig
from appservice.dev.client import Human
from appservice.dev.synapse_runner import password_login
from bots.accounts.invitation_rules import new_token
from tests.conftest import MailSink
from tests.invitation_support import LINK_RE, mail_to, second_listener, text_of

pytestmark = pytest.mark.synapse

REGISTER_LINK_RE = LINK_RE.pattern.replace("/invite/", "/register/")


@pytest.fixture
async def site(running: LotseApp) -> AsyncIterator[str]:
    """Base URL of a listener with self-registration for ``south``."""
    async with second_listener(running, self_registration_centre="south") as base:
        yield base


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


async def _post(url: str, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.text(), dict(resp.headers)


async def test_closed_without_a_registration_centre(running: LotseApp) -> None:
    status, html = await _get(f"{running.cfg.public_web_url}/register")
    assert status == 404 and "nicht selbst registrieren" in html
    status, html, _ = await _post(
        f"{running.cfg.public_web_url}/register", {"pseudonym": "Anna", "email": "a@example.org"}
    )
    assert status == 404


async def test_register_confirm_set_password_and_log_in(
    site: str, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    """Form → mail → confirm button → account → invitation page → password → Synapse login."""
    status, html = await _get(f"{site}/register")
    assert status == 200 and "Register" in html and "Counselling Centre South" in html

    status, html, _ = await _post(f"{site}/register", {"pseudonym": "<b>", "email": "nope"})
    assert status == 400
    assert "only contain letters" in html and "not a valid e-mail" in html
    assert "&lt;b&gt;" in html and "<b>" not in html

    suffix = new_token()[:6].lower().replace("-", "x").replace("_", "x")
    pseudonym, email = f"Seagull {suffix}", f"seagull-{suffix}@example.org"
    status, html, _ = await _post(f"{site}/register", {"pseudonym": pseudonym, "email": email})
    assert status == 200 and "check your mailbox" in html
    assert (
        await running.rows.Person.find_in_centre("south", pseudonym) is None
    )  # nothing before opt-in

    mail = await mail_to(mail_sink, running, email)
    match = re.search(REGISTER_LINK_RE, text_of(mail))
    assert match, text_of(mail)
    link = match.group(0)
    assert link.startswith(site)

    status, html = await _get(link)
    assert status == 200 and pseudonym in html and "Confirm" in html
    assert (
        await running.rows.Person.find_in_centre("south", pseudonym) is None
    )  # a GET creates nothing

    status, _, headers = await _post(link, {})
    location = headers.get("Location")
    assert status == 303 and location is not None and "/invite/" in location
    person = await running.rows.Person.find_in_centre("south", pseudonym, roles=("client",))
    assert person is not None and person.email == email and person.account_status == "invited"
    # The mailed link proved the address: a forgotten password can be reset through it.
    assert (await running.mail_rows.Preferences.get(person.user_id)).confirmed_for(email)
    info = await running.assistant.services.admin.get_user(person.user_id)
    assert info is not None and info.displayname == pseudonym
    entries = await running.rows.AuditEntry.recent("south", 20)
    assert any(e.action == "self_register" and e.target == person.user_id for e in entries)

    status, html = await _get(location)
    assert status == 200 and "Set your password" in html
    status, html, _ = await _post(
        location, {"password": "Seagull!2026", "password_repeat": "Seagull!2026"}
    )
    assert status == 200 and person.user_id in html
    login = await password_login(running.cfg.homeserver.address, person.user_id, "Seagull!2026")
    assert login[0] == 200
    assert await running.rows.Invitation.proven_address(person.user_id) == email

    # At the first login the service room with the assistant is waiting.
    stored = await running.rows.Person.get(person.user_id)
    assert stored is not None and stored.service_room_id
    human = await Human.login(
        running.cfg.homeserver.address, person.user_id, "Seagull!2026", tmp_path / "seagull"
    )
    try:
        assert await human.join_invite() == stored.service_room_id
    finally:
        await human.close()

    status, html, _ = await _post(link, {})
    assert status == 410 and "already been confirmed" in html


async def test_bad_registration_links_and_mail_limit(site: str, running: LotseApp) -> None:
    """Unknown links are refused; one address gets at most three mails a day."""
    assert (await _get(f"{site}/register/{new_token()}"))[0] == 404
    assert (await _post(f"{site}/register/nonsense", {}))[0] == 404

    email = f"flood-{time.time_ns()}@example.org"
    for i in range(5):
        status, html, _ = await _post(
            f"{site}/register", {"pseudonym": f"Flut {i}", "email": email}
        )
        assert status == 200 and "check your mailbox" in html  # the same answer every time
    assert await running.rows.Registration.count_since(email, 0) == 3


async def test_registration_limits_per_normalised_address_and_for_everyone(
    running: LotseApp, mail_sink: MailSink
) -> None:
    """One mailbox gets at most its daily number of mails however its address is written
    (and the answer never tells); the form takes a fixed number an hour from everyone
    together, then says to come back later (429, Retry-After) and mails nothing."""
    limits = SelfRegistrationConfig(mails_per_address_per_day=2, forms_per_hour=5)
    async with second_listener(
        running, self_registration_centre="south", self_registration=limits
    ) as base:
        flood = f"flood-{time.time_ns()}@example.org"
        pages = set()
        for i, written in enumerate((flood, flood.upper(), f"Flood{flood[5:]}")):
            status, html, _ = await _post(
                f"{base}/register", {"pseudonym": f"Flut {i}", "email": written}
            )
            pages.add((status, html))
        assert len(pages) == 1 and next(iter(pages))[0] == 200
        assert "at most 2 such e-mails a day" in next(iter(pages))[1]
        marker = f"marker-{time.time_ns()}@example.org"
        assert (await _post(f"{base}/register", {"pseudonym": "Marke", "email": marker}))[0] == 200
        await mail_to(mail_sink, running, marker)  # sent after the flood's, in queue order
        flooded = [r for r, _ in mail_sink.messages if any(a.lower() == flood for a in r)]
        assert len(flooded) == 2

        # Five forms in this hour so far with the one below; the sixth is turned away.
        late = f"late-{time.time_ns()}@example.org"
        assert (await _post(f"{base}/register", {"pseudonym": "Fuenfte", "email": "x@y.org"}))[
            0
        ] == 200
        status, html, headers = await _post(
            f"{base}/register", {"pseudonym": "Sechste", "email": late}
        )
        assert status == 429 and "try again in about" in html and "Counselling Centre" in html
        assert int(headers["Retry-After"]) > 0
        assert await running.rows.Registration.count_since(late, 0) == 0
        assert not await running.db.main.fetchval(
            "SELECT COUNT(*) FROM mail_outbox WHERE recipient_hash=$1",
            running.db.contact.lookup(late),
        )
