"""Switching notification mail off from the mail itself: ``List-Unsubscribe``.

Each notification carries ``/unsubscribe/TOKEN``, where the token is the person's user id
and an HMAC of it under a key derived from the config's pickle key: nothing is stored, the
link never expires, and all it can do is switch that person's notifications off. A GET
shows a button (link scanners must not switch anything off); a POST, from that button or
a mail client's RFC 8058 one-click request, does it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable

from aiohttp import web

from appservice.db import Person
from appservice.web_pages import IdentityOf, WebPages

from .confirm_page import LANGUAGES, browser_language
from .rows import MailRows

log = logging.getLogger("lotse.mail.unsubscribe")

LanguageOf = Callable[[Person], str]


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"lotse-unsubscribe:" + secret.encode()).digest()


def token_for(user_id: str, secret: str) -> str:
    ident = base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")
    mac = hmac.new(_key(secret), user_id.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{ident}.{mac}"


def user_of(token: str, secret: str) -> str | None:
    """The user id a token was made for, or None if it was not made with this secret."""
    ident, _, mac = token.partition(".")
    if not ident or not mac or len(token) > 400:
        return None
    try:
        user_id = base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return user_id if hmac.compare_digest(token_for(user_id, secret), token) else None


class UnsubscribePages:
    def __init__(
        self, rows: MailRows, secret: str, language_of: LanguageOf, identity: IdentityOf
    ) -> None:
        self.rows = rows
        self.secret = secret
        self.language_of = language_of
        self.pages = WebPages(identity)

    def check(self) -> None:
        for lang in LANGUAGES:
            self.pages.env.get_template(f"web/{lang}/unsubscribe.html.j2")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/unsubscribe/{token}", self._handle)
        app.router.add_post("/unsubscribe/{token}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        user_id = user_of(request.match_info["token"], self.secret)
        person = await self.rows.Person.get(user_id) if user_id else None
        if person is None:
            lang = browser_language(request.headers.get("Accept-Language", ""))
            return self._page(lang, "invalid", 404)
        if request.method == "POST":
            await self.rows.Preferences.set_notifications(person.user_id, False)
            log.info("notifications of %s switched off from a mail", person.user_id)
            return self._page(self.language_of(person), "done", 200)
        return self._page(self.language_of(person), "ask", 200)

    def _page(self, lang: str, state: str, status: int) -> web.Response:
        return self.pages.response(lang, "unsubscribe", status=status, state=state, centre_name="")
