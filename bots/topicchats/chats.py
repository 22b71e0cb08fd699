"""Topic chats: counsellors announce, list and cancel them; people join inside the window;
a job closes and erases each when it is over.

The chat's room is a group room (encrypted, run by the device-less steward) made at the
announcement, so the counsellor waits in it. Anonymous people (throwaway accounts) are
invited only inside the window; once it is over the room is closed (everyone removed), then
deleted and purged on Synapse; the deletion routine erases its anonymous participants the
centre's ``live_chat.erase_after_hours`` later, as it erases live chats (those who registered
meanwhile stay, as clients). Only the number of participants stays (``TopicChat.participants``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from mautrix.errors import MatrixError
from mautrix.types import RoomID, UserID

from appservice.admin_api import AdminApiError
from appservice.clock import now_ms
from appservice.config_live_chat import LiveChatConfig
from appservice.db import Person, Rows, TopicChat
from appservice.scheduler import Scheduler
from bots.booking.slots import local_date, wall_clock
from bots.framework.commands import STAFF, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.names import Names
from bots.framework.services import BotServices, services_of
from bots.livechat.chats import erase_throwaway as erase_on_synapse
from bots.livechat.chats import purge_room
from bridge.anonymous_accounts import is_anonymous
from bridge.group_rooms import GroupRooms

from . import rules
from .rules import Announcement, Problem, Window

registry = CommandRegistry()

log = logging.getLogger("lotse.topicchats")

# Every minute: a chat's room closes within a minute of its end.
SCHEDULE = "* * * * *"
HOUR_MS = 60 * 60 * 1000
MINUTE_MS = 60 * 1000

_ID = Argument("id", label={"de": "NR", "en": "ID"})


@dataclass(frozen=True)
class Upcoming:
    """A topic chat as the centre's page shows it (no people, no room)."""

    id: int
    title: str
    text: str
    starts_at: int
    ends_at: int
    open_now: bool


async def upcoming(rows: Rows, cfg_early_minutes: int, centre_id: str, now: int) -> list[Upcoming]:
    """The centre's announced topic chats that are not over, soonest first (the landing page)."""
    early = cfg_early_minutes * MINUTE_MS
    return [
        Upcoming(
            c.id,
            c.title,
            c.description,
            c.starts_at,
            c.ends_at,
            rules.window(c.starts_at, c.ends_at, now, early) is Window.OPEN,
        )
        for c in await rows.TopicChat.coming(centre_id, now)
    ]


def _tz(ctx: CommandContext) -> ZoneInfo:
    centre = services_of(ctx).directory.cfg.centre(ctx.centre_id)
    assert centre is not None
    return centre.zone


def _span(ctx: CommandContext, chat: TopicChat) -> dict[str, object]:
    tz = _tz(ctx)
    start, end = wall_clock(chat.starts_at, tz), wall_clock(chat.ends_at, tz)
    return {"start": start, "end": end, "same_day": start["day"] == end["day"]}


def _page_link(services: BotServices, centre_id: str) -> str:
    return f"{services.directory.cfg.public_web_url.rstrip('/')}/c/{centre_id}"


@registry.command(
    "topicchat new",
    aliases=("themenchat neu",),
    roles=STAFF,
    section="groups",
    args=(
        Argument("title", label={"de": "TITEL", "en": "TITLE"}),
        Argument("when", rest=True, label={"de": "VON BIS [TEXT]", "en": "FROM TO [TEXT]"}),
    ),
    help={
        "de": 'Kündigt einen anonymen Themenchat an, z. B. `topicchat new "Trennung und Kinder" '
        "8.12.2026 18:00 19:30 Wir sprechen über …` (Titel mit Leerzeichen in Anführungszeichen)",
        "en": 'Announces an anonymous topic chat, e.g. `topicchat new "Separation and children" '
        "2026-12-08 18:00 19:30 We talk about …` (a title with spaces in double quotes)",
    },
)
async def topicchat_new(ctx: CommandContext, title: str, when: str) -> str:
    services = services_of(ctx)
    cfg = services.directory.cfg.topic_chats
    now = now_ms()
    tz = _tz(ctx)
    found = rules.parse_announcement(title, when.split(), local_date(now, tz), tz)
    if isinstance(found, Problem):
        return ctx.render("topicchat_problem", problems=[str(found)], max_hours=cfg.max_hours)
    problems = rules.check_announcement(found, now, cfg.max_hours * HOUR_MS)
    if problems:
        return ctx.render(
            "topicchat_problem", problems=[str(p) for p in problems], max_hours=cfg.max_hours
        )
    chat = await _announce(services, ctx.centre_id, ctx.user_id, found, now)
    if chat is None:
        return ctx.render("topicchat_room_failed")
    return ctx.render(
        "topicchat_created",
        id=chat.id,
        title=chat.title,
        page=_page_link(services, ctx.centre_id),
        **_span(ctx, chat),
    )


