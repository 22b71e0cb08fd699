"""A topic chat's public page ``/c/CENTRE/topic/ID`` and its join button.

The centre's page (bots/web/live_chat_page.py) lists the upcoming topic chats through
:meth:`TopicChatPage.listing` and links each here. Joining (``POST …/join``) works only inside
the chat's window (from ``topic_chats.join_early_minutes`` before the start until its end);
outside it the page says when it opens or that it is over, and nothing is made. Inside, it is
the live chat's start: a throwaway account (bridge/anonymous_accounts.py) under the same limits
(the centre's ``live_chat`` starts per minute in memory, no IP addresses; the hourly cap of
throwaway accounts in the database), invited to the chat's room by the steward and handed over
by a one-time login token to the centre's web client, or shown as a code.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from mautrix.errors import MatrixError

from appservice.admin_api import AdminApiError
from appservice.clock import now_ms
from appservice.config import CentreConfig, Config
from appservice.config_live_chat import LiveChatConfig
from appservice.web_pages import SECURITY_HEADERS, WebPages
from bots.framework.rate_limit import SlidingWindow
from bots.framework.services import BotServices, PageParts
from bots.topicchats import chats
from bots.topicchats.rules import Window, window
from bots.web.live_chat_page import form_action_for, web_client_url
from bridge.anonymous_accounts import create_anonymous_account, login_token

log = logging.getLogger("lotse.topic_chat_page")


class TopicChatPage:
    def __init__(self, parts: PageParts, pages: WebPages) -> None:
        self.parts = parts
        self.cfg: Config = parts.cfg
        self.pages = pages
        self.starts = {
            c.id: SlidingWindow(self._live(c).starts_per_minute, 60) for c in self.cfg.centres
        }

    @staticmethod
    def _live(centre: CentreConfig) -> LiveChatConfig:
        """The centre's live-chat settings, or their defaults where it has no live chat."""
        return centre.live_chat or LiveChatConfig()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/c/{centre}/topic/{id}", self.show)
        app.router.add_post("/c/{centre}/topic/{id}/join", self.join)

    def _lang(self, request: web.Request, centre: CentreConfig | None) -> str:
        asked = request.query.get("lang", "")
        if asked in ("de", "en"):
            return asked
        return centre.language if centre is not None else self.cfg.centres[0].language

    def _time(self, centre: CentreConfig, ms: int, lang: str) -> str:
        at = datetime.fromtimestamp(ms / 1000, centre.zone)
        return at.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")

    def _page(
        self, lang: str, centre: CentreConfig, name: str, status: int = 200, **kw: Any
    ) -> web.Response:
        return self.pages.response(
            lang, name, status=status, centre_name=centre.name, centre_id=centre.id, **kw
        )

    async def listing(self, centre_id: str, lang: str) -> list[dict[str, str]]:
        """The centre page's list of upcoming topic chats (title, text, times, link)."""
        services = self.parts.services
        centre = self.cfg.centre(centre_id)
        if services is None or centre is None:
            return []
        early = self.cfg.topic_chats.join_early_minutes
        return [
            {
                "id": str(c.id),
                "title": c.title,
                "text": c.text,
                "starts": self._time(centre, c.starts_at, lang),
                "ends": self._time(centre, c.ends_at, lang),
                "open": "yes" if c.open_now else "",
                "link": f"/c/{centre_id}/topic/{c.id}?lang={lang}",
            }
            for c in await chats.upcoming(services.rows, early, centre_id, now_ms())
        ]

    async def _find(
        self, request: web.Request
    ) -> tuple[BotServices, CentreConfig, str, Any] | web.Response:
        centre = self.cfg.centre(request.match_info["centre"])
        lang = self._lang(request, centre)
        if centre is None:
            return self.pages.response(lang, "live_chat_unknown", status=404, centre_name=None)
        services = self.parts.services
        if services is None:
            return self._page(lang, centre, "live_chat_refused", 503, reason="unavailable")
        given = request.match_info["id"]
        chat = (
            await services.rows.TopicChat.get(centre.id, int(given))
            if given.isascii() and given.isdigit() and len(given) < 12
            else None
        )
        if chat is None or chat.cancelled_at is not None:
            return self._page(lang, centre, "topic_chat_refused", 404, reason="unknown")
        return services, centre, lang, chat

    def _state(self, chat: Any, now: int) -> Window:
        if chat.closed_at is not None or chat.cancelled_at is not None:
            return Window.OVER
        early = self.cfg.topic_chats.join_early_minutes * 60_000
        return window(chat.starts_at, chat.ends_at, now, early)

    async def show(self, request: web.Request) -> web.Response:
        found = await self._find(request)
        if isinstance(found, web.Response):
            return found
        _, centre, lang, chat = found
        early = self.cfg.topic_chats.join_early_minutes * 60_000
        response = self._page(
            lang,
            centre,
            "topic_chat",
            state=str(self._state(chat, now_ms())),
            id=chat.id,
            title=chat.title,
            text=chat.description,
            starts=self._time(centre, chat.starts_at, lang),
            ends=self._time(centre, chat.ends_at, lang),
            opens=self._time(centre, chat.starts_at - early, lang),
        )
        web_client = self._live(centre).web_client
        if web_client:
            # The join button's answer redirects to the web client (as on the centre's page).
            response.headers["Content-Security-Policy"] = form_action_for(web_client)
        return response

    async def join(self, request: web.Request) -> web.StreamResponse:
        found = await self._find(request)
        if isinstance(found, web.Response):
            return found
        services, centre, lang, chat = found
        now = now_ms()
        state = self._state(chat, now)
        early = self.cfg.topic_chats.join_early_minutes * 60_000
        if state is not Window.OPEN:
            return self._page(
                lang,
                centre,
                "topic_chat_refused",
                403,
                reason=str(state),
                title=chat.title,
                opens=self._time(centre, chat.starts_at - early, lang),
            )
        live = self._live(centre)
        limit = self.starts[centre.id]
        if not limit.take():
            log.info("topic chat %d: the starts per minute are used up", chat.id)
            response = self._page(lang, centre, "live_chat_refused", 429, reason="rate")
            response.headers["Retry-After"] = str(limit.retry_after())
            return response
        if not await services.rows.LiveChatCount.take(centre.id, now, live.accounts_per_hour):
            log.info("topic chat %d: the hourly cap of accounts is reached", chat.id)
            return self._page(lang, centre, "live_chat_refused", 429, reason="hourly")
        try:
            person = await create_anonymous_account(
                services.admin,
                services.rows,
                self.cfg.appservice.namespace_prefix,
                centre.id,
                centre.language,
            )
        except (AdminApiError, aiohttp.ClientError) as e:
            log.warning("topic chat %d: no account made (%s)", chat.id, type(e).__name__)
            return self._page(lang, centre, "live_chat_refused", 503, reason="unavailable")
        try:
            admitted = await chats.admit(services, chat, person.user_id, now)
            if admitted is not Window.OPEN:  # closed or cancelled in this very moment
                await chats.discard(services, person.user_id)
                return self._page(lang, centre, "topic_chat_refused", 403, reason=str(admitted))
            token, valid_ms = await login_token(services.admin, person.user_id)
        except (AdminApiError, MatrixError, aiohttp.ClientError) as e:
            log.warning("topic chat %d: not joined (%s)", chat.id, type(e).__name__)
            await chats.discard(services, person.user_id)
            return self._page(lang, centre, "live_chat_refused", 503, reason="unavailable")
        if live.web_client:
            location = web_client_url(live.web_client, token, self.cfg.public_homeserver_url)
            raise web.HTTPSeeOther(location, headers=SECURITY_HEADERS)
        return self._page(
            lang,
            centre,
            "topic_chat_code",
            title=chat.title,
            homeserver=self.cfg.public_homeserver_url,
            code=token,
            minutes=max(1, valid_ms // 60000),
            pseudonym=person.name,
        )
