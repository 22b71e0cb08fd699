"""The invitation flow in a real headless browser (Debian's chromium, driven by Playwright).

Client created, ``client invite`` typed by a counsellor in an E2EE room, the link taken from
the mail that arrives at the SMTP sink, the form filled in Chromium with JavaScript switched
off (the page needs none), then a login to Synapse with the new password.

Playwright cannot download browsers here, so it drives ``/usr/bin/chromium``; on a fresh
machine running as root the fixture installs Debian's package first (and says so).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appservice.app import LotseApp
from appservice.dev.client import ask
from appservice.dev.synapse_runner import password_login
from tests.conftest import MailSink, MakeHuman
from tests.invitation_support import direct_link, link_in, mail_to, new_person, text_of
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

log = logging.getLogger("tests.browser")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GOOD = "Leuchtturm#2026"


def _say(line: str) -> None:
    """A line the person running the tests sees even while pytest captures output."""
    log.warning("%s", line)
    print(f"\n[browser fixture] {line}", file=sys.__stderr__, flush=True)


def _chromium_problem() -> str | None:
    """None when /usr/bin/chromium is there (installing it as root if needed), else why not."""
    if CHROMIUM.exists():
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"{CHROMIUM} is missing and installing it needs root (apt-get install chromium)"
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium"
    _say(f"{CHROMIUM} is missing: installing Debian's chromium with apt-get (takes a while)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{' '.join(command)} failed: {e}"
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    if not CHROMIUM.exists():
        return f"apt-get installed chromium but {CHROMIUM} is missing"
    _say(f"chromium installed at {CHROMIUM}")
    return None


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium; skipped with the reason only where it cannot be had."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    problem = _chromium_problem()
    if problem is not None:
        if os.environ.get("CI"):
            # In CI the browser test must run, as the PostgreSQL tests must: never skip there.
            pytest.fail(f"CI needs the browser test: {problem}")
        pytest.skip(problem)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(chromium: Any, running: LotseApp) -> AsyncIterator[Any]:
    """A fresh page with JavaScript off; it fails the test if it fetches anything foreign."""
    context = await chromium.new_context(java_script_enabled=False, locale="de-DE")
    page = await context.new_page()
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            foreign.append(request.url)
            if not request.url.startswith(running.cfg.public_web_url)
            else None
        ),
    )
    page.lotse_responses = []
    page.on(
        "response", lambda response: page.lotse_responses.append((response.url, response.status))
    )
    yield page
    await context.close()
    assert not foreign, f"the page fetched from elsewhere: {foreign}"


async def _submit(page: Any, password: str, repeat: str | None = None) -> Any:
    await page.fill("#password", password)
    await page.fill("#password_repeat", password if repeat is None else repeat)
    async with page.expect_navigation() as navigation:
        await page.click("button[type=submit]")
    return await navigation.value


async def _screenshot(page: Any, name: str) -> None:
    """Screenshots only when asked for (LOTSE_TEST_SCREENSHOTS=folder), never committed."""
    folder = os.environ.get("LOTSE_TEST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def test_invitation_in_a_real_browser(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink, page: Any
) -> None:
    """Invite by mail, weak password explained, good one set, then Synapse accepts the login."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("beraterin", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    address = f"wolke-{os.urandom(4).hex()}@example.org"
    client = await new_person(running, "Wolke", email=address)
    reply = await ask(counsellor, room, bot, f"client invite {client.display_name}")
    assert "per E-Mail" in reply.body and address not in reply.body  # addresses: admins only
    mail = await mail_to(mail_sink, running, address)
    link = link_in(text_of(mail))
    localpart = client.user_id.split(":")[0][1:]

    response = await page.goto(link)
    assert response is not None and response.status == 200
    assert await page.title() == "Passwort festlegen"
    assert await page.input_value("#username") == localpart
    assert "Beratungsstelle Nord" in await page.inner_text(".centre")
    # The stylesheet was fetched: the strict Content-Security-Policy lets our own CSS through.
    assert any(
        url.endswith("/web/style.css") and status == 200 for url, status in page.lotse_responses
    )
    await _screenshot(page, "invitation-form")

    weak = await _submit(page, "wolke")
    assert weak.status == 400
    problems = await page.inner_text("#problems")
    for message in ("zu kurz", "Großbuchstabe", "Ziffer", "Sonderzeichen"):
        assert message in problems
    assert "Kleinbuchstabe" not in problems
    assert await page.input_value("#password") == ""  # never sent back
    await _screenshot(page, "invitation-weak")

    mismatch = await _submit(page, GOOD, GOOD + "x")
    assert mismatch.status == 400
    assert "stimmen nicht überein" in await page.inner_text("#problems")

    done = await _submit(page, GOOD)
    assert done.status == 200
    assert await page.inner_text("#homeserver") == running.cfg.public_homeserver_url
    assert await page.inner_text("#username") == localpart
    assert await page.inner_text("#user-id") == client.user_id
    await _screenshot(page, "invitation-done")

    status, body = await password_login(running.cfg.homeserver.address, localpart, GOOD)
    assert status == 200 and body["user_id"] == client.user_id

    # The link is used up: the browser gets the "ask for a new invitation" page.
    again = await page.goto(link)
    assert again is not None and again.status == 410
    text = await page.inner_text("main")
    assert "schon benutzt" in text and "neue Einladung" in text


async def test_expired_link_in_the_browser(running: LotseApp, page: Any) -> None:
    client = await new_person(running, "Nebel")
    expired = await direct_link(running, client, valid_ms=-1)
    response = await page.goto(expired)
    assert response is not None and response.status == 410
    text = await page.inner_text("main")
    assert "abgelaufen" in text and "neue Einladung" in text
    assert await page.query_selector("form") is None
