"""The double opt-in page: ``GET /confirm/{token}`` asks, ``POST`` confirms.

A GET only shows a button: mail scanners and link previews open links on their own, and
that must not confirm anything. The POST redeems the one-time token (hashed in the
database, expiring, usable once), sets the person's address and marks it confirmed, and
forgets earlier bounces of it. Pages are jinja2 with autoescape, in the person's language
(or the browser's, when the token is no good); they say nothing about who the token was for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from appservice.db import Person
from appservice.web_pages import IdentityOf, WebPages

from .rows import MailRows

log = logging.getLogger("lotse.mail.confirm")

LANGUAGES = ("de", "en")

LanguageOf = Callable[[Person], str]
CentreNameOf = Callable[[Person], str]


def browser_language(header: str) -> str:
    """The first supported language in an Accept-Language header, else German."""
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return LANGUAGES[0]


async def confirm_token(rows: MailRows, token: str) -> Person | None:
    """Redeem a token: the person, whose address is now set and confirmed; None if no good."""
    redeemed = await rows.Preferences.redeem(token)
    if redeemed is None:
        return None
    user_id, address = redeemed
    person = await rows.Person.get(user_id)
    if person is None or person.deleted_at is not None:
        return None
    await person.set_account(email=address)
    await rows.Preferences.mark_confirmed(user_id, address)
    await rows.MailAddress.reset(address)
    log.info("address of %s confirmed", user_id)
    return person


class ConfirmationPages:
    def __init__(
        self,
        rows: MailRows,
        language_of: LanguageOf,
        centre_name_of: CentreNameOf,
        identity: IdentityOf,
    ) -> None:
        self.rows = rows
        self.language_of = language_of
        self.centre_name_of = centre_name_of
        # The same layout, stylesheet and headers (no-store, no-referrer: the token is in the
        # URL) as every page of the web listener.
        self.pages = WebPages(identity)

    def check(self) -> None:
        """Load the pages at start, so a broken one refuses to start."""
        for lang in LANGUAGES:
            self.pages.env.get_template(f"web/{lang}/confirm_address.html.j2")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/confirm/{token}", self._get)
        app.router.add_post("/confirm/{token}", self._post)

    def _page(
        self, lang: str, state: str, centre_name: str = "", status: int = 200
    ) -> web.Response:
        return self.pages.response(
            lang, "confirm_address", status=status, state=state, centre_name=centre_name
        )

    async def _get(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        user_id = await self.rows.Preferences.peek(token) if len(token) < 200 else None
        person = await self.rows.Person.get(user_id) if user_id else None
        if person is None:
            lang = browser_language(request.headers.get("Accept-Language", ""))
            return self._page(lang, "invalid", status=404)
        return self._page(self.language_of(person), "ask", self.centre_name_of(person))

    async def _post(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        person = await confirm_token(self.rows, token) if len(token) < 200 else None
        if person is None:
            lang = browser_language(request.headers.get("Accept-Language", ""))
            return self._page(lang, "invalid", status=404)
        return self._page(self.language_of(person), "done", self.centre_name_of(person))
