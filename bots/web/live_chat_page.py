"""A centre's public page ``/c/CENTRE``: is the anonymous live chat open, upcoming topic chats,
and the start button (``POST /c/CENTRE/start``). German or English (``?lang=en``), no
JavaScript, the invitation page's layout and security headers.

The start makes a throwaway account and its chat (bots/livechat/chats.py) and hands the person
over with a one-time login token: to the centre's web client (``live_chat.web_client``) by a
redirect to ``BASE/?loginToken=…&homeserver=…``, or, without one, on a page that shows the
homeserver and the token as a one-time code for any Matrix client (docs/live-chat.md).

Abuse limits: ``starts_per_minute`` per centre in memory (no IP address is stored or logged;
the limit is for everyone together) and ``accounts_per_hour`` per clock hour in the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web

from appservice.admin_api import AdminApiError
from appservice.clock import now_ms
from appservice.config import CentreConfig, Config
from appservice.web_pages import SECURITY_HEADERS, WebPages
from bots.framework.rate_limit import SlidingWindow
from bots.framework.services import BotServices, PageParts
from bots.livechat import chats

log = logging.getLogger("lotse.live_chat_page")

WEEKDAY_NAMES = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}

# Upcoming topic chats of a centre for the page: dicts with title, text, starts, ends (shown as
# given). The topic chats (another part) plug theirs in; until then the list is empty.
TopicChats = Callable[[str, str], Awaitable[list[dict[str, str]]]]


async def no_topic_chats(centre_id: str, lang: str) -> list[dict[str, str]]:
    return []


def web_client_url(base: str, token: str, homeserver: str) -> str:
    """Where the person is sent: the web client's base with the token on the real query string
    (Element Web reads ``loginToken`` there; ``homeserver`` for clients that read it there)."""
    query = urlencode({"loginToken": token, "homeserver": homeserver})
    return f"{base.rstrip('/')}/?{query}"


def form_action_for(web_client: str) -> str:
    """The pages' Content-Security-Policy with the web client's origin added to form-action."""
    parts = urlsplit(web_client)
    origin = f"{parts.scheme}://{parts.netloc}"
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    return policy.replace("form-action 'self'", f"form-action 'self' {origin}")


class LiveChatPage:
    def __init__(
        self, parts: PageParts, pages: WebPages, topic_chats: TopicChats = no_topic_chats
    ) -> None:
        self.parts = parts
        self.cfg: Config = parts.cfg
        self.pages = pages
        self.topic_chats = topic_chats
        self.starts = {
            c.id: SlidingWindow(c.live_chat.starts_per_minute, 60)
            for c in self.cfg.centres
            if c.live_chat is not None
        }
        self.starting = {c.id: asyncio.Lock() for c in self.cfg.centres}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/c/{centre}", self.show)
        app.router.add_post("/c/{centre}/start", self.start)

    def _lang(self, request: web.Request, centre: CentreConfig | None) -> str:
        asked = request.query.get("lang", "")
        if asked in ("de", "en"):
            return asked
        return centre.language if centre is not None else self.cfg.centres[0].language

    def _page(
        self, lang: str, centre: CentreConfig, name: str, status: int = 200, **kw: Any
    ) -> web.Response:
        return self.pages.response(
            lang, name, status=status, centre_name=centre.name, centre_id=centre.id, **kw
        )

    def _when(self, moment: datetime | None, lang: str) -> str:
        if moment is None:
            return ""
        weekday = WEEKDAY_NAMES.get(lang, WEEKDAY_NAMES["de"])[moment.weekday()]
        shown = moment.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")
        return f"{weekday} {shown}".strip()

    async def _services(self) -> BotServices | None:
        return self.parts.services

    async def show(self, request: web.Request) -> web.Response:
        centre = self.cfg.centre(request.match_info["centre"])
        lang = self._lang(request, centre)
        if centre is None:
            return self.pages.response(lang, "live_chat_unknown", status=404, centre_name=None)
        services = await self._services()
        if services is None:
            return self._page(lang, centre, "live_chat_refused", 503, reason="unavailable")
        seen = await chats.situation(services, centre, now_ms())
        response = self._page(
            lang,
            centre,
            "live_chat",
            status_=seen.status,
            next_open=self._when(seen.next_open, lang),
            topic_chats=await self.topic_chats(centre.id, lang),
        )
        if centre.live_chat is not None and centre.live_chat.web_client:
            # Browsers hold a form's redirect to the policy's form-action too: the start
            # button's answer leads to the web client, so its origin is allowed here.
            response.headers["Content-Security-Policy"] = form_action_for(
                centre.live_chat.web_client
            )
        return response

    async def start(self, request: web.Request) -> web.StreamResponse:
        centre = self.cfg.centre(request.match_info["centre"])
        lang = self._lang(request, centre)
        if centre is None:
            return self.pages.response(lang, "live_chat_unknown", status=404, centre_name=None)
        services = await self._services()
        live = centre.live_chat
        if services is None or live is None:
            reason = "unavailable" if live is not None else "none"
            return self._page(lang, centre, "live_chat_refused", 503, reason=reason)
        # One start at a time per centre: two presses at once must not both take the last
        # place (the check and the new chat's row are one step; Lotse is one process).
        async with self.starting[centre.id]:
            now = now_ms()
            seen = await chats.situation(services, centre, now)
            if seen.status != "open":
                return self._page(
                    lang,
                    centre,
                    "live_chat_refused",
                    409,
                    reason=seen.status,
                    next_open=self._when(seen.next_open, lang),
                )
            limit = self.starts[centre.id]
            if not limit.take():
                log.info("live chat %s: the starts per minute are used up", centre.id)
                response = self._page(
                    lang, centre, "live_chat_refused", 429, reason="rate", next_open=""
                )
                response.headers["Retry-After"] = str(limit.retry_after())
                return response
            if not await services.rows.LiveChatCount.take(centre.id, now, live.accounts_per_hour):
                log.info("live chat %s: the hourly cap of accounts is reached", centre.id)
                return self._page(
                    lang, centre, "live_chat_refused", 429, reason="hourly", next_open=""
                )
            try:
                started = await chats.start(services, self.cfg, centre, live, now)
            except (AdminApiError, aiohttp.ClientError) as e:
                log.warning("live chat %s not started (%s)", centre.id, type(e).__name__)
                return self._page(
                    lang, centre, "live_chat_refused", 503, reason="unavailable", next_open=""
                )
        if live.web_client:
            location = web_client_url(
                live.web_client, started.token, self.cfg.public_homeserver_url
            )
            raise web.HTTPSeeOther(location, headers=SECURITY_HEADERS)
        return self._page(
            lang,
            centre,
            "live_chat_code",
            homeserver=self.cfg.public_homeserver_url,
            code=started.token,
            minutes=max(1, started.valid_ms // 60000),
            pseudonym=started.pseudonym,
        )
