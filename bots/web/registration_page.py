"""Self-registration, double opt-in: ``/register`` asks for a pseudonym and an address, the
mailed link (``/register/{token}``) confirms it with a button, and only then is the client's
account created; the person goes on to the invitation page to set the password.

Offered only when ``self_registration.centre`` names a centre and mail is on. The answer to
the form is the same whether or not the address or pseudonym is known, so the form tells
strangers nothing about who is registered. The confirmation needs a button (POST) so that
mail scanners that open links do not create accounts.

The form must not become a way to mail strangers in bulk: one address (normalised: trimmed,
lower-case) gets at most ``self_registration.mails_per_address_per_day`` mails a day (the
answer stays the same, so it tells nobody whether someone registered with that address), and
the whole form takes at most ``self_registration.forms_per_hour`` forms an hour, in memory and
without IP addresses; beyond that everyone gets a page asking them to come back later.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import aiohttp
from aiohttp import web

from appservice.admin_api import AdminApiError
from appservice.config import CentreConfig, Config
from appservice.db import Person, Registration
from appservice.web_pages import SECURITY_HEADERS, WebPages
from bots.accounts.invitation_rules import (
    expiry,
    hash_token,
    invitation_link,
    looks_like_token,
    new_token,
)
from bots.accounts.registration_rules import (
    BAD_EMAIL,
    HOUR_MS,
    VALID_HOURS,
    normalise_pseudonym,
    pseudonym_problems,
)
from bots.framework.rate_limit import SlidingWindow
from bots.framework.services import PageParts
from bots.records.client_rules import LOGIN_ATTEMPTS, login_candidates
from bridge.client_accounts import create_account
from mailgateway.addresses import normalize
from mailgateway.outbox import InvalidAddress, outbox_sealer, validate_address

log = logging.getLogger("lotse.registration")


class RegistrationPage:
    def __init__(self, parts: PageParts, pages: WebPages) -> None:
        self.parts = parts
        self.cfg: Config = parts.cfg
        self.pages = pages
        self.forms = SlidingWindow(self.cfg.self_registration.forms_per_hour, 3600)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/register", self.show)
        app.router.add_post("/register", self.submit)
        app.router.add_get("/register/{token}", self.show_confirm)
        app.router.add_post("/register/{token}", self.confirm)

    def _centre(self) -> CentreConfig | None:
        """The centre that takes self-registrations, if any (and mail can reach people)."""
        if self.cfg.self_registration_centre is None or not self.cfg.mail.enabled:
            return None
        return self.cfg.centre(self.cfg.self_registration_centre)

    def _closed(self) -> web.Response:
        return self.pages.response(
            self.cfg.centres[0].language, "registration_closed", status=404, centre_name=None
        )

    def _page(self, centre: CentreConfig, name: str, status: int = 200, **kw: Any) -> web.Response:
        return self.pages.response(
            centre.language, name, status=status, centre_name=centre.name, **kw
        )

    # --- step 1: the form -----------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        centre = self._centre()
        if centre is None:
            return self._closed()
        return self._page(centre, "registration_form", problems=[], pseudonym="", email="")

    async def submit(self, request: web.Request) -> web.Response:
        centre = self._centre()
        if centre is None:
            return self._closed()
        form = await request.post()
        pseudonym = normalise_pseudonym(_text(form.get("pseudonym")))
        email = _text(form.get("email")).strip()
        problems = pseudonym_problems(pseudonym)
        try:
            validate_address(email)
        except InvalidAddress:
            problems.append(BAD_EMAIL)
        if problems:
            return self._page(
                centre,
                "registration_form",
                status=400,
                problems=problems,
                pseudonym=pseudonym,
                email=email,
            )
        if not self.forms.take():
            log.info("self-registration: the hourly limit of forms is reached")
            wait = self.forms.retry_after()
            response = self._page(centre, "registration_busy", status=429, minutes=wait // 60 + 1)
            response.headers["Retry-After"] = str(wait)
            return response
        now = int(time.time() * 1000)
        await self.parts.rows.Registration.prune(
            now - 24 * HOUR_MS
        )  # expired a day ago: nobody needs them
        per_day = self.cfg.self_registration.mails_per_address_per_day
        if (
            await self.parts.rows.Registration.count_since(normalize(email), now - 24 * HOUR_MS)
            < per_day
        ):
            token = new_token()
            expires = now + VALID_HOURS * HOUR_MS
            registration_id = await self.parts.rows.Registration.create(
                hash_token(token), centre.id, pseudonym, email, expires
            )
            link = f"{self.cfg.public_web_url.rstrip('/')}/register/{token}"
            variables = {"centre_name": centre.name, "link": link}
            await self.parts.mail_rows.Outbox.enqueue(
                email,
                "address_confirmation",
                centre.language,
                variables,
                sealer=outbox_sealer(
                    self.cfg.encryption.sealing_key, self.cfg.encryption.previous_sealing_keys
                ),
            )
            mail = self.parts.services.mail if self.parts.services is not None else None
            if mail is not None and mail.wake is not None:
                mail.wake()
            log.info("self-registration %d: confirmation mail queued", registration_id)
        else:
            log.info("self-registration: address over its daily limit, no mail sent")
        return self._page(centre, "registration_sent", per_day=per_day)

    # --- step 2: the mailed link ----------------------------------------------------------

    async def _open(self, token: str) -> tuple[CentreConfig, Registration] | web.Response:
        centre = self._centre()
        if centre is None:
            return self._closed()
        registration = None
        if looks_like_token(token):
            registration = await self.parts.rows.Registration.by_hash(hash_token(token))
        if registration is None or registration.centre_id != centre.id:
            return self._page(centre, "registration_invalid", status=404, reason="unknown")
        if registration.confirmed_at is not None:
            return self._page(centre, "registration_invalid", status=410, reason="used")
        if not registration.usable(int(time.time() * 1000)):
            return self._page(centre, "registration_invalid", status=410, reason="expired")
        return centre, registration

    async def show_confirm(self, request: web.Request) -> web.Response:
        opened = await self._open(request.match_info["token"])
        if isinstance(opened, web.Response):
            return opened
        centre, registration = opened
        return self._page(centre, "registration_confirm", pseudonym=registration.pseudonym)

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        opened = await self._open(request.match_info["token"])
        if isinstance(opened, web.Response):
            return opened
        centre, registration = opened
        if await self.parts.rows.Person.find_in_centre(
            centre.id, registration.pseudonym, roles=("client",)
        ):
            return self._page(centre, "registration_invalid", status=409, reason="taken")
        now = int(time.time() * 1000)
        if not await registration.confirm(now):
            return self._page(centre, "registration_invalid", status=410, reason="used")
        try:
            user_id = await self._create_account(registration.pseudonym)
        except (AdminApiError, aiohttp.ClientError) as e:
            log.warning("self-registration %d: no account (%s)", registration.id, type(e).__name__)
            await registration.unconfirm()
            return self._page(centre, "registration_invalid", status=503, reason="unavailable")
        person = await self.parts.rows.Person.upsert(user_id, centre.id, "client")
        if not await person.set_display_name(registration.pseudonym):
            log.warning("self-registration %d: pseudonym taken meanwhile", registration.id)
        await person.set_account(email=registration.email, invited_at=now)
        # The mailed link proved the address: a forgotten password can be reset through it.
        await self.parts.mail_rows.Preferences.mark_confirmed(user_id, registration.email, now)
        await registration.set_user(user_id)
        await self.parts.rows.AuditEntry.record(centre.id, user_id, "self_register", user_id, "")
        await self._open_service_room(person)
        token = new_token()
        await self.parts.rows.Invitation.create(
            hash_token(token),
            user_id,
            centre.id,
            user_id,
            expiry(now, self.cfg.invitations.valid_days),
            registration.email,
        )
        log.info("self-registration %d confirmed: %s created", registration.id, user_id)
        location = invitation_link(self.cfg.public_web_url, token)
        raise web.HTTPSeeOther(location, headers=SECURITY_HEADERS)

    async def _open_service_room(self, person: Person) -> None:
        """Invite the new client to their service room now, so Element shows it at first login."""
        services = self.parts.services
        if services is None or services.service_rooms is None:
            return
        try:
            await services.service_rooms.create_for(person)
        except Exception as e:  # the client can still open a chat with the assistant later
            log.warning("no service room for %s yet (%s)", person.user_id, type(e).__name__)

    async def _create_account(self, pseudonym: str) -> str:
        """A new Synapse account without password (set on the invitation page next).

        The login follows the same rule as `client new` (bots/records/client_rules.py): however a
        client came in, their user name is made the same way.
        """
        if self.parts.services is None:
            raise AdminApiError(503, "M_NOT_READY", "Lotse is still starting")
        prefix = self.cfg.appservice.namespace_prefix
        suffixes = [secrets.token_hex(2) for _ in range(LOGIN_ATTEMPTS)]
        logins = login_candidates(pseudonym, prefix, suffixes)
        return await create_account(
            self.parts.rows,
            self.parts.services.admin,
            self.cfg.homeserver.domain,
            logins,
            pseudonym,
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
