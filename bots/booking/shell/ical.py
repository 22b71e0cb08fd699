"""A counsellor's calendar as an iCalendar feed behind a secret, revocable URL.

``ical`` shows the counsellor's URL (making one the first time), ``ical new`` replaces it:
the old URL answers 404 from that moment. The feed itself is built by the pure
``bots.booking.feed`` (titles and channels, never a client's name).
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from appservice.clock import now_ms
from appservice.config import Config
from appservice.db import Appointment, Rows
from bots.framework.commands import STAFF, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import centre_settings, rows_of, services_of

from ..feed import calendar_feed
from ..model import DAY_MS
from .store import core_appointment, core_group

PATH = "calendar"
# Past appointments stay this long in the feed, so a calendar keeps the recent weeks.
KEEP_PAST_MS = 60 * DAY_MS


def _url(ctx: CommandContext, token: str) -> str:
    base = services_of(ctx).directory.cfg.public_web_url.rstrip("/")
    return f"{base}/{PATH}/{token}.ics"


registry = CommandRegistry()


@registry.command(
    "ical",
    roles=STAFF,
    section="booking",
    private=True,
    help={
        "de": "Zeigt die geheime Adresse Ihres Kalenders zum Abonnieren (iCalendar)",
        "en": "Shows the secret address of your calendar to subscribe to (iCalendar)",
    },
)
async def ical_show(ctx: CommandContext) -> str:
    token = await rows_of(ctx).CalendarFeed.token_of(ctx.user_id)
    fresh = token is None
    if token is None:
        token = secrets.token_urlsafe(32)
        await rows_of(ctx).CalendarFeed.replace(ctx.user_id, token, now_ms())
    return ctx.render("ical_link", url=_url(ctx, token), replaced=False, fresh=fresh)


@registry.command(
    "ical new",
    roles=STAFF,
    section="booking",
    private=True,
    help={
        "de": "Ersetzt die Kalender-Adresse; die alte funktioniert ab sofort nicht mehr",
        "en": "Replaces the calendar address; the old one stops working at once",
    },
)
async def ical_new(ctx: CommandContext) -> str:
    token = secrets.token_urlsafe(32)
    await rows_of(ctx).CalendarFeed.replace(ctx.user_id, token, now_ms())
    return ctx.render("ical_link", url=_url(ctx, token), replaced=True, fresh=True)


def add_calendar_routes(app: web.Application, cfg: Config, tables: Rows) -> None:
    """``GET /calendar/{token}.ics`` on the web listener (before it starts), read from
    ``tables`` (the app's database)."""
    domain = cfg.homeserver.domain

    async def feed(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        counsellor = await tables.CalendarFeed.counsellor_of(token) if len(token) < 100 else None
        if counsellor is None:
            raise web.HTTPNotFound()
        now = now_ms()
        rows = [
            a
            for a in await tables.Appointment.of_person(counsellor, now - KEEP_PAST_MS)
            if a.counsellor == counsellor
        ]
        person = await tables.Person.get(counsellor)
        groups = [
            core_group(g, await tables.GroupAppointmentRow.participants(g.id))
            for g in (
                await tables.GroupAppointmentRow.of_centre(person.centre_id, now - KEEP_PAST_MS)
                if person is not None
                else []
            )
            if g.counsellor == counsellor
        ]
        body = calendar_feed(
            counsellor,
            [core_appointment(a) for a in rows],
            groups,
            now=now,
            domain=domain,
            pseudonyms=await _pseudonyms(cfg, tables, counsellor, rows),
        )
        headers: dict[str, Any] = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        return web.Response(
            body=body, content_type="text/calendar", charset="utf-8", headers=headers
        )

    app.router.add_get(f"/{PATH}/{{token}}.ics", feed)


async def _pseudonyms(
    cfg: Config, tables: Rows, counsellor: str, rows: list[Appointment]
) -> dict[str, str] | None:
    """Client id → pseudonym, only where the counsellor's centre shows initials in the feed."""
    person = await tables.Person.get(counsellor)
    if person is None or not (await centre_settings(cfg, tables, person.centre_id)).ical_initials:
        return None
    found: dict[str, str] = {}
    for client in {a.client for a in rows if a.client}:
        who = await tables.Person.get(client)
        if who is not None and who.centre_id == person.centre_id:
            found[client] = who.name  # the pseudonym, else the Matrix id as shown elsewhere
    return found
