"""Topic chats and the way from anonymous to registered, against real Synapse with matrix-nio
(E2EE) as the people: a counsellor announces, the centre's page lists, an anonymous person
joins through the page inside the window (refused outside it), the room closes when the chat
is over and the deletion routine erases the throwaway account afterwards; and a counsellor's
registration offer turns the anonymous account into a client's who logs in with a password.

Centre "nord" has no ``live_chat`` section: joining takes the live chat's defaults, so the page
shows the homeserver and a one-time code (no web client), which matrix-nio redeems.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from mautrix.types import RoomID
from nio import (
    JoinedRoomsResponse,
    RoomMessagesResponse,
)

from appservice.admin_api import AdminApiError
from appservice.app import LotseApp
from appservice.clock import now_ms
from appservice.db import TopicChat
from appservice.dev.client import Human, ask
from bots.accounts import deletion_routine
from bots.topicchats import chats
from tests.conftest import MakeHuman
from tests.test_invitation_browser import chromium  # noqa: F401  (the browser fixture)
from tests.test_live_chat import (  # noqa: F401  (browser_page: the page fixture)
    WEB_CLIENT,
    _off_duty,
    browser_page,
    token_human,
)
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def _moment(running: LotseApp, ms: int) -> str:
    """A moment as a counsellor types it: date and time in the centre's zone."""
    centre = running.cfg.centre("nord")
    assert centre is not None
    return datetime.fromtimestamp(ms / 1000, centre.zone).strftime("%d.%m.%Y %H:%M")


async def _post(url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(url, data=data or {}) as resp:
        return resp.status, await resp.text()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


async def _join_anonymously(running: LotseApp, chat_id: int, store: Path) -> Human:
    """Press "join" on the chat's page; log in with the code it shows."""
    web = running.cfg.public_web_url
    status, body = await _post(f"{web}/c/nord/topic/{chat_id}/join")
    assert status == 200, body
    code = re.search(r'<code id="code">([^<]+)</code>', body)
    assert code is not None, body
    return await token_human(running.cfg.homeserver.address, code.group(1), store)


async def _announce(
    running: LotseApp, counsellor: Human, room: str, title: str, start: int, end: int
) -> TopicChat:
    bot = running.cfg.assistant_mxid
    said = await ask(
        counsellor,
        room,
        bot,
        f'topicchat new "{title}" {_moment(running, start)} {_moment(running, end)} Offen für alle',
    )
    assert "angekündigt" in said.body and title in said.body, said.body
    number = int(re.search(r"Nr\. (\d+)", said.body).group(1))  # type: ignore[union-attr]
    chat = await running.db.rows.TopicChat.get("nord", number)
    assert chat is not None and chat.room_id
    return chat


async def _text_from(human: Human, room_id: str, sender: str, text: str) -> None:
    await human.wait_until(
        lambda: any(
            s.room_id == room_id and s.sender == sender and s.kind == "text" and s.body == text
            for s in human.seen
        ),
        30,
        f"“{text}”",
    )


async def _whoami_status(base_url: str, human: Human) -> int:
    """How Synapse answers the person's session now (401 once the account is erased)."""
    headers = {"Authorization": f"Bearer {human.client.access_token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base_url}/_matrix/client/v3/account/whoami", headers=headers) as resp,
    ):
        return resp.status