async def _announce(
    services: BotServices, centre_id: str, counsellor: str, found: Announcement, now: int
) -> TopicChat | None:
    chat = await services.rows.TopicChat.create(
        centre_id, counsellor, found.title, found.text, found.starts_at, found.ends_at, now
    )
    try:
        room_id = await GroupRooms(services.counselling_rooms).create(
            found.title, found.text, UserID(counsellor), centre_id
        )
    except MatrixError as e:
        log.warning("room of topic chat %d not created: %s", chat.id, type(e).__name__)
        await chat.cancel(now)
        return None
    await chat.set_room(room_id)
    return chat


@registry.command(
    "topicchats",
    aliases=("themenchats", "topicchat list", "themenchat liste"),
    roles=STAFF,
    section="groups",
    help={
        "de": "Zeigt die angekündigten Themenchats Ihrer Beratungsstelle",
        "en": "Lists your centre's announced topic chats",
    },
)
async def topicchat_list(ctx: CommandContext) -> str:
    services = services_of(ctx)
    names = Names(ctx)
    chats = []
    for chat in await services.rows.TopicChat.coming(ctx.centre_id, now_ms()):
        chats.append(
            {
                "id": chat.id,
                "title": chat.title,
                "counsellor": await names.of(chat.counsellor),
                "participants": chat.participants,
                **_span(ctx, chat),
            }
        )
    # What stays of past chats: how many were held this year and how many people came.
    now = now_ms()
    year = datetime.fromtimestamp(now / 1000, _tz(ctx)).replace(
        month=1, day=1, hour=0, minute=0, second=0, microsecond=0
    )
    held, came = await services.rows.TopicChat.counted(
        ctx.centre_id, int(year.timestamp() * 1000), now
    )
    return ctx.render(
        "topicchat_list",
        chats=chats,
        page=_page_link(services, ctx.centre_id),
        year=year.year,
        held=held,
        came=came,
    )


async def _own_chat(ctx: CommandContext, id: str) -> TopicChat | str:
    """The centre's chat ``id`` that is not over, if it is the speaker's (or they are an
    admin); otherwise the refusal to answer."""
    chat = (
        await services_of(ctx).rows.TopicChat.get(ctx.centre_id, int(id))
        if id.isascii() and id.isdigit() and len(id) < 12
        else None
    )
    if chat is None or not rules.cancellable(chat.cancelled_at, chat.closed_at):
        return ctx.render("topicchat_not_found", given=id)
    if ctx.role is not Role.ADMIN and chat.counsellor != ctx.user_id:
        return ctx.render("topicchat_not_yours", title=chat.title)
    return chat


@registry.command(
    "topicchat cancel",
    aliases=("themenchat absagen",),
    roles=STAFF,
    section="groups",
    args=(_ID,),
    help={
        "de": "Sagt einen Themenchat ab (oder beendet ihn vorzeitig); der Raum wird geschlossen",
        "en": "Cancels a topic chat (or ends it early); its room is closed",
    },
)
async def topicchat_cancel(ctx: CommandContext, id: str) -> str:
    chat = await _own_chat(ctx, id)
    if isinstance(chat, str):
        return chat
    if not await chat.cancel(now_ms()):
        return ctx.render("topicchat_not_found", given=id)
    # The room closes at the job's next minute, as when a chat ends (no Synapse call here).
    return ctx.render("topicchat_cancelled", id=chat.id, title=chat.title)


@registry.command(
    "topicchat block",
    aliases=("themenchat sperren",),
    roles=STAFF,
    section="groups",
    args=(_ID, Argument("person", rest=True, label={"de": "PERSON", "en": "PERSON"})),
    help={
        "de": "Entfernt eine anonyme Person aus einem Themenchat und sperrt ihr Konto",
        "en": "Removes an anonymous person from a topic chat and locks their account",
    },
)
async def topicchat_block(ctx: CommandContext, id: str, person: str) -> str:
    """Counsellors have no power in the room (only the steward removes people): without this
    a participant who disrupts a topic chat could only be stopped by cancelling it."""
    services = services_of(ctx)
    rows = services.rows
    chat = await _own_chat(ctx, id)
    if isinstance(chat, str):
        return chat
    found = await rows.Person.find_in_centre(ctx.centre_id, person, roles=("client",))
    if found is None or found.user_id not in await chat.joined() or not chat.room_id:
        return ctx.render("topicchat_no_participant", given=person, title=chat.title)
    try:
        await GroupRooms(services.counselling_rooms).remove(
            RoomID(chat.room_id), UserID(found.user_id)
        )
    except MatrixError as e:
        log.info("topic chat %d: removing a participant: %s", chat.id, type(e).__name__)
    if is_throwaway(services, found, found.user_id):
        try:
            await services.admin.lock(found.user_id)
        except AdminApiError as e:
            log.warning("topic chat %d: account not locked (%s)", chat.id, e.errcode)
    await services.audit(ctx.centre_id, ctx.user_id, "topicchat_block", "", f"topic chat {chat.id}")
    return ctx.render("topicchat_blocked", name=found.name, title=chat.title)


