"""The anonymous live chat against real Synapse: the centre's page and the hand-over in headless
Chromium (JavaScript off), a whole E2EE conversation between the anonymous person (logged in
with the one-time login token by matrix-nio) and the counsellor who accepts, the capacity page,
ending the chat, and the erasure afterwards (token, account, room and rows gone).

Centre "ost" of the test config has the live chat open all week with capacity 1 and a web
client at https://chat.ost.test/element/, which the browser never reaches: Playwright answers
for it, so the test stops at the redirect and redeems the token with matrix-nio.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from nio import AsyncClient, AsyncClientConfig, LoginResponse

from appservice.admin_api import AdminApiError
from appservice.app import LotseApp
from appservice.clock import now_ms
from appservice.dev.client import Human, ask
from bots.accounts import deletion_routine
from tests.conftest import MakeHuman
from tests.invitation_support import second_listener
from tests.test_invitation_browser import chromium  # noqa: F401  (the browser fixture)
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

WEB_CLIENT = "https://chat.ost.test/element/"
DAY_MS = 24 * 3_600_000


async def token_human(base_url: str, token: str, store: Path) -> Human:
    """The anonymous person in a Matrix client: logged in by the one-time token, E2EE on."""
    store.mkdir(parents=True, exist_ok=True)
    client = AsyncClient(
        base_url,
        "",
        store_path=str(store),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, max_timeouts=3),
    )
    resp = await client.login(token=token, device_name="anonymous")
    assert isinstance(resp, LoginResponse), resp
    human = Human(client)
    await human.sync()
    return human


async def token_login_status(base_url: str, token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base_url}/_matrix/client/v3/login", json={"type": "m.login.token", "token": token}
        ) as resp,
    ):
        return resp.status


@pytest.fixture
async def browser_page(chromium: Any, running: LotseApp) -> AsyncIterator[Any]:  # noqa: F811
    """A page with JavaScript off; the centre's web client is answered by Playwright."""
    context = await chromium.new_context(java_script_enabled=False, locale="de-DE")
    page = await context.new_page()
    page.arrived = []
    page.foreign = []

    async def web_client(route: Any) -> None:
        page.arrived.append(route.request.url)
        await route.fulfill(status=200, content_type="text/plain", body="web client")

    await page.route(WEB_CLIENT + "**", web_client)
    page.on(
        "request",
        lambda r: (
            page.foreign.append(r.url)
            if not r.url.startswith((running.cfg.public_web_url, WEB_CLIENT))
            else None
        ),
    )
    yield page
    await context.close()
    assert not page.foreign, f"the page fetched from elsewhere: {page.foreign}"


async def _off_duty(running: LotseApp, *humans: Human) -> None:
    """Stop staffing and go unavailable: the other tests of "ost" count on few staff on duty."""
    rows = running.assistant.services.rows
    for human in humans:
        await rows.LiveChatStaff.set(human.user_id, "ost", False, now_ms())
        person = await rows.Person.get(human.user_id)
        assert person is not None
        await person.set_status("unavailable")


async def _erase_everything_due(running: LotseApp, later_ms: int) -> None:
    """A run of the deletion routine as if ``later_ms`` had passed (Synapse's time stays)."""
    await deletion_routine.run(running.assistant.services, now=now_ms() + later_ms)