async def test_topic_chat_window_closing_and_erasure(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """Announced → listed → joined inside the window, refused outside → closed → erased."""
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    web = running.cfg.public_web_url
    counsellor = await make_human("themenchat", centre="nord", role="counsellor")
    colleague = await make_human("themenkollege", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    colleague_room = await _service_room(colleague, bot)

    # Bad input: a clear answer, nothing announced.
    before = len(await services.rows.TopicChat.coming("nord", now_ms()))
    for text, answer in (
        ("topicchat new Eltern gestern 18:00 19:00", "Den Beginn verstehe ich nicht"),
        ("topicchat new Eltern 1.1.2020 18:00 19:00", "in der Vergangenheit"),
        ("topicchat new Eltern heute 18:00 spät", "Das Ende verstehe ich nicht"),
    ):
        refused = await ask(counsellor, room, bot, text)
        assert answer in refused.body and "nichts angekündigt" in refused.body, refused.body
    assert len(await services.rows.TopicChat.coming("nord", now_ms())) == before

    now = now_ms()
    start = now - now % 60_000  # this minute: open now
    running_chat = await _announce(
        running, counsellor, room, "Trennung jetzt", start, start + 30 * 60_000
    )
    later = await _announce(
        running, counsellor, room, "Eltern später", start + 2 * DAY_MS, start + 2 * DAY_MS + HOUR_MS
    )
    assert await counsellor.join_invite() in (running_chat.room_id, later.room_id)
    assert await counsellor.join_invite() in (running_chat.room_id, later.room_id)
    assert running_chat.room_id in counsellor.client.rooms
    assert counsellor.client.rooms[str(running_chat.room_id)].encrypted
    assert bot not in counsellor.members(str(running_chat.room_id))

    listing = await ask(colleague, colleague_room, bot, "topicchats")
    assert "Trennung jetzt" in listing.body and "Eltern später" in listing.body
    status, page = await _get(f"{web}/c/nord")
    assert status == 200
    assert "Trennung jetzt" in page and "Eltern später" in page
    assert f"/c/nord/topic/{later.id}" in page
    status, south = await _get(f"{web}/c/south")
    assert "Trennung jetzt" not in south  # centres never see each other's chats

    # Outside the window: a clear page and nobody let in.
    status, body = await _post(f"{web}/c/nord/topic/{later.id}/join")
    assert status == 403 and "noch nicht begonnen" in body
    assert await later.joined() == []
    status, shown = await _get(f"{web}/c/nord/topic/{later.id}")
    assert status == 200 and 'id="join"' not in shown and "noch nicht begonnen" in shown
    status, shown = await _get(f"{web}/c/nord/topic/{running_chat.id}")
    assert status == 200 and 'id="join"' in shown

    # Inside: the page makes a throwaway account, the steward invites it; an E2EE talk.
    anon = await _join_anonymously(running, running_chat.id, tmp_path / "anon")
    try:
        prefix = running.cfg.appservice.namespace_prefix
        assert anon.user_id.startswith(f"@{prefix}anon-")
        assert await anon.join_invite() == running_chat.room_id
        chat_room = str(running_chat.room_id)
        assert anon.client.rooms[chat_room].encrypted
        await anon.send(chat_room, "Hallo in die Runde.")
        await _text_from(counsellor, chat_room, anon.user_id, "Hallo in die Runde.")
        await counsellor.send(chat_room, "Willkommen!")
        await _text_from(anon, chat_room, counsellor.user_id, "Willkommen!")

        # Only its counsellor (or an admin) cancels; the colleague is refused.
        refused = await ask(colleague, colleague_room, bot, f"topicchat cancel {later.id}")
        assert "nichts geändert" in refused.body
        cancelled = await ask(counsellor, room, bot, f"topicchat cancel {later.id}")
        assert "abgesagt" in cancelled.body
        status, page = await _get(f"{web}/c/nord")
        assert "Eltern später" not in page

        # The window is over (the job's clock a minute after the end): room closed and gone.
        assert await chats.close_due(services, now=running_chat.ends_at + 60_000) >= 2
        for human in (anon, counsellor):  # everyone removed
            joined = await human.client.joined_rooms()
            assert isinstance(joined, JoinedRoomsResponse) and chat_room not in joined.rooms
        with pytest.raises(AdminApiError) as gone:
            await services.admin._request("GET", f"/_synapse/admin/v1/rooms/{quote(chat_room)}")
        assert gone.value.status == 404
        closed = await services.rows.TopicChat.get("nord", running_chat.id)
        assert closed is not None and closed.closed_at is not None and closed.participants == 1
        status, body = await _post(f"{web}/c/nord/topic/{running_chat.id}/join")
        assert status == 403 and "vorbei" in body

        # The deletion routine: not before the delay (24 h default), then the account is dead.
        assert closed.closed_at is not None
        await deletion_routine.run(services, now=closed.closed_at + DAY_MS - 60_000)
        info = await services.admin.get_user(anon.user_id)
        assert info is not None and not info.deactivated
        await deletion_routine.run(services, now=closed.closed_at + DAY_MS + 60_000)
        info = await services.admin.get_user(anon.user_id)
        assert info is not None and info.deactivated
        # Dead: its session is gone, and no new login token is handed out for it.
        assert await _whoami_status(running.cfg.homeserver.address, anon) == 401
        with pytest.raises(AdminApiError):
            await services.admin.login_token(anon.user_id)
        assert await services.rows.Person.get(anon.user_id) is None
        assert await closed.joined() == []
        counted = await services.rows.TopicChat.get("nord", running_chat.id)
        assert counted is not None and counted.participants == 1  # only the count stays
        listing = await ask(counsellor, room, bot, "topicchats")
        assert "Seit Jahresbeginn" in listing.body and "Teilnehmenden" in listing.body
    finally:
        await anon.close()


async def test_registration_offer_keeps_account_and_room(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """`livechat register` → the link → pseudonym and password → the same account logs in
    with the password, still in the room with its history, and is no longer erased."""
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    counsellor = await make_human("angebot", centre="nord", role="counsellor")
    outsider = await make_human("suedberatung", centre="south", role="counsellor")
    room = await _service_room(counsellor, bot)
    outsider_room = await _service_room(outsider, bot)
    now = now_ms()
    start = now - now % 60_000
    chat = await _announce(running, counsellor, room, "Angebot", start, start + 20 * 60_000)
    assert await counsellor.join_invite() == chat.room_id
    chat_room = str(chat.room_id)

    anon = await _join_anonymously(running, chat.id, tmp_path / "anon")
    later: Human | None = None
    try:
        assert await anon.join_invite() == chat_room
        await counsellor.send(chat_room, "Vor der Registrierung.")
        await _text_from(anon, chat_room, counsellor.user_id, "Vor der Registrierung.")
        person = await services.rows.Person.get(anon.user_id)
        assert person is not None

        for text in ("livechat register niemand", f"livechat register {counsellor.user_id}"):
            refused = await ask(counsellor, room, bot, text)
            assert "keine anonyme Person" in refused.body and "nichts geändert" in refused.body
        foreign = await ask(outsider, outsider_room, bot, f"livechat register {anon.user_id}")
        assert "not an anonymous person" in foreign.body  # other centres never find them
        cancel = await ask(outsider, outsider_room, bot, f"topicchat cancel {chat.id}")
        assert "no announced topic chat" in cancel.body and "Nothing was changed" in cancel.body
        still = await services.rows.TopicChat.get("nord", chat.id)
        assert still is not None and still.cancelled_at is None
        offered = await ask(counsellor, room, bot, f"livechat register {person.name}")
        link = re.search(r"(https?://\S+/keep/[A-Za-z0-9_-]{43})", offered.body)
        assert link is not None, offered.body
        # Pasted into the group room, another participant could open it first and take the
        # account: the counsellor is told to send it in a direct chat with this person only.
        assert "nie in den Raum des Themenchats" in offered.body, offered.body

        status, form = await _get(link.group(1))
        assert status == 200 and 'name="pseudonym"' in form
        status, again = await _post(
            link.group(1), {"pseudonym": "x", "password": "kurz", "password_repeat": "kurz"}
        )
        assert status == 400 and "zu kurz" in again and "mindestens 2 Zeichen" in again
        info = await services.admin.get_user(anon.user_id)
        assert info is not None and not info.deactivated
        password = "Neu-Start-2026!"
        status, done = await _post(
            link.group(1),
            {"pseudonym": "Morgenrot", "password": password, "password_repeat": password},
        )
        assert status == 200 and "registriert" in done, done
        status, used = await _post(
            link.group(1),
            {"pseudonym": "Abendrot", "password": password, "password_repeat": password},
        )
        assert status == 410 and "im Chat um einen neuen Link" in used  # one-time
        person = await services.rows.Person.get(anon.user_id)
        assert person is not None and person.name == "Morgenrot" and person.activated_at
        assert person.service_room_id
        already = await ask(counsellor, room, bot, f"livechat register {anon.user_id}")
        assert "schon registriert" in already.body

        # The same account, now with its password: still in the room, the history there.
        later = await Human.login(
            running.cfg.homeserver.address, anon.user_id, password, tmp_path / "later"
        )
        assert chat_room in later.client.rooms
        history = await later.client.room_messages(chat_room, start="", limit=50)
        assert isinstance(history, RoomMessagesResponse)
        assert any(e.sender == counsellor.user_id for e in history.chunk)
        # The session they chatted in stays logged in and reads what follows.
        await counsellor.send(chat_room, "Nach der Registrierung.")
        await _text_from(anon, chat_room, counsellor.user_id, "Nach der Registrierung.")
        # They got a service room like every client.
        await later.wait_until(
            lambda: person.service_room_id in later.invites, 30, "the service room invite"
        )

        # After the chat: the room closes as for everyone, but the account stays theirs.
        await chats.close_due(services, now=chat.ends_at + 60_000)
        await deletion_routine.run(services, now=chat.ends_at + 2 * DAY_MS)
        info = await services.admin.get_user(anon.user_id)
        assert info is not None and not info.deactivated
        assert await services.rows.Person.get(anon.user_id) is not None
    finally:
        await anon.close()
        if later is not None:
            await later.close()


async def test_closing_runs_twice_without_harm(running: LotseApp) -> None:
    """A closing interrupted after the room went (run again) still marks the chat closed."""
    services = running.assistant.services
    now = now_ms()
    chat = await services.rows.TopicChat.create(
        "west", "@nobody:lotse.test", "Ohne Raum", "", now - HOUR_MS, now - 60_000, now
    )
    await chat.set_room("!gone:lotse.test")
    await chats.close_due(services, now=now)
    closed = await services.rows.TopicChat.get("west", chat.id)
    assert closed is not None and closed.closed_at is not None
    assert timedelta(milliseconds=closed.closed_at - now) < timedelta(minutes=1)


async def test_live_chat_person_registers_and_keeps_the_chat(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """The offer in an anonymous live chat (centre "ost"): after registering, the same account
    logs in with its password, is still in the chat room with its history, and the deletion
    routine no longer erases it with the chat."""
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    base = running.cfg.homeserver.address
    counsellor = await make_human("livechatangebot", centre="ost", role="counsellor")
    room = await _service_room(counsellor, bot)
    assert "besetzen jetzt" in (await ask(counsellor, room, bot, "livechat on")).body
    anon: Human | None = None
    later: Human | None = None
    try:
        told_before = len(counsellor.notices(room, bot))
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{running.cfg.public_web_url}/c/ost/start", allow_redirects=False) as resp,
        ):
            assert resp.status == 303, await resp.text()
            token = re.search(r"loginToken=([^&]+)", resp.headers["Location"])
        assert token is not None
        anon = await token_human(base, token.group(1), tmp_path / "anon")
        told = await counsellor.next_notice(room, bot, told_before, contains="Livechat")
        number = int(re.search(r"Nr\. (\d+)", told.body).group(1))  # type: ignore[union-attr]
        chat_room = await anon.join_invite()
        assert await counsellor.join_invite() == chat_room
        assert "angenommen" in (await ask(counsellor, room, bot, f"annehmen {number}")).body
        await anon.send(chat_room, "Kann ich das Gespräch behalten?")
        await _text_from(counsellor, chat_room, anon.user_id, "Kann ich das Gespräch behalten?")

        person = await services.rows.Person.get(anon.user_id)
        assert person is not None
        offered = await ask(counsellor, room, bot, f"livechat register {person.name}")
        link = re.search(r"(https?://\S+/keep/[A-Za-z0-9_-]{43})", offered.body)
        assert link is not None, offered.body
        assert "in den Chat" in offered.body and "Themenchat" not in offered.body
        password = "Bleibe-Hier-7!"
        status, done = await _post(
            link.group(1),
            {"pseudonym": "Leuchtturm", "password": password, "password_repeat": password},
        )
        assert status == 200 and "registriert" in done, done
        assert await services.rows.LiveChat.get(anon.user_id) is None  # no longer a throwaway

        later = await Human.login(base, anon.user_id, password, tmp_path / "later")
        assert chat_room in later.client.rooms
        history = await later.client.room_messages(chat_room, start="", limit=50)
        assert isinstance(history, RoomMessagesResponse)
        assert any(e.sender == anon.user_id for e in history.chunk)
        await counsellor.send(chat_room, "Schön, dass Sie bleiben.")
        await _text_from(anon, chat_room, counsellor.user_id, "Schön, dass Sie bleiben.")
        await _text_from(later, chat_room, counsellor.user_id, "Schön, dass Sie bleiben.")

        await deletion_routine.run(services, now=now_ms() + 30 * DAY_MS)
        info = await services.admin.get_user(anon.user_id)
        assert info is not None and not info.deactivated
        kept = await services.rows.Person.get(anon.user_id)
        assert kept is not None and kept.name == "Leuchtturm" and kept.service_room_id
    finally:
        await _off_duty(running, counsellor)
        for human in (anon, later):
            if human is not None:
                await human.close()


async def test_topic_chat_in_the_browser(
    make_human: MakeHuman,
    running: LotseApp,
    browser_page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Headless Chromium, JavaScript off, centre "ost" (with a web client): the centre's page
    links the chat, its page has the join button only inside the window, and joining hands
    the person over to the web client with a login token that matrix-nio redeems."""
    bot = running.cfg.assistant_mxid
    web = running.cfg.public_web_url
    page = browser_page
    counsellor = await make_human("themenbrowser", centre="ost", role="counsellor")
    room = await _service_room(counsellor, bot)
    centre = running.cfg.centre("ost")
    assert centre is not None
    start = now_ms() - now_ms() % 60_000
    said = await ask(
        counsellor,
        room,
        bot,
        f"topicchat new Abendrunde {_moment_in(centre.zone, start)} "
        f"{_moment_in(centre.zone, start + HOUR_MS)} Kommen Sie vorbei",
    )
    number = int(re.search(r"Nr\. (\d+)", said.body).group(1))  # type: ignore[union-attr]
    chat = await running.db.rows.TopicChat.get("ost", number)
    assert chat is not None
    assert await counsellor.join_invite() == chat.room_id
    early = await ask(
        counsellor,
        room,
        bot,
        f"topicchat new Morgenrunde {_moment_in(centre.zone, start + DAY_MS)} "
        f"{_moment_in(centre.zone, start + DAY_MS + HOUR_MS)}",
    )
    early_number = int(re.search(r"Nr\. (\d+)", early.body).group(1))  # type: ignore[union-attr]

    await page.goto(f"{web}/c/ost")
    assert "Abendrunde" in await page.inner_text("#topic-chats")
    await page.click(f"#topic-chat-{early_number}")
    assert await page.query_selector("#join") is None
    assert "noch nicht begonnen" in await page.inner_text("#state")

    await page.goto(f"{web}/c/ost")
    await page.click(f"#topic-chat-{number}")
    assert "Kommen Sie vorbei" in await page.inner_text("#text")
    await page.click("#join")
    await page.wait_for_url(WEB_CLIENT + "**")
    token = parse_qs(urlsplit(page.arrived[-1]).query)["loginToken"][0]
    anon = await token_human(running.cfg.homeserver.address, token, tmp_path / "anon")
    try:
        assert await anon.join_invite() == chat.room_id
        assert anon.client.rooms[str(chat.room_id)].encrypted
    finally:
        await anon.close()
        await ask(counsellor, room, bot, f"topicchat cancel {number}")
        await ask(counsellor, room, bot, f"topicchat cancel {early_number}")
        await _off_duty(running, counsellor)


def _moment_in(zone: ZoneInfo, ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%d.%m.%Y %H:%M")


async def test_a_disruptive_participant_is_removed_and_locked(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """Counsellors have no power in the room: `topicchat block ID PERSON` has the steward
    remove the participant and locks the throwaway account; a colleague, another centre and a
    name that is no participant are refused and change nothing."""
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    counsellor = await make_human("moderation", centre="nord", role="counsellor")
    colleague = await make_human("kollegin", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    colleague_room = await _service_room(colleague, bot)
    now = now_ms()
    start = now - now % 60_000
    chat = await _announce(running, counsellor, room, "Ruhig", start, start + 20 * 60_000)
    assert await counsellor.join_invite() == chat.room_id
    chat_room = str(chat.room_id)
    anon = await _join_anonymously(running, chat.id, tmp_path / "anon")
    try:
        assert await anon.join_invite() == chat_room
        person = await services.rows.Person.get(anon.user_id)
        assert person is not None
        theirs = await ask(
            colleague, colleague_room, bot, f"topicchat block {chat.id} {person.name}"
        )
        assert "nichts geändert" in theirs.body
        nobody = await ask(counsellor, room, bot, f"topicchat block {chat.id} {colleague.user_id}")
        assert "keine Person im Themenchat" in nobody.body
        assert await _whoami_status(running.cfg.homeserver.address, anon) == 200

        blocked = await ask(counsellor, room, bot, f"topicchat block {chat.id} {person.name}")
        assert "entfernt" in blocked.body and "gesperrt" in blocked.body, blocked.body
        members = await services.counselling_rooms.members(RoomID(chat_room))
        assert anon.user_id not in members and counsellor.user_id in members
        assert await _whoami_status(running.cfg.homeserver.address, anon) == 401
    finally:
        await anon.close()
        await ask(counsellor, room, bot, f"topicchat cancel {chat.id}")
        await chats.close_due(services, now=chat.ends_at + 60_000)


async def test_a_join_after_a_cancel_in_the_same_moment_lets_nobody_in(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """The join page read the chat, then the chat was cancelled while the throwaway account
    was being made: that person is not let into the room (the chat is read again)."""
    bot = running.cfg.assistant_mxid
    services = running.assistant.services
    counsellor = await make_human("abgesagt", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    now = now_ms()
    start = now - now % 60_000
    chat = await _announce(running, counsellor, room, "Gleich", start, start + 20 * 60_000)
    seen_by_page = await services.rows.TopicChat.get("nord", chat.id)
    assert seen_by_page is not None
    assert "abgesagt" in (await ask(counsellor, room, bot, f"topicchat cancel {chat.id}")).body
    late = (await make_human("zuspaet", centre=None)).user_id
    try:
        assert await chats.admit(services, seen_by_page, late, now_ms()) is chats.Window.OVER
        assert late not in await services.counselling_rooms.members(RoomID(str(chat.room_id)))
        fresh = await services.rows.TopicChat.get("nord", chat.id)
        assert fresh is not None and fresh.participants == 0
    finally:
        await chats.close_due(services, now=chat.ends_at + 60_000)
