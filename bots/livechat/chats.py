"""Starting, ending and erasing anonymous live chats (docs/live-chat.md).

A start makes a throwaway account (bridge/anonymous_accounts.py), a request on the channel
``chat`` and its pool room: a steward-owned encrypted room with the person and every
counsellor staffing the live chat (`livechat on`) invited. Whoever `accept`s it first keeps it
and the others are removed, exactly as in the pool (bots/requests/requests.py::seat).
The chat ends with `livechat end NR` or `livechat block NR`; the deletion routine erases account,
room and rows ``erase_after_hours`` later (:func:`erase_due`); only the hourly counts stay.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from mautrix.errors import MatrixRequestError
from mautrix.types import RoomID, UserID

from appservice.admin_api import AdminApiError
from appservice.clock import now_ms
from appservice.config import CentreConfig, Config
from appservice.config_live_chat import LiveChatConfig
from appservice.db import CounsellingRequest, Person
from bots.framework.services import BotServices
from bots.requests.requests import account_of
from bridge.anonymous_accounts import create_anonymous_account, login_token

from .rules import Status, chat_status, next_opening

log = logging.getLogger("lotse.livechat")

HOUR_MS = 3_600_000
PURGE_WAIT_SECONDS = 60.0
PURGE_ATTEMPTS = 3
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Situation:
    """What the landing page shows: the status and, when not open, the next opening."""

    status: Status
    next_open: datetime | None


@dataclass(frozen=True)
class Started:
    user_id: str
    pseudonym: str
    request_id: int
    token: str
    valid_ms: int


async def staffing(services: BotServices, centre_id: str) -> list[Person]:
    """Counsellors staffing the centre's live chat whose accounts can be used."""
    people = []
    for user_id in await services.rows.LiveChatStaff.of_centre(centre_id):
        person = await services.rows.Person.get(user_id)
        if person is not None and person.centre_id == centre_id and account_of(person) == "active":
            people.append(person)
    return people


async def situation(services: BotServices, centre: CentreConfig, now_ms: int) -> Situation:
    live = centre.live_chat
    local = datetime.fromtimestamp(now_ms / 1000, centre.zone)
    hours = live.hours if live is not None else ()
    staff = len(await staffing(services, centre.id)) if live is not None else 0
    running = await services.rows.LiveChat.running(centre.id) if live is not None else 0
    status = chat_status(
        live is not None, hours, local, staff, running, live.capacity if live else 0
    )
    return Situation(status, next_opening(hours, local) if status != "open" else None)


async def start(
    services: BotServices, cfg: Config, centre: CentreConfig, live: LiveChatConfig, now_ms: int
) -> Started:
    """Account, request, room and login token of a new chat. On failure after the account
    exists, the chat is ended at once, so the deletion routine erases what was made."""
    rows = services.rows
    person = await create_anonymous_account(
        services.admin, rows, cfg.appservice.namespace_prefix, centre.id, centre.language
    )
    await rows.LiveChat.begin(person.user_id, centre.id, now_ms)
    try:
        request = await rows.CounsellingRequest.create(centre.id, person.user_id, channel="chat")
        assert request is not None  # a new account has no open request
        staff = await staffing(services, centre.id)
        rooms = services.counselling_rooms
        room_id = await rooms.create(
            rooms.name_for(person, request.id), [UserID(person.user_id)], person, request.id
        )
        await rooms.invite_all(room_id, [UserID(p.user_id) for p in staff])
        await rows.CounsellingRequest.set_pool_room(request.id, room_id)
        await rows.LiveChat.set_room(person.user_id, request.id, room_id)
        token, valid_ms = await login_token(services.admin, person.user_id)
    except Exception:
        await rows.LiveChat.end(person.user_id, now_ms)
        raise
    for counsellor in staff:
        await services.tell(
            counsellor,
            "livechat_new",
            cause=f"livechat-{request.id}",
            id=request.id,
            client=person.name,
        )
    log.info("live chat %d started in %s; %d invited", request.id, centre.id, len(staff))
    return Started(person.user_id, person.name, request.id, token, valid_ms)


async def end(
    services: BotServices, centre_id: str, request: CounsellingRequest, by: str, block: bool
) -> bool:
    """End the chat of ``request``: request closed, the person removed from the room (and with
    ``block`` their account locked at once). False if it was ended before (block still taken)."""
    rows = services.rows
    chat = await rows.LiveChat.by_request(centre_id, request.id)
    if chat is None:
        return False
    now = _now()
    ended = await rows.LiveChat.end(chat.user_id, now, blocked=block)
    if not await rows.CounsellingRequest.close(request.id, centre_id, by, True):
        await rows.CounsellingRequest.withdraw(chat.user_id)  # nobody had accepted it yet
    if chat.room_id and ended:
        try:
            await services.counselling_rooms.remove(
                RoomID(chat.room_id), UserID(chat.user_id), reason="live chat ended"
            )
        except MatrixRequestError:
            pass  # already left
    if block:
        try:
            await services.admin.lock(chat.user_id)
        except AdminApiError as e:
            log.warning("live chat %d: account not locked (%s)", request.id, e.errcode)
    log.info("live chat %d ended%s", request.id, " and blocked" if block else "")
    return ended


async def erase_due(services: BotServices, cfg: Config, now_ms: int) -> int:
    """Erase every chat whose delay is over (called by the deletion routine); how many."""
    delays = {c.id: c.live_chat.erase_after_hours * HOUR_MS for c in cfg.centres if c.live_chat}
    erased = 0
    for chat in await services.rows.LiveChat.due(now_ms, delays, 24 * HOUR_MS):
        try:
            await erase_throwaway(services, chat.user_id, await chat.rooms())
            await chat.forget()
            erased += 1
        except Exception:
            log.exception("erasing live chat of %s failed; next run tries again", chat.user_id)
    return erased


async def erase_throwaway(services: BotServices, user_id: str, rooms: list[str]) -> None:
    """On Synapse: the rooms purged (every event of the chat), the account deactivated with
    erase (login and any login token refused from then on), its media deleted."""
    admin = services.admin
    for room_id in rooms:
        await purge_room(services, room_id)
    info = await admin.get_user(user_id)
    if info is not None and not info.deactivated:
        await admin.delete_user_media(user_id)
        await admin.deactivate(user_id, erase=True)


async def purge_room(services: BotServices, room_id: str) -> None:
    """Shut the room down and purge it; a failed purge is tried again (Synapse's purge fails
    now and then while its own background updates touch the room: seen in the tests)."""
    admin = services.admin
    loop = asyncio.get_running_loop()
    error: str | None = None
    for _ in range(PURGE_ATTEMPTS):
        try:
            delete_id = await admin.delete_room(room_id, purge=True)
        except AdminApiError as e:
            if e.status == 404:
                return  # purged before
            raise
        deadline = loop.time() + PURGE_WAIT_SECONDS
        while not (status := await admin.room_delete_status(delete_id)).done:
            if loop.time() > deadline:
                raise RuntimeError(f"purge of {room_id} still running")
            await asyncio.sleep(POLL_SECONDS)
        if status.status != "failed":
            return
        error = status.error
        log.info("purge of %s failed (%s); trying again", room_id, error)
    raise RuntimeError(f"purge of {room_id} failed {PURGE_ATTEMPTS} times: {error}")


def _now() -> int:
    return now_ms()