async def test_page_hand_over_conversation_capacity_and_erasure(
    make_human: MakeHuman, running: LotseApp, browser_page: Any, tmp_path: Path
) -> None:
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    base = running.cfg.homeserver.address
    page = browser_page
    counsellor = await make_human("krisendienst", centre="ost", role="counsellor")
    room = await _service_room(counsellor, bot)

    # Nobody staffs it yet: the page says closed and offers no button.
    response = await page.goto(f"{running.cfg.public_web_url}/c/ost")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "geschlossen" in await page.inner_text("#status")
    assert await page.query_selector("#start") is None
    assert "keine Themenchats" in await page.inner_text("#topic-chats")
    async with aiohttp.ClientSession() as http:
        url = f"{running.cfg.public_web_url}/c/ost/start"
        async with http.post(url, allow_redirects=False) as closed:
            assert closed.status == 409 and "geschlossen" in await closed.text()
    assert await services.rows.LiveChat.running("ost") == 0  # nothing was made

    staffed = await ask(counsellor, room, bot, "livechat on")
    assert "besetzen jetzt" in staffed.body
    await page.goto(f"{running.cfg.public_web_url}/c/ost?lang=en")
    assert "open now" in await page.inner_text("#status")
    opened = await page.goto(f"{running.cfg.public_web_url}/c/ost")
    assert "jetzt geöffnet" in await page.inner_text("#status")
    # The button's redirect to the web client is allowed by the page's policy, nothing else.
    assert opened is not None
    assert "form-action 'self' https://chat.ost.test;" in opened.headers["content-security-policy"]

    told_before = len(counsellor.notices(room, bot))
    await page.click("#start")
    await page.wait_for_url(WEB_CLIENT + "**")
    assert len(page.arrived) == 1
    query = parse_qs(urlsplit(page.arrived[0]).query)
    assert query["homeserver"] == [running.cfg.public_homeserver_url]
    token = query["loginToken"][0]

    anon = await token_human(base, token, tmp_path / "anon")
    try:
        prefix = running.cfg.appservice.namespace_prefix
        assert anon.user_id.startswith(f"@{prefix}anon-")
        assert await token_login_status(base, token) == 403  # one-time: used up
        person = await services.rows.Person.get(anon.user_id)
        assert person is not None and person.centre_id == "ost" and person.name.startswith("Gast-")
        assert person.email is None

        told = await counsellor.next_notice(room, bot, told_before, contains="Livechat")
        number = int(re.search(r"Nr\. (\d+)", told.body).group(1))  # type: ignore[union-attr]
        assert f"annehmen {number}" in told.body and person.name in told.body

        # The capacity (1) is taken: the page and the button say everyone is busy.
        await page.goto(f"{running.cfg.public_web_url}/c/ost")
        assert "im Gespräch" in await page.inner_text("#status")
        async with aiohttp.ClientSession() as http:
            url = f"{running.cfg.public_web_url}/c/ost/start"
            async with http.post(url, allow_redirects=False) as busy:
                assert busy.status == 409 and "im Gespräch" in await busy.text()

        # The conversation: the person joins, the counsellor accepts, both write, encrypted.
        chat_room = await anon.join_invite()
        assert anon.client.rooms[chat_room].encrypted
        assert await counsellor.join_invite() == chat_room
        accepted = await ask(counsellor, room, bot, f"annehmen {number}")
        assert "angenommen" in accepted.body
        await anon.send(chat_room, "Ich brauche gerade jemanden zum Reden.")
        heard = await counsellor.wait_until(
            lambda: [s for s in counsellor.seen if s.room_id == chat_room and s.kind == "text"],
            30,
            "the person's message",
        )
        assert heard[0].body == "Ich brauche gerade jemanden zum Reden." and heard[0].encrypted
        await counsellor.send(chat_room, "Ich bin da. Was ist passiert?")
        answer = await anon.wait_until(
            lambda: [
                s
                for s in anon.seen
                if s.room_id == chat_room and s.kind == "text" and s.sender == counsellor.user_id
            ],
            30,
            "the counsellor's answer",
        )
        assert answer[0].body == "Ich bin da. Was ist passiert?" and answer[0].encrypted
        assert bot not in anon.members(chat_room)  # no bot device in the room

        # Somebody else cannot end it; the counsellor who accepted can.
        wrong = await ask(counsellor, room, bot, "livechat end abc")
        assert "Nummer" in wrong.body
        ended = await ask(counsellor, room, bot, f"livechat end {number}")
        assert "beendet" in ended.body
        await counsellor.wait_left(chat_room, anon.user_id)
        back = await anon.client.join(chat_room)  # an ended chat lets nobody back in
        assert getattr(back, "status_code", "") == "M_FORBIDDEN", back
        await page.goto(f"{running.cfg.public_web_url}/c/ost")
        assert "jetzt geöffnet" in await page.inner_text("#status")  # a place is free again

        # Erasure: a day later nothing is left — not the account, the room or the rows.
        counted = await services.rows.LiveChatCount.since("ost", now_ms() - DAY_MS)
        await _erase_everything_due(running, DAY_MS - 60_000)
        assert await services.rows.LiveChat.get(anon.user_id) is not None  # not yet due
        await _erase_everything_due(running, DAY_MS + 60_000)
        whoami = await anon.client.whoami()
        assert getattr(whoami, "status_code", "") in ("M_UNKNOWN_TOKEN", "M_FORBIDDEN"), whoami
        info = await services.admin.get_user(anon.user_id)
        assert info is not None and info.deactivated
        with pytest.raises(AdminApiError) as gone:
            await services.admin._request("GET", f"/_synapse/admin/v1/rooms/{quote(chat_room)}")
        assert gone.value.status == 404
        db = running.db.main
        for user_or_room in (anon.user_id, chat_room):
            for table, column in (
                ("person", "user_id"),
                ("live_chat", "user_id"),
                ("counselling_request", "client_id"),
                ("counselling_request", "room_id"),
                ("audit_log", "target"),
                ("erased_person", "user_id"),
            ):
                q = f"SELECT COUNT(*) FROM {table} WHERE {column}=$1"
                assert await db.fetchval(q, user_or_room) == 0, (table, column)
        # Only the count stays, for statistics.
        assert await services.rows.LiveChatCount.since("ost", now_ms() - DAY_MS) == counted
    finally:
        await anon.close()
        await _off_duty(running, counsellor)


