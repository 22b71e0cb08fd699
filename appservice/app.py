"""Composition root: builds the pieces from the config, starts them in order, stops them."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from mautrix.appservice import AppService, IntentAPI
from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.errors import MatrixError
from mautrix.types import Event, EventType, StateEvent, UserID

from .admin_api import SynapseAdmin
from .config import Config
from .db import Inbox, LotseDatabase, Person
from .e2ee import AssistantDevice
from .i18n import Renderer
from .metrics import REGISTRY, UP
from .scheduler import Scheduler
from .transactions import TransactionReceiver
from .web import add_operator_routes

log = logging.getLogger("lotse")

STOP_SECONDS = 30.0
PING_SECONDS = 10.0

# Sees every room event after the assistant (e.g. the steward noticing a message arrive in
# a counselling room: sender, room, time; never content).
RoomObserver = Callable[[Event], Awaitable[None]]


class _LotseAppService(AppService):
    """mautrix's AppService for intents and the HTTP session; transactions are ours."""

    def register_routes(self, app: Any) -> None:  # noqa: D102 - replaced by TransactionReceiver
        return None


class LotseApp:
    def __init__(self, cfg: Config, db_args: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.db = LotseDatabase(cfg.database.url, db_args=db_args)
        self.state_store = PgASStateStore(self.db.state_db)
        self.renderer = Renderer.default()
        self.az = _LotseAppService(
            server=cfg.homeserver.address,
            domain=cfg.homeserver.domain,
            as_token=cfg.appservice.as_token,
            hs_token=cfg.appservice.hs_token,
            bot_localpart=cfg.appservice.sender_localpart,
            id=cfg.appservice.id,
            state_store=self.state_store,
            verify_ssl=cfg.homeserver.verify_ssl,
            log=logging.getLogger("lotse.mautrix"),
        )
        self.receiver = TransactionReceiver(cfg.appservice.hs_token, self._handle_event)
        self.receiver.register_routes(self.az.app)
        add_operator_routes(self.az.app, self.health)
        # The invitation page: routes must exist before the listener starts (bots/ on top).
        from bots.invitation_page import add_invitation_routes

        add_invitation_routes(self)
        self.device = AssistantDevice(
            homeserver=cfg.homeserver.address,
            user_id=UserID(cfg.assistant_mxid),
            as_token=cfg.appservice.as_token,
            pickle_key=cfg.encryption.pickle_key,
            device_name=cfg.encryption.device_name,
            db=self.db,
            state_store=self.state_store,
            session_wait_seconds=cfg.encryption.session_wait_seconds,
        )
        self.own_users = {cfg.assistant_mxid, cfg.steward_mxid, cfg.sender_mxid}
        self.mail_sender: Any = None
        self.scheduler = Scheduler()
        # How long each part may take to stop (see stop()).
        self.stop_seconds = STOP_SECONDS
        self.room_observers: list[RoomObserver] = []
        self.started = False
        self.mail: Any = None
        if cfg.mail.enabled:
            self.mail = self._build_mail()

    async def start(self) -> None:
        problems = self.renderer.check_templates()
        if problems:
            raise RuntimeError("broken templates: " + "; ".join(problems))
        await self.db.start()
        # The listener must run before the device is touched (see appservice/e2ee.py).
        await self.az.start(self.cfg.appservice.hostname, self.cfg.appservice.port)
        await self._ping()
        self.assistant_intent = self.az.intent.user(UserID(self.cfg.assistant_mxid))
        self.steward_intent = self.az.intent.user(UserID(self.cfg.steward_mxid))
        await self._ensure_bot(self.assistant_intent, self.cfg.bots.assistant.displayname)
        await self._ensure_bot(self.steward_intent, self.cfg.bots.steward.displayname)
        await self.device.start()
        self.assistant = self._build_assistant()
        from bots import deletion_routine  # the bots sit on top of the plumbing (see below)

        deletion_routine.schedule(self.scheduler, self.assistant.services)
        await self.assistant.directory.sync_config_admins()
        await self.assistant.centre_rooms.ensure_all()
        await self._check_admin()
        await Inbox.prune()
        if self.mail is not None:
            # After the assistant: its failure and bounce hooks tell admins through it.
            await self.mail.start()
            self.mail_sender = self.mail.sender
        self.receiver.start()
        self.scheduler.start()
        self.started = True
        UP.set(1)
        log.info(
            "Lotse is running: assistant %s (device %s), listening on %s:%d",
            self.cfg.assistant_mxid,
            self.device.device_id,
            self.cfg.appservice.hostname,
            self.cfg.appservice.port,
        )

    def _build_mail(self) -> Any:
        """The mail gateway: sender, `notify`, new-message digests, confirmation page, IMAP."""
        from mailgateway import metrics as mail_metrics
        from mailgateway.gateway import MailGateway

        mail_metrics.register(REGISTRY)
        gateway = MailGateway(
            self.cfg,
            self.state_store,
            on_permanent_failure=self._mail_failed,
            on_bouncing=self._address_bouncing,
        )
        gateway.add_routes(self.az.app)
        self.room_observers.append(gateway.notifier.observe)
        self.receiver.ephemeral_handlers.append(gateway.notifier.receive_ephemeral)
        interval = self.cfg.mail.notice_interval
        self.scheduler.every("mail-notices", gateway.notifier.run_due, seconds=interval)
        self.scheduler.every("mail-confirmations", gateway.prune, seconds=3600)
        return gateway

    async def _mail_failed(self, recipient: str, kind: str) -> None:
        """A mail failed for good: the person's centre admins hear which person and kind."""
        log.warning("a %s notification could not be delivered (permanent SMTP failure)", kind)
        await self._tell_admins_about(recipient, "mail_failed_admin", kind=kind)

    async def _address_bouncing(self, address: str) -> None:
        await self._tell_admins_about(address, "mail_bouncing_admin")

    async def _tell_admins_about(self, address: str, template: str, **variables: Any) -> None:
        from mailgateway.preferences import Preferences

        for user_id in await Preferences.people_with_address(address):
            person = await Person.get(user_id)
            if person is not None:
                await self.assistant.services.tell_admins(
                    person.centre_id, template, who=person.name, **variables
                )

    def _build_assistant(self) -> Any:
        # Imported here: appservice/ is the plumbing; the bots sit on top of it.
        from bots import (  # noqa: F401  (modules declare their commands on import)
            absences,
            audit,
            availability,
            centre_messages,
            client_admin,
            clients,
            counsellors,
            documents,
            general,
            groups,
            invitations,
            mail_settings,
            notes,
            profile,
            requests,
            settings,
            transfer,
            triage,
        )
        from bots.assistant import Assistant
        from bots.lifecycle import install as install_request_lifecycle
        from bots.registry import registry
        from bridge.centre_rooms import CentreRooms
        from bridge.counselling_rooms import CounsellingRooms
        from bridge.people import Directory
        from bridge.service_rooms import ServiceRooms

        assistant = Assistant(
            intent=self.assistant_intent,
            device=self.device,
            directory=Directory(self.cfg),
            service_rooms=ServiceRooms(self.assistant_intent, self.cfg.bots.assistant.displayname),
            registry=registry,
            renderer=self.renderer,
            own_users=self.own_users,
            counselling_rooms=CounsellingRooms(self.steward_intent),
            centre_rooms=CentreRooms(
                self.assistant_intent,
                self.steward_intent,
                self.cfg,
                self.renderer,
                identity=self.device.identity,
            ),
            admin=SynapseAdmin(
                self.az.http_session,
                self.cfg.homeserver.address,
                self.cfg.appservice.as_token,
                self.cfg.assistant_mxid,
            ),
        )
        # Answered/overdue requests and the absence assistant (room observer + job).
        install_request_lifecycle(self, assistant.services)
        return assistant

    async def stop(self) -> None:
        """Stop every part in turn; none may hold up the shutdown for long.

        A part that does not stop within ``stop_seconds`` is logged and left behind, so that
        SIGTERM always ends the process (e.g. the SQLite pool waits for a connection that a
        stuck task still holds).
        """
        UP.set(0)
        self.started = False
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("scheduler", self.scheduler.stop),
            ("transaction inbox", self.receiver.stop),
        ]
        if self.mail is not None:
            steps.append(("mail gateway", self.mail.stop))
        steps += [
            ("encryption device", self.device.stop),
            ("web listener", self.az.stop),
            ("database", self.db.stop),
        ]
        for name, stop in steps:
            try:
                await asyncio.wait_for(stop(), timeout=self.stop_seconds)
            except TimeoutError:
                log.error("stopping the %s took over %.0f s; going on", name, self.stop_seconds)
        log.info("Lotse stopped")

    async def _ensure_bot(self, intent: IntentAPI, displayname: str) -> None:
        await intent.ensure_registered()
        try:
            if await intent.get_displayname(intent.mxid) != displayname:
                await intent.set_displayname(displayname)
        except MatrixError as e:
            log.warning("could not set display name of %s: %s", intent.mxid, e)

    async def _ping(self) -> None:
        """A successful ping makes Synapse resend held-back transactions now, not after backoff."""
        try:
            # Only a hurry-up for Synapse: never hold up the start for long.
            await asyncio.wait_for(self.az.ping_self(), timeout=PING_SECONDS)
        except (MatrixError, aiohttp.ClientError, TimeoutError) as e:
            log.warning(
                "homeserver could not reach us at %s: %s",
                self.cfg.appservice.address,
                type(e).__name__ if isinstance(e, TimeoutError) else e,
            )

    async def _check_admin(self) -> None:
        """The admin API needs the assistant to be a server admin: say so early if not."""
        url = (
            f"{self.cfg.homeserver.address}/_synapse/admin/v1/users/{self.cfg.assistant_mxid}/admin"
        )
        headers = {"Authorization": f"Bearer {self.cfg.appservice.as_token}"}
        params = {"user_id": self.cfg.assistant_mxid}
        try:
            async with self.az.http_session.get(url, headers=headers, params=params) as resp:
                admin = resp.status == 200 and (await resp.json()).get("admin") is True
        except aiohttp.ClientError:
            admin = False
        if not admin:
            log.warning(
                "%s is not a Synapse server admin; account management will fail. "
                "See the README, section 'Deploying against your Synapse'.",
                self.cfg.assistant_mxid,
            )

    async def health(self) -> dict[str, bool]:
        checks = {"running": self.started, "database": False, "encryption": False}
        try:
            checks["database"] = await self.db.main.fetchval("SELECT 1") == 1
        except Exception:
            pass
        checks["encryption"] = self.started and not self.device.sync_failed.is_set()
        return checks

    async def _handle_event(self, evt: Event) -> None:
        if isinstance(evt, StateEvent):
            await self.state_store.update_state(evt)
        if evt.type in (EventType.ROOM_MEMBER, EventType.ROOM_ENCRYPTED):
            await self.assistant.handle_event(evt)
        for observer in self.room_observers:
            try:
                await observer(evt)
            except Exception:
                # An observer's failure must not make the inbox hand the event to the
                # assistant a second time.
                log.exception("room observer failed on %s in %s", evt.event_id, evt.room_id)


def setup_logging(level: str) -> None:
    """Plain lines on stderr; message text is never logged anywhere."""
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # mautrix logs request bodies at DEBUG: keep them out even in debug mode. Libraries that
    # chat at INFO (access log, mautrix's "not cross-signed" warnings) only speak up on trouble.
    quiet = {
        "lotse.mautrix": logging.INFO,
        "mau": logging.INFO,
        "lotse.e2ee.client": logging.INFO,
        "mau.crypto": logging.ERROR,
        "aiohttp.access": logging.WARNING,
        "nio": logging.WARNING,
        "mail.log": logging.WARNING,
    }
    for name, floor in quiet.items():
        logging.getLogger(name).setLevel(max(floor, getattr(logging, level)))


async def serve(cfg: Config, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = LotseApp(cfg)
    await app.start()
    try:
        await stop.wait()
    finally:
        await app.stop()


def run(cfg: Config) -> int:
    setup_logging(cfg.logging.level)
    try:
        asyncio.run(serve(cfg))
    except OSError as e:
        log.error("cannot start: %s", e)
        return 1
    return 0
