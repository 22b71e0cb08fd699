"""The password page: ``GET /invite/{token}`` or ``/reset/{token}`` shows the form, ``POST``
sets the password.

Served by the appservice's own web listener. The token in the URL is the page's only secret
(and so its CSRF token); it is looked up by hash, and opens only the page of its own purpose.
An *invitation* sets the first password of an account nobody has used yet (checked again
here: Lotse's record and Synapse's devices and last-seen time); the person then counts as
activated, and the page tells them the homeserver URL and user name to enter in Element.
A *reset* (bots.accounts.password_reset) works only while the address it was mailed to is still the
person's confirmed one; it sets the password, tells the person in their service room and
logs out every device, so whoever held a session before is out (DESIGN.md, privacy point 7).
Every bad link gets a page saying what to do instead (404 unknown, 410 used/expired/revoked/
in use), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp
from aiohttp import web

from appservice.admin_api import AdminApiError, SynapseAdmin
from appservice.config import Config
from appservice.db import Invitation, Person
from appservice.db.invitation import INVITATION, KEEP, RESET, VALID
from appservice.web_pages import WebPages
from bots.accounts.anonymous_registration import became_client, why_not_registrable
from bots.accounts.invitation_rules import (
    LINK_PATHS,
    MAX_FAILED_ATTEMPTS,
    account_in_use,
    hash_token,
    localpart,
    looks_like_token,
    password_problems,
    policy_of,
    why_not_invitable,
)
from bots.accounts.password_policy import MAX_LENGTH
from bots.accounts.password_reset import ResetRequestPage
from bots.accounts.registration_rules import normalise_pseudonym, pseudonym_problems
from bots.framework.dates import DEFAULT_TZ
from bots.framework.services import PageParts
from bots.web.live_chat_page import LiveChatPage
from bots.web.registration_page import RegistrationPage
from bots.web.topic_chat_page import TopicChatPage
from bridge.anonymous_accounts import is_anonymous
from bridge.people import Directory
from mailgateway.addresses import normalize

log = logging.getLogger("lotse.invitation_page")

Handler = Callable[[web.Request], Awaitable[web.Response]]
PurposeHandler = Callable[[web.Request, str], Awaitable[web.Response]]

# Times on the page are shown as people in the centres read them (like the bots' dates).
PAGE_TZ = DEFAULT_TZ
# After a reset the person is told in their service room before their devices are logged
# out: a device that is online gets the notice in this time (a later one could not decrypt
# it, and whoever set the new password would be the only one to read it).
NOTICE_GRACE_SECONDS = 1.0


class InvitationPage:
    """Route handlers; ``parts`` holds the config and, once the assistant runs, its services."""

    def __init__(self, parts: PageParts) -> None:
        self.parts = parts
        self.cfg: Config = parts.cfg
        self.pages = WebPages(identity=self._identity)
        self.directory = Directory(self.cfg, parts.rows)
        self.policy = policy_of(self.cfg.password_policy)

    def _identity(self) -> str:
        """The assistant's fingerprint for the pages, once it runs (the listener starts first)."""
        services = self.parts.services
        return str(services.identity) if services is not None else ""

    def add_routes(self, app: web.Application) -> None:
        self.pages.add_stylesheet_route(app)
        for purpose, path in LINK_PATHS.items():
            app.router.add_get(f"/{path}/{{token}}", self._handler(self.show, purpose))
            app.router.add_post(f"/{path}/{{token}}", self._handler(self.submit, purpose))

    @staticmethod
    def _handler(method: PurposeHandler, purpose: str) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            return await method(request, purpose)

        return handle

    def _admin(self) -> SynapseAdmin:
        """The admin API as the assistant; while Lotse is still starting, "unavailable"."""
        if self.parts.services is None:
            raise AdminApiError(503, "M_NOT_READY", "Lotse is still starting")
        return self.parts.services.admin

    # --- lookup ----------------------------------------------------------------------------

    async def _open(
        self, token: str, purpose: str
    ) -> tuple[Invitation, Person, str] | web.Response:
        """The usable link, its person and their language; else the refusal page."""
        lang = self.cfg.centres[0].language
        invitation = (
            await self.parts.rows.Invitation.by_hash(hash_token(token))
            if looks_like_token(token)
            else None
        )
        if invitation is None or invitation.purpose != purpose:
            return self._invalid(lang, "unknown", None, 404, purpose)
        centre = self.cfg.centre(invitation.centre_id)
        person = await self.parts.rows.Person.get(invitation.user_id)
        if centre is not None:
            lang = centre.language
        if person is not None and centre is not None:
            lang = self.directory.language_of(person)
        name = centre.name if centre is not None else None
        state = invitation.state(int(time.time() * 1000))
        if state != VALID:
            if state == "revoked" and invitation.failed_attempts >= MAX_FAILED_ATTEMPTS:
                state = "too_many"
            return self._invalid(lang, state, name, 410, purpose)
        latest = await self.parts.rows.Invitation.latest_for(invitation.user_id)
        if (
            latest is None
            or latest.id != invitation.id
            or person is None
            or centre is None
            or person.centre_id != invitation.centre_id
            or why_not_invitable(person.deleted_at, person.locked_at) is not None
        ):
            return self._invalid(lang, "revoked", name, 410, purpose)
        try:
            problem = await self._why_not_now(invitation, person)
        except (AdminApiError, aiohttp.ClientError) as e:
            log.warning("link %d: account not checked (%s)", invitation.id, type(e).__name__)
            return self._invalid(lang, "unavailable", name, 503, purpose)
        if problem is not None:
            return self._invalid(lang, problem, name, 410, purpose)
        return invitation, person, lang

    async def _why_not_now(self, invitation: Invitation, person: Person) -> str | None:
        """Checked on every use, since things change after a link is made: an invitation
        only while nobody has used the account (``in_use``), a reset only while the address
        it went to is still the confirmed one (``revoked``)."""
        if invitation.purpose == KEEP:
            # Only while the account is still anonymous and not marked for erasure.
            services = self.parts.services
            if services is None:
                raise AdminApiError(503, "M_NOT_READY", "Lotse is still starting")
            prefix = self.cfg.appservice.namespace_prefix
            if not is_anonymous(person.user_id, prefix):
                return "used"
            return "used" if await why_not_registrable(services, person) else None
        if invitation.purpose == INVITATION:
            admin = self._admin()
            account = await admin.get_user(person.user_id)
            last_seen = account.last_seen_ts if account is not None else None
            devices = await admin.device_count(person.user_id)
            return "in_use" if account_in_use(person.activated_at, last_seen, devices) else None
        preference = await self.parts.mail_rows.Preferences.get(person.user_id)
        mailed_to = normalize(invitation.sent_to or "")
        if not preference.confirmed_for(person.email) or normalize(person.email or "") != mailed_to:
            return "revoked"
        return None

    def _invalid(
        self,
        lang: str,
        reason: str,
        centre_name: str | None,
        status: int,
        purpose: str = INVITATION,
    ) -> web.Response:
        return self.pages.response(
            lang,
            "invitation_invalid",
            status=status,
            reason=reason,
            centre_name=centre_name,
            purpose=purpose,
        )

    def _form(
        self,
        lang: str,
        invitation: Invitation,
        person: Person,
        problems: list[str],
        status: int,
        pseudonym: str = "",
    ) -> web.Response:
        centre = self.cfg.centre(person.centre_id)
        expires = datetime.fromtimestamp(invitation.expires_at / 1000, PAGE_TZ)
        return self.pages.response(
            lang,
            "invitation_form",
            status=status,
            centre_name=centre.name if centre else None,
            localpart=localpart(person.user_id),
            policy=self.policy,
            max_length=MAX_LENGTH,
            problems=problems,
            expires=expires.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M"),
            purpose=invitation.purpose,
            pseudonym=pseudonym,
        )

    # --- handlers --------------------------------------------------------------------------

    async def show(self, request: web.Request, purpose: str) -> web.Response:
        opened = await self._open(request.match_info["token"], purpose)
        if isinstance(opened, web.Response):
            return opened
        invitation, person, lang = opened
        return self._form(lang, invitation, person, [], 200)

    async def submit(self, request: web.Request, purpose: str) -> web.Response:
        opened = await self._open(request.match_info["token"], purpose)
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
        pseudonym = ""
        if purpose == KEEP:
            given = form.get("pseudonym")
            pseudonym = normalise_pseudonym(given if isinstance(given, str) else "")
            problems = pseudonym_problems(pseudonym) + problems
        if problems:
            await invitation.count_failure(MAX_FAILED_ATTEMPTS)
            if invitation.revoked_at is not None:
                log.info("link %d blocked after too many refused passwords", invitation.id)
                return self._invalid(lang, "too_many", self._centre_name(person), 410, purpose)
            return self._form(lang, invitation, person, problems, 400, pseudonym)
        assert isinstance(password, str)
        now = int(time.time() * 1000)
        if not await invitation.consume(now):
            # Another post with the same link won the race a moment ago.
            return self._invalid(lang, "used", self._centre_name(person), 410, purpose)
        if purpose == KEEP and not await person.set_display_name(pseudonym):
            await invitation.release()
            return self._form(lang, invitation, person, ["pseudonym_taken"], 400, pseudonym)
        try:
            if purpose == RESET:
                await self._reset(person, password, now)
            elif purpose == KEEP:
                await self._keep(person, pseudonym, password, now)
            else:
                # Nobody has used the account, so there is no device to log out.
                await self._admin().set_password(person.user_id, password, logout_devices=False)
        except (AdminApiError, aiohttp.ClientError) as e:
            log.warning("link %d: password not set (%s)", invitation.id, type(e).__name__)
            await invitation.release()
            return self._invalid(lang, "unavailable", self._centre_name(person), 503, purpose)
        if person.activated_at is None:
            await person.set_account(activated_at=now)
        proven = await self.parts.rows.Invitation.proven_address(person.user_id)
        if purpose == INVITATION and proven is not None and proven == person.email:
            # They followed a link mailed to this address: no second opt-in is needed.
            await self.parts.mail_rows.Preferences.mark_confirmed(person.user_id, proven, now)
        log.info("link %d (%s) used: %s set a password", invitation.id, purpose, person.user_id)
        return self.pages.response(
            lang,
            "invitation_done",
            centre_name=self._centre_name(person),
            homeserver=self.cfg.public_homeserver_url,
            localpart=localpart(person.user_id),
            user_id=person.user_id,
            purpose=purpose,
        )

    async def _reset(self, person: Person, password: str, now: int) -> None:
        """Set the new password, tell the person's devices that are online, log them all out.

        The second call sets the same password again with ``logout_devices``: Synapse then
        deletes every device and access token of the person, whoever held them.
        """
        admin = self._admin()
        await admin.set_password(person.user_id, password, logout_devices=False)
        await self.parts.rows.AuditEntry.record(
            person.centre_id, person.user_id, "password_reset", person.user_id
        )
        if await self._tell(person, now):
            await asyncio.sleep(NOTICE_GRACE_SECONDS)
        await admin.set_password(person.user_id, password, logout_devices=True)

    async def _keep(self, person: Person, pseudonym: str, password: str, now: int) -> None:
        """The anonymous account becomes an ordinary client's: name and password on Synapse
        (the session they chat in stays logged in), no longer a throwaway, a service room."""
        services = self.parts.services
        assert services is not None  # checked when the link was opened
        admin = self._admin()
        await admin.set_password(person.user_id, password, logout_devices=False)
        await person.set_account(activated_at=now)
        await became_client(services, person, now)
        try:
            await admin.set_displayname(person.user_id, pseudonym)
        except AdminApiError as e:  # Element shows the old name until they change it there
            log.warning("display name of %s not set: %s", person.user_id, e.errcode)
        if services.service_rooms is not None:
            try:
                await services.service_rooms.create_for(person)
            except Exception:
                # The account is theirs; they can still open a direct chat with the assistant.
                log.exception("service room of %s not created", person.user_id)

    async def _tell(self, person: Person, now: int) -> bool:
        """The notice in the person's service room; False when there is none to send."""
        services = self.parts.services
        if services is None:
            return False
        at = datetime.fromtimestamp(now / 1000, PAGE_TZ).strftime("%d.%m.%Y %H:%M")
        try:
            return bool(
                await services.tell(person, "password_reset_done", cause=f"reset-{now}", at=at)
            )
        except Exception as e:  # the reset goes on: the devices must be logged out anyway
            log.warning("reset notice for %s not sent (%s)", person.user_id, type(e).__name__)
            return False

    def _centre_name(self, person: Person) -> str | None:
        centre = self.cfg.centre(person.centre_id)
        return centre.name if centre else None


def add_invitation_routes(app: web.Application, parts: PageParts) -> None:
    """Wire the password page, its self-registration entrance and the "forgot password" form
    into the web listener ``app`` (called before the listener starts)."""
    page = InvitationPage(parts)
    page.add_routes(app)
    RegistrationPage(parts, page.pages).add_routes(app)
    topic_chats = TopicChatPage(parts, page.pages)
    topic_chats.add_routes(app)
    LiveChatPage(parts, page.pages, topic_chats=topic_chats.listing).add_routes(app)
    ResetRequestPage(parts, page.pages).add_routes(app)