async def test_one_time_code_rate_limit_and_hourly_cap(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a web client the page shows homeserver and code; the start button's limit per
    minute (in memory) and the hourly cap of accounts (in the database) answer with 429; Lotse
    logs no address of whoever pressed it."""
    services = running.assistant.services
    counsellor = await make_human("nachtdienst", centre="ost", role="counsellor")
    await services.rows.LiveChatStaff.set(counsellor.user_id, "ost", True, now_ms())
    ost = running.cfg.centre("ost")
    assert ost is not None and ost.live_chat is not None
    started = await services.rows.LiveChatCount.since("ost", now_ms())

    def with_live_chat(**changes: Any) -> tuple[Any, ...]:
        assert ost is not None and ost.live_chat is not None
        changed = dataclasses.replace(
            ost, live_chat=dataclasses.replace(ost.live_chat, capacity=10, **changes)
        )
        return tuple(changed if c.id == "ost" else c for c in running.cfg.centres)

    try:
        limited = with_live_chat(web_client="", starts_per_minute=1)
        async with (
            second_listener(running, centres=limited) as web,
            aiohttp.ClientSession() as http,
        ):
            async with http.post(f"{web}/c/ost/start", allow_redirects=False) as first:
                assert first.status == 200
                html = await first.text()
            assert running.cfg.public_homeserver_url in html
            code = re.search(r'<code id="code">([^<]+)</code>', html).group(1)  # type: ignore[union-attr]
            anon = await token_human(running.cfg.homeserver.address, code, tmp_path / "code")
            await anon.close()
            async with http.post(f"{web}/c/ost/start", allow_redirects=False) as second:
                assert second.status == 429 and "Gerade zu viele" in await second.text()
                assert int(second.headers["Retry-After"]) > 0
        assert await services.rows.LiveChatCount.since("ost", now_ms()) == started + 1

        # The hourly cap counts what was begun this hour, across restarts and listeners.
        capped = with_live_chat(web_client="", starts_per_minute=100, accounts_per_hour=started + 2)
        async with (
            second_listener(running, centres=capped) as web,
            aiohttp.ClientSession() as http,
        ):
            async with http.post(f"{web}/c/ost/start", allow_redirects=False) as third:
                assert third.status == 200
                unused = re.search(r'<code id="code">([^<]+)</code>', await third.text())
            async with http.post(f"{web}/c/ost/start", allow_redirects=False) as fourth:
                assert fourth.status == 429 and "ausgebucht" in await fourth.text()
        assert await services.rows.LiveChatCount.since("ost", now_ms()) == started + 2
    finally:
        await _off_duty(running, counsellor)
        await _erase_everything_due(running, 2 * DAY_MS)
    assert await services.rows.LiveChat.running("ost") == 0
    lotse_lines = [r.getMessage() for r in caplog.records if r.name.startswith("lotse")]
    assert any("starts per minute" in line for line in lotse_lines)
    assert not any("127.0.0.1" in line for line in lotse_lines)
    # A code nobody redeemed dies with its account.
    assert unused is not None
    # Nor any login token, whoever logs (Lotse, mautrix, aiohttp): a token is a login.
    every_line = [r.getMessage() for r in caplog.records]
    assert not [line for line in every_line if code in line or unused.group(1) in line]
    assert await token_login_status(running.cfg.homeserver.address, unused.group(1)) == 403


async def test_two_starts_at_once_take_the_last_place_once(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Two presses of the start button at the same moment with one place left: one chat
    begins, the other person is told everyone is busy (the check and the new chat are one
    step per centre)."""
    services = running.assistant.services
    counsellor = await make_human("spaetdienst", centre="ost", role="counsellor")
    await services.rows.LiveChatStaff.set(counsellor.user_id, "ost", True, now_ms())
    ost = running.cfg.centre("ost")
    assert ost is not None and ost.live_chat is not None
    before = await services.rows.LiveChat.running("ost")
    one_more = dataclasses.replace(
        ost,
        live_chat=dataclasses.replace(
            ost.live_chat, capacity=before + 1, web_client="", starts_per_minute=100
        ),
    )
    centres = tuple(one_more if c.id == "ost" else c for c in running.cfg.centres)
    try:
        async with (
            second_listener(running, centres=centres) as web,
            aiohttp.ClientSession() as http,
        ):

            async def press() -> int:
                async with http.post(f"{web}/c/ost/start", allow_redirects=False) as answer:
                    await answer.read()
                    return answer.status

            statuses = sorted(await asyncio.gather(press(), press()))
        assert statuses == [200, 409]
        assert await services.rows.LiveChat.running("ost") == before + 1
    finally:
        await _off_duty(running, counsellor)
        await _erase_everything_due(running, 2 * DAY_MS)


async def test_unknown_centre_and_centre_without_live_chat(running: LotseApp) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.cfg.public_web_url}/c/nirgends") as unknown:
            assert unknown.status == 404 and "gibt es nicht" in await unknown.text()
        async with http.get(f"{running.cfg.public_web_url}/c/nord") as none:
            assert none.status == 200 and "keinen anonymen Livechat" in await none.text()
        async with http.post(f"{running.cfg.public_web_url}/c/nord/start") as refused:
            assert refused.status == 503 and "Kein Livechat" in await refused.text()


