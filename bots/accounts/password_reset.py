"""Forgot password: a reset link, mailed only to the person's own confirmed address.

A person's account is theirs (DESIGN.md, privacy point 7): staff never set or reset the
password of an account in use. A forgotten one is reset through a one-time link that goes to
the address the person confirmed themselves (double opt-in), never to anyone else. Two ways
lead to that mail:

* the public page ``/reset``: anyone types a user name or an address. The answer is the same
  page whatever was typed, and the work is done after the answer has gone out, so neither
  the page nor its timing tells whether such an account or address exists. A global limit
  per hour (in memory, no IP addresses) keeps it from being used to flood mailboxes;
* staff's ``client invite`` / ``counsellor invite`` on an account in use
  (bots.accounts.invitations): the link still goes only to the person's confirmed address,
  and staff never see it.

Using the link (bots.web.invitation_page, ``/reset/{token}``) sets the password, tells the
person in their service room and logs out all their devices.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from appservice.admin_api import SynapseAdmin
from appservice.clock import now_ms
from appservice.config import Config
from appservice.db import Person
from appservice.db.invitation import RESET
from appservice.web_pages import WebPages
from bots.framework.rate_limit import SlidingWindow
from bots.framework.services import PageParts
from mailgateway import notices
from mailgateway.confirm_page import browser_language
from mailgateway.notices import MailNotices
from mailgateway.outbox import InvalidAddress, validate_address
from mailgateway.rows import MailRows

from .invitation_rules import (
    RESETS_PER_PERSON_PER_HOUR,
    hash_token,
    invitation_link,
    localpart,
    new_token,
    why_not_invitable,
)

log = logging.getLogger("lotse.password_reset")

KIND = "password_reset"
HOUR_MS = 3600 * 1000
# Longer input is no user name and no address: refused before anything is looked up.
MAX_INPUT = 254
# How long the stopping web listener waits for resets asked for just before.
STOP_SECONDS = 10.0


async def mail_reset_link(
    cfg: Config,
    rows: MailRows,
    admin: SynapseAdmin,
    mail: MailNotices | None,
    person: Person,
    created_by: str,
) -> str:
    """Make a reset link for ``person`` and mail it to their confirmed address.

    Returns ``queued`` or why not: ``mail_disabled``, ``inactive`` (deleted, locked),
    ``no_address``, ``unconfirmed``, ``bouncing``, ``no_account`` (none, or deactivated or
    locked on Synapse), ``too_many`` (the person's hourly limit).
    """
    gateway = mail
    if gateway is None:
        return "mail_disabled"
    if why_not_invitable(person.deleted_at, person.locked_at) is not None:
        return "inactive"
    facts = await notices.facts_of(rows, person)
    outcome = notices.decide(KIND, facts, cfg.mail.enabled)
    if outcome != notices.QUEUED:
        return outcome
    account = await admin.get_user(person.user_id)
    if account is None or account.deactivated or account.locked:
        return "no_account"
    now = now_ms()
    if await rows.Invitation.count_since(person.user_id, RESET, now - HOUR_MS) >= (
        RESETS_PER_PERSON_PER_HOUR
    ):
        return "too_many"
    token = new_token()
    hours = cfg.invitations.reset_valid_hours
    await rows.Invitation.create(
        hash_token(token),
        person.user_id,
        person.centre_id,
        created_by,
        now + hours * HOUR_MS,
        facts.address,
        purpose=RESET,
    )
    outcome = await gateway.notify(
        person,
        KIND,
        login=localpart(person.user_id),
        link=invitation_link(cfg.public_web_url, token, RESET),
        valid_hours=hours,
    )
    if outcome != notices.QUEUED:  # the address changed this very moment: no link lives on
        await rows.Invitation.revoke_for(person.user_id)
    return outcome


class ResetRequestPage:
    """``GET /reset`` shows the form, ``POST /reset`` answers and then mails in the background."""

    def __init__(self, parts: PageParts, pages: WebPages) -> None:
        self.parts = parts
        self.cfg: Config = parts.cfg
        self.pages = pages
        self.forms = SlidingWindow(self.cfg.invitations.resets_per_hour, 3600)
        # One reset at a time, in the order asked: a burst cannot run Synapse calls in parallel.
        self._one_at_a_time = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/reset", self.show)
        app.router.add_post("/reset", self.submit)
        app.on_shutdown.append(self._finish)

    def _page(self, request: web.Request, state: str, status: int = 200) -> web.Response:
        lang = browser_language(request.headers.get("Accept-Language", ""))
        return self.pages.response(
            lang, "reset_request", status=status, state=state, centre_name=None
        )

    async def show(self, request: web.Request) -> web.Response:
        if not self.cfg.mail.enabled:
            return self._page(request, "closed", 404)
        return self._page(request, "form")

    async def submit(self, request: web.Request) -> web.Response:
        if not self.cfg.mail.enabled:
            return self._page(request, "closed", 404)
        form = await request.post()
        given = form.get("who")
        who = given.strip() if isinstance(given, str) else ""
        if not who or len(who) > MAX_INPUT:
            return self._page(request, "empty", 400)
        if not self.forms.take():
            log.info("password reset: the hourly limit of forms is reached")
            response = self._page(request, "busy", 429)
            response.headers["Retry-After"] = str(self.forms.retry_after())
            return response
        task = asyncio.create_task(self._handle(who), name="lotse-password-reset")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return self._page(request, "sent")

    async def _handle(self, who: str) -> None:
        async with self._one_at_a_time:
            try:
                services = self.parts.services
                if services is None:
                    log.info("password reset asked while Lotse is still starting: not handled")
                    return
                for person in await self._people(who):
                    outcome = await mail_reset_link(
                        self.cfg,
                        services.mail_rows,
                        services.admin,
                        services.mail,
                        person,
                        person.user_id,
                    )
                    log.info("password reset asked for %s: %s", person.user_id, outcome)
            except Exception:
                log.exception("a password reset could not be handled")

    async def _people(self, who: str) -> list[Person]:
        """The people a typed user name or address stands for (confirmed addresses only)."""
        if "@" in who[1:] and not who.startswith("@"):
            try:
                validate_address(who)
            except InvalidAddress:
                return []
            user_ids = await self.parts.mail_rows.Preferences.people_confirmed_at(who)
        else:
            local, _, server = who.removeprefix("@").partition(":")
            if server and server != self.cfg.homeserver.domain:
                return []
            user_ids = [f"@{local.lower()}:{self.cfg.homeserver.domain}"]
        people = [await self.parts.rows.Person.get(user_id) for user_id in user_ids]
        return [person for person in people if person is not None]

    async def _finish(self, _: web.Application) -> None:
        """At shutdown: resets asked for a moment ago still get their mail queued."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_SECONDS)
