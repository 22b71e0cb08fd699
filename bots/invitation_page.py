"""The invitation page: ``GET /invite/{token}`` shows the form, ``POST`` sets the password.

Served by the appservice's own web listener. The token in the URL is the page's only secret
(and so its CSRF token); it is looked up by hash. A good password is set through the Synapse
admin API, the person counts as activated, and the page tells them the homeserver URL and
user name to enter in Element. Every bad link gets a page saying to ask the centre for a new
invitation (404 unknown, 410 used/expired/revoked), never a traceback.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from appservice.admin_api import AdminApiError, SynapseAdmin
from appservice.config import Config
from appservice.db import Invitation, Person
from appservice.db.invitation import VALID
from appservice.web_pages import WebPages
from bridge.people import Directory
from mailgateway.preferences import Preferences

from .dates import DEFAULT_TZ
from .invitation_rules import (
    MAX_FAILED_ATTEMPTS,
    hash_token,
    looks_like_token,
    password_problems,
    policy_of,
    why_not_invitable,
)
from .password_policy import MAX_LENGTH

log = logging.getLogger("lotse.invitation_page")

# Times on the page are shown as people in the centres read them (like the bots' dates).
PAGE_TZ = DEFAULT_TZ


class InvitationPage:
    """Route handlers; ``host`` is the running app (its ``cfg`` and ``az.http_session``)."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.cfg: Config = host.cfg
        self.pages = WebPages()
        self.directory = Directory(self.cfg)
        self.policy = policy_of(self.cfg.password_policy)

    def add_routes(self, app: web.Application) -> None:
        self.pages.add_stylesheet_route(app)
        app.router.add_get("/invite/{token}", self.show)
        app.router.add_post("/invite/{token}", self.submit)

    def _admin(self) -> SynapseAdmin:
        return SynapseAdmin(
            self.host.az.http_session,
            self.cfg.homeserver.address,
            self.cfg.appservice.as_token,
            self.cfg.assistant_mxid,
        )

    # --- lookup ----------------------------------------------------------------------------

    async def _open(self, token: str) -> tuple[Invitation, Person, str] | web.Response:
        """The usable invitation, its person and their language; else the refusal page."""
        lang = self.cfg.centres[0].language
        invitation = (
            await Invitation.by_hash(hash_token(token)) if looks_like_token(token) else None
        )
        if invitation is None:
            return self._invalid(lang, "unknown", None, 404)
        centre = self.cfg.centre(invitation.centre_id)
        person = await Person.get(invitation.user_id)
        if centre is not None:
            lang = centre.language
        if person is not None and centre is not None:
            lang = self.directory.language_of(person)
        name = centre.name if centre is not None else None
        state = invitation.state(int(time.time() * 1000))
        if state != VALID:
            if state == "revoked" and invitation.failed_attempts >= MAX_FAILED_ATTEMPTS:
                state = "too_many"
            return self._invalid(lang, state, name, 410)
        latest = await Invitation.latest_for(invitation.user_id)
        if (
            latest is None
            or latest.id != invitation.id
            or person is None
            or centre is None
            or person.centre_id != invitation.centre_id
            or why_not_invitable(person.deleted_at, person.locked_at) is not None
        ):
            return self._invalid(lang, "revoked", name, 410)
        return invitation, person, lang

    def _invalid(
        self, lang: str, reason: str, centre_name: str | None, status: int
    ) -> web.Response:
        return self.pages.response(
            lang, "invitation_invalid", status=status, reason=reason, centre_name=centre_name
        )

    def _form(
        self, lang: str, invitation: Invitation, person: Person, problems: list[str], status: int
    ) -> web.Response:
        centre = self.cfg.centre(person.centre_id)
        expires = datetime.fromtimestamp(invitation.expires_at / 1000, PAGE_TZ)
        return self.pages.response(
            lang,
            "invitation_form",
            status=status,
            centre_name=centre.name if centre else None,
            localpart=_localpart(person.user_id),
            policy=self.policy,
            max_length=MAX_LENGTH,
            problems=problems,
            expires=expires.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M"),
        )

    # --- handlers --------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        opened = await self._open(request.match_info["token"])
        if isinstance(opened, web.Response):
            return opened
        invitation, person, lang = opened
        return self._form(lang, invitation, person, [], 200)

    async def submit(self, request: web.Request) -> web.Response:
        opened = await self._open(request.match_info["token"])
        if isinstance(opened, web.Response):
            return opened
        invitation, person, lang = opened
        form = await request.post()
        password = form.get("password")
        repeat = form.get("password_repeat")
        problems = password_problems(
            password if isinstance(password, str) else "",
            repeat if isinstance(repeat, str) else "",
            self.policy,
        )
        if problems:
            await invitation.count_failure(MAX_FAILED_ATTEMPTS)
            if invitation.revoked_at is not None:
                log.info("invitation %d blocked after too many refused passwords", invitation.id)
                return self._invalid(lang, "too_many", self._centre_name(person), 410)
            return self._form(lang, invitation, person, problems, 400)
        assert isinstance(password, str)
        now = int(time.time() * 1000)
        if not await invitation.consume(now):
            # Another post with the same link won the race a moment ago.
            return self._invalid(lang, "used", self._centre_name(person), 410)
        try:
            # Other devices stay logged in: a password reset must not cost their E2EE keys.
            await self._admin().set_password(person.user_id, password, logout_devices=False)
        except (AdminApiError, aiohttp.ClientError) as e:
            log.warning("invitation %d: password not set (%s)", invitation.id, type(e).__name__)
            await invitation.release()
            return self._invalid(lang, "unavailable", self._centre_name(person), 503)
        if person.activated_at is None:
            await person.set_account(activated_at=now)
        proven = await Invitation.proven_address(person.user_id)
        if proven is not None and proven == person.email:
            # They followed a link mailed to this address: no second opt-in is needed.
            await Preferences.mark_confirmed(person.user_id, proven, now)
        log.info("invitation %d used: %s set a password", invitation.id, person.user_id)
        return self.pages.response(
            lang,
            "invitation_done",
            centre_name=self._centre_name(person),
            homeserver=self.cfg.public_homeserver_url,
            localpart=_localpart(person.user_id),
            user_id=person.user_id,
        )

    def _centre_name(self, person: Person) -> str | None:
        centre = self.cfg.centre(person.centre_id)
        return centre.name if centre else None


def _localpart(user_id: str) -> str:
    return user_id.removeprefix("@").split(":", 1)[0]


def add_invitation_routes(host: Any) -> None:
    """Wire the invitation page and its self-registration entrance into the host app's web
    listener (called before the listener starts)."""
    from .registration_page import RegistrationPage

    page = InvitationPage(host)
    page.add_routes(host.az.app)
    RegistrationPage(host, page.pages).add_routes(host.az.app)