async def test_livechat_commands_block_and_refusals(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """`livechat` shows the state; ending someone else's chat, a bad word or number, and a
    centre without live chat are refused and change nothing; `livechat block` locks the
    account at once (its unused login token no longer works)."""
    from bots.livechat import chats

    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    first = await make_human("fruehdienst", centre="ost", role="counsellor")
    second = await make_human("spaetdienst", centre="ost", role="counsellor")
    elsewhere = await make_human("nordlicht", centre="nord", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (first, second, elsewhere)}
    ask_first = lambda text: ask(first, rooms[first.user_id], bot, text)  # noqa: E731

    state = await ask_first("livechat")
    assert "besetzen ihn nicht" in state.body and "Seit Jahresbeginn" in state.body
    none = await ask(elsewhere, rooms[elsewhere.user_id], bot, "livechat on")
    assert "keinen anonymen Livechat" in none.body
    assert not await services.rows.LiveChatStaff.is_on(elsewhere.user_id)
    await ask_first("livechat on")
    await ask(second, rooms[second.user_id], bot, "livechat on")
    try:
        ost = running.cfg.centre("ost")
        assert ost is not None and ost.live_chat is not None
        started = await chats.start(services, running.cfg, ost, ost.live_chat, now_ms())
        number = started.request_id
        assert "angenommen" in (await ask_first(f"annehmen {number}")).body

        bad = await ask_first("livechat pause")
        assert "pause" in bad.body and "Nichts wurde geändert" in bad.body
        unknown = await ask_first("livechat block 999999")
        assert "kein anonymer Livechat" in unknown.body
        theirs = await ask(second, rooms[second.user_id], bot, f"livechat end {number}")
        assert "jemand anderes" in theirs.body
        assert await services.rows.LiveChat.running("ost") == 1  # unchanged

        blocked = await ask_first(f"livechat block {number}")
        assert "gesperrt" in blocked.body
        assert await services.rows.LiveChat.running("ost") == 0
        chat = await services.rows.LiveChat.get(started.user_id)
        assert chat is not None and chat.blocked
        assert await token_login_status(running.cfg.homeserver.address, started.token) in (
            401,
            403,
        )
        again = await ask_first(f"livechat end {number}")
        assert "schon beendet" in again.body
    finally:
        await _off_duty(running, first, second)
        await _erase_everything_due(running, 2 * DAY_MS)
    assert await services.rows.LiveChat.get(started.user_id) is None


async def test_a_throwaway_account_gets_no_service_room_and_no_commands(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """An anonymous person who opens a chat with the assistant is told that the assistant is
    theirs once they register, and nothing is made: no service room, no invitation, so no
    `anfrage`, `termine` or `export` for an account that exists only for its chat."""
    from bots.livechat import chats

    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    counsellor = await make_human("diensthabend", centre="ost", role="counsellor")
    await services.rows.LiveChatStaff.set(counsellor.user_id, "ost", True, now_ms())
    anon: Human | None = None
    try:
        ost = running.cfg.centre("ost")
        assert ost is not None and ost.live_chat is not None
        started = await chats.start(services, running.cfg, ost, ost.live_chat, now_ms())
        anon = await token_human(running.cfg.homeserver.address, started.token, tmp_path / "a")
        # In the chat's room the person talks, nothing more: no invitation, no renaming.
        chat_room = await anon.join_invite()
        friend = await make_human("mitgebracht", centre=None)
        invited = await anon.client.room_invite(chat_room, friend.user_id)
        assert getattr(invited, "status_code", "") == "M_FORBIDDEN", invited
        for kind, content in (
            ("m.room.name", {"name": "Meins"}),
            ("m.room.power_levels", {"users": {anon.user_id: 100}}),
            ("m.room.join_rules", {"join_rule": "public"}),
        ):
            changed = await anon.client.room_put_state(chat_room, kind, content)
            assert getattr(changed, "status_code", "") == "M_FORBIDDEN", (kind, changed)
        dm = await anon.open_dm(bot)
        told = await anon.next_notice(dm, bot, 0)
        assert "anonym" in told.body and "registrieren" in told.body, told.body
        await anon.wait_left(dm, bot)
        await anon.sync()
        person = await services.rows.Person.get(anon.user_id)
        assert person is not None and person.service_room_id is None
        from_bot = [r for r, room in anon.client.invited_rooms.items() if room.inviter == bot]
        assert from_bot == []
    finally:
        if anon is not None:
            await anon.close()
        await _off_duty(running, counsellor)
        await _erase_everything_due(running, 2 * DAY_MS)