# --- joining -------------------------------------------------------------------------------


async def admit(services: BotServices, chat: TopicChat, user_id: str, now: int) -> Window:
    """Let someone into the chat's room if its window is open now (they are invited by the
    steward and counted once); otherwise say why not (``early`` or ``over``)."""
    early = services.directory.cfg.topic_chats.join_early_minutes * MINUTE_MS
    # Read again: the page read the chat before the throwaway account was made, and it may
    # have been cancelled or closed meanwhile.
    fresh = await services.rows.TopicChat.get(chat.centre_id, chat.id)
    if fresh is None:
        return Window.OVER
    chat = fresh
    state = rules.window(chat.starts_at, chat.ends_at, now, early)
    if not rules.cancellable(chat.cancelled_at, chat.closed_at) or not chat.room_id:
        return Window.OVER
    if state is not Window.OPEN:
        return state
    if await chat.join(user_id, now):
        await GroupRooms(services.counselling_rooms).invite(RoomID(chat.room_id), UserID(user_id))
    return Window.OPEN


# --- closing -------------------------------------------------------------------------------


def schedule(scheduler: Scheduler, services: BotServices) -> None:
    """Register the closing job with the app's scheduler (``run_now("topic_chats")``)."""

    async def job() -> None:
        await close_due(services)

    scheduler.every("topic_chats", job, cron=SCHEDULE)


async def close_due(services: BotServices, now: int | None = None) -> int:
    """Close every chat that is over or cancelled; returns how many were closed."""
    now = now if now is not None else now_ms()
    closed = 0
    for chat in await services.rows.TopicChat.due_to_close(now):
        try:
            await close(services, chat, now)
        except Exception:
            log.exception("topic chat %d not closed; the next run tries again", chat.id)
            continue
        closed += 1
    return closed


async def close(services: BotServices, chat: TopicChat, now: int) -> None:
    """Everyone out and the room purged on Synapse; who came is erased later (``erase_due``)."""
    if chat.room_id:
        room = RoomID(chat.room_id)
        try:
            await GroupRooms(services.counselling_rooms).close(room, reason="topic chat over")
        except MatrixError as e:
            # Left already (an earlier run stopped half-way): the purge below still runs.
            log.info("topic chat %d: closing the room: %s", chat.id, type(e).__name__)
        # Deleted and purged on Synapse, tried again where Synapse's purge fails (the live
        # chat's way); a failure leaves the chat open, and the next minute tries again.
        await purge_room(services, room)
    await chat.mark_closed(now)
    log.info("topic chat %d closed (%d participants)", chat.id, chat.participants)


def is_throwaway(services: BotServices, person: Person | None, user_id: str) -> bool:
    """A throwaway account that has not registered (registering sets ``activated_at``)."""
    prefix = services.directory.cfg.appservice.namespace_prefix
    if not is_anonymous(user_id, prefix):
        return False
    return person is None or person.activated_at is None


async def erase_due(services: BotServices, now: int) -> int:
    """For the deletion routine: erase the anonymous participants of chats closed more than the
    centre's ``live_chat.erase_after_hours`` ago, as the live chat erases its own (account
    deactivated with erase, media deleted, every row scrubbed); returns how many."""
    rows = services.rows
    erased = 0
    for centre in services.directory.cfg.centres:
        delay = (centre.live_chat or LiveChatConfig()).erase_after_hours * HOUR_MS
        for user_id in await rows.TopicChat.participants_closed(centre.id, now - delay):
            person = await rows.Person.get(user_id)
            if not is_throwaway(services, person, user_id):
                await rows.TopicChat.let_go(user_id)
                continue
            try:
                # As the live chat erases its own: rooms purged, account deactivated with erase.
                await erase_on_synapse(services, user_id, await rows.TopicChat.rooms_of(user_id))
                await rows.TopicChat.forget(user_id)
            except Exception:
                log.exception("erasing topic-chat participant %s failed; next run", user_id)
                continue
            erased += 1
    return erased


async def discard(services: BotServices, user_id: str) -> None:
    """A throwaway account made for a join that failed half-way: erased at once (best effort;
    one already counted as a participant is also erased with the chat's participants)."""
    try:
        await erase_on_synapse(services, user_id, [])
        await services.rows.TopicChat.forget(user_id)
    except Exception as e:
        log.warning("throwaway %s not discarded (%s)", user_id, type(e).__name__)
