"""Composition root: builds every part from the config, starts them in order, stops them.

Every part is imported at the top of this module and gets what it needs in its constructor
(or, where it exists only once Lotse has started, as an argument of ``start``); no part finds
another through a module global (one is left: the row classes' database, appservice/db).
This is the one module that may import from every layer: bots on top of bridge and the mail
gateway, those on top of the rest of appservice (the import contracts in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from mautrix.appservice import AppService, IntentAPI
from mautrix.errors import MatrixError, MatrixRequestError
from mautrix.types import Event, EventType, StateEvent, UserID
from mautrix.util.async_db import UnsupportedDatabaseVersion

from appservice.admin_api import AdminApiError, SynapseAdmin
from appservice.config import Config
from appservice.contact_data import ContactData
from appservice.db import LotseDatabase
from appservice.e2ee import AssistantDevice
from appservice.i18n import Renderer
from appservice.metrics import REGISTRY, UP
from appservice.scheduler import Scheduler
from appservice.state_store import LotseStateStore
from appservice.transactions import TransactionReceiver
from appservice.web import add_operator_routes
from bots.accounts import (
    anonymous_registration,
    data_export,
    deletion_routine,
    inactive_accounts,
    invitations,
    profile,
    self_service,
)
from bots.assistant import Assistant
from bots.booking.shell import blockers as booking_blockers
from bots.booking.shell import calendar as booking_calendar
from bots.booking.shell import commands as booking_commands
from bots.booking.shell import groups as booking_groups
from bots.booking.shell import ical as booking_ical
from bots.booking.shell import jobs as booking_jobs
from bots.booking.shell import videolink as booking_videolink
from bots.booking.shell.ical import add_calendar_routes
from bots.centre import centre_messages, counsellors, settings
from bots.framework import general
from bots.framework.commands import CommandRegistry
from bots.framework.services import PageParts
from bots.groups import groups
from bots.livechat import commands as livechat_commands
from bots.mail import mail_settings
from bots.mail.alerts import MailAlerts
from bots.monitoring import commands as monitoring
from bots.monitoring.setup import check_forms
from bots.records import audit, client_admin, clients, documents, notes, retention
from bots.requests import absences, availability, requests, transfer, triage
from bots.requests.lifecycle import OVERDUE_EVERY_SECONDS, OVERDUE_JOB, RequestLifecycle
from bots.topicchats import chats as topic_chats
from bots.web.invitation_page import add_invitation_routes
from bridge.centre_rooms import CentreRooms
from bridge.counselling_rooms import CounsellingRooms
from bridge.people import Directory
from bridge.room_looks import RoomLooks
from bridge.service_rooms import ServiceRooms
from mailgateway import metrics as mail_metrics
from mailgateway.gateway import MailGateway
from mailgateway.render import TemplateProblem
from mailgateway.rows import MailRows
from mailgateway.sender import MailSender

log = logging.getLogger("lotse")

STOP_SECONDS = 30.0
PING_SECONDS = 10.0
# How long the first look at the homeserver may take before the start gives up.
HOMESERVER_SECONDS = 10.0
# bot_state key: the look (bridge/room_looks.py) every service room was last given.
SERVICE_ROOM_LOOKS = "service_room_looks"


class StartError(Exception):
    """A start that cannot succeed, said in one line an operator can act on."""


class ListenFailed(StartError):
    """The web listener's port is taken (``lotse dev`` then tries another one)."""


# Sees every room event after the assistant (e.g. the steward noticing a message arrive in
# a counselling room: sender, room, time; never content).
RoomObserver = Callable[[Event], Awaitable[None]]


def check_config_parts(cfg: Config) -> None:
    """What a config names beyond itself, checked before anything starts: the monitoring
    form of each centre (a broken one raises the one-line ConfigError)."""
    check_forms(cfg)


def command_registry() -> CommandRegistry:
    """Every command the assistant answers, each capability module's own registry.

    The order is the one in which the modules used to register themselves on import: it
    decides nothing but which of two same-named commands for different roles comes first.
    """
    return CommandRegistry().include(
        absences.registry,
        audit.registry,
        availability.registry,
        centre_messages.registry,
        mail_settings.registry,
        requests.registry,
        transfer.registry,
        clients.registry,
        client_admin.registry,
        counsellors.registry,
        notes.registry,
        documents.registry,
        general.registry,
        groups.registry,
        invitations.registry,
        profile.registry,
        settings.registry,
        triage.registry,
        data_export.registry,
        self_service.registry,
        monitoring.registry,
        booking_commands.registry,
        booking_calendar.registry,
        booking_blockers.registry,
        booking_groups.registry,
        booking_ical.registry,
        booking_videolink.registry,
        livechat_commands.registry,
        topic_chats.registry,
        anonymous_registration.registry,
    )


class _LotseAppService(AppService):
    """mautrix's AppService for intents and the HTTP session; transactions are ours."""

    def register_routes(self, app: Any) -> None:  # noqa: D102 - replaced by TransactionReceiver
        return None


class LotseApp:
    def __init__(self, cfg: Config, db_args: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        # Contact data is sealed with the config's key, also by the upgrade that seals old
        # rows; values under a previous key still open while `lotse rotate-key` runs.
        enc = cfg.encryption
        self.db = LotseDatabase(
            cfg.database.url,
            ContactData(enc.sealing_key, enc.previous_sealing_keys),
            db_args=db_args,
            max_connections=cfg.database.max_connections,
        )
        # Every part gets its tables from these (bound to this app's database), never from
        # a module global: two apps in one process keep to their own.
        self.rows = self.db.rows
        self.mail_rows = MailRows(self.db)
        self.state_store = LotseStateStore(self.db.state_db, self.db.rows.ErasedPerson)
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
        self.receiver = TransactionReceiver(
            cfg.appservice.hs_token,
            self._handle_event,
            cfg.appservice.max_transaction_bytes,
            self.db.rows.Inbox,
        )
        self.receiver.register_routes(self.az.app)
        add_operator_routes(self.az.app, self.health)
        # The invitation, registration and reset pages: routed before the listener starts,
        # given the assistant's services once it runs.
        self.web_parts = PageParts(cfg, self.rows, self.mail_rows)
        add_invitation_routes(self.az.app, self.web_parts)
        add_calendar_routes(self.az.app, self.cfg, self.rows)
        self.scheduler = Scheduler()
        self.room_observers: list[RoomObserver] = []
        self.mail_sender: MailSender | None = None
        self.mail: MailGateway | None = None
        if cfg.mail.enabled:
            # Before the device: a broken mail template refuses the start here, before
            # anything holds a connection that would have to be closed.
            self.mail = self._build_mail()
        self.device = AssistantDevice(
            homeserver=cfg.homeserver.address,
            user_id=UserID(cfg.assistant_mxid),
            as_token=cfg.appservice.as_token,
            pickle_key=cfg.encryption.pickle_key,
            sealing_key=cfg.encryption.sealing_key,
            previous_sealing_keys=cfg.encryption.previous_sealing_keys,
            device_name=cfg.encryption.device_name,
            db=self.db,
            state_store=self.state_store,
            session_wait_seconds=cfg.encryption.session_wait_seconds,
        )
        self.own_users = {cfg.assistant_mxid, cfg.steward_mxid, cfg.sender_mxid}
        # How long each part may take to stop (see stop()).
        self.stop_seconds = STOP_SECONDS
        self.started = False

    async def start(self) -> None:
        """Start every part in order; a failure raises (the caller then calls :meth:`stop`)."""
        problems = self.renderer.check_templates()
        if problems:
            raise StartError("broken templates: " + "; ".join(problems))
        await self._check_homeserver()
        try:
            await self.db.start()
        except UnsupportedDatabaseVersion as e:
            raise StartError(
                f"the database is newer than this Lotse ({e}); downgrading is not supported: "
                "run the newer Lotse again or restore the backup made before the upgrade"
            ) from e
        except Exception as e:
            raise StartError(f"cannot open the database (database.url): {_one_line(e)}") from e
        hostname, port = self.cfg.appservice.hostname, self.cfg.appservice.port
        try:
            # The listener must run before the device is touched (see appservice/e2ee.py).
            await self.az.start(hostname, port)
        except OSError as e:
            raise ListenFailed(
                f"cannot listen on {hostname}:{port} (appservice.hostname, appservice.port): "
                f"{e.strerror or _one_line(e)}"
            ) from e
        await self._ping()
        self.assistant_intent = self.az.intent.user(UserID(self.cfg.assistant_mxid))
        self.steward_intent = self.az.intent.user(UserID(self.cfg.steward_mxid))
        await self._ensure_bot(self.assistant_intent, self.cfg.bots.assistant.displayname)
        await self._ensure_bot(self.steward_intent, self.cfg.bots.steward.displayname)
        await self.device.start()
        # Pictures first: every room made from now on carries its centre's at creation.
        self.room_looks = RoomLooks(self.cfg, self.rows, self.renderer, self.assistant_intent)
        await self.room_looks.prepare()
        self.assistant = self._build_assistant()
        services = self.web_parts.services = self.assistant.services
        deletion_routine.schedule(self.scheduler, services)
        # Answered and overdue requests, the absence assistant: a room observer and a job.
        lifecycle = RequestLifecycle(services, set(self.own_users))
        self.room_observers.append(lifecycle.observe)
        self.scheduler.every(OVERDUE_JOB, lifecycle.overdue, seconds=OVERDUE_EVERY_SECONDS)
        inactive_accounts.schedule(self.scheduler, services)
        retention.schedule(self.scheduler, self.cfg.retention, services.mail_rows)
        self.assistant.steps.update(self_service.STEPS)
        booking_jobs.schedule(self.scheduler, services)
        topic_chats.schedule(self.scheduler, services)
        # Service rooms from before v18, or a replacement a restart cut short: at once, then hourly.
        renew = self.assistant.service_rooms.renew_due
        self.scheduler.every("service_rooms", renew, seconds=3600, at_start=True)
        # Rooms from before they were named, or a new centre name or logo: in the background.
        looks = self._refresh_service_room_looks
        self.scheduler.every("service_room_looks", looks, seconds=3600, at_start=True)
        await self.assistant.directory.sync_config_admins()
        await self.centre_rooms.ensure_all()
        await self._check_admin(services.admin)
        await services.rows.Inbox.prune()
        if self.mail is not None:
            # After the assistant: a failed or bouncing mail is told to admins through it.
            alerts = MailAlerts(services)
            await self.mail.start(
                on_permanent_failure=alerts.mail_failed, on_bouncing=alerts.address_bouncing
            )
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

    def _build_mail(self) -> MailGateway:
        """The mail gateway: sender, `notify`, new-message digests, confirmation page, IMAP."""
        mail_metrics.register(REGISTRY)
        try:
            gateway = MailGateway(
                self.cfg, self.state_store, rows=self.mail_rows, identity=self._identity
            )
        except TemplateProblem as e:
            raise StartError(f"broken mail template (mail.templates_dir): {_one_line(e)}") from e
        gateway.add_routes(self.az.app)
        self.room_observers.append(gateway.notifier.observe)
        self.receiver.ephemeral_handlers.append(gateway.notifier.receive_ephemeral)
        interval = self.cfg.mail.notice_interval
        self.scheduler.every("mail-notices", gateway.notifier.run_due, seconds=interval)
        self.scheduler.every("mail-confirmations", gateway.prune, seconds=3600)
        return gateway

    async def _refresh_service_room_looks(self) -> None:
        """Walk the service rooms only when their look changed since the last complete walk."""
        signature = self.room_looks.service_rooms_signature()
        if await self.db.get_state(SERVICE_ROOM_LOOKS) == signature:
            return
        if await self.assistant.service_rooms.refresh_looks():
            await self.db.set_state(SERVICE_ROOM_LOOKS, signature)
            log.info("every service room has its current name, topic and picture")

    def _identity(self) -> str:
        """The assistant's fingerprint for the web pages ("" until its device started)."""
        device = getattr(self, "device", None)
        return device.identity if device is not None else ""

    def _build_assistant(self) -> Assistant:
        """The bridge parts the bots act through, and the assistant that holds them."""
        self.centre_rooms = CentreRooms(
            self.assistant_intent,
            self.steward_intent,
            self.cfg,
            self.room_looks,
            self.rows,
            identity=self.device.identity,
        )
        return Assistant(
            rows=self.rows,
            mail_rows=self.mail_rows,
            intent=self.assistant_intent,
            device=self.device,
            directory=Directory(self.cfg, self.rows),
            service_rooms=ServiceRooms(self.assistant_intent, self.room_looks, self.rows),
            registry=command_registry(),
            renderer=self.renderer,
            own_users=self.own_users,
            counselling_rooms=CounsellingRooms(self.steward_intent, self.room_looks),
            centre_rooms=self.centre_rooms,
            mail=self.mail.notices if self.mail is not None else None,
            admin=SynapseAdmin(
                self.az.http_session,
                self.cfg.homeserver.address,
                self.cfg.appservice.as_token,
                self.cfg.assistant_mxid,
            ),
        )

    async def stop(self) -> None:
        """Stop every part in turn; none may hold up the shutdown for long.

        A part that does not stop within ``stop_seconds`` is logged and left behind, so that
        SIGTERM always ends the process (e.g. the SQLite pool waits for a connection that a
        stuck task still holds).
        """
        UP.set(0)
        was_running, self.started = self.started, False
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
            except Exception:
                # E.g. a part a failed start never reached: the others must stop all the same.
                log.debug("stopping the %s failed", name, exc_info=True)
        if was_running:
            log.info("Lotse stopped")

    async def _ensure_bot(self, intent: IntentAPI, displayname: str) -> None:
        await intent.ensure_registered()
        try:
            if await intent.get_displayname(intent.mxid) != displayname:
                await intent.set_displayname(displayname)
        except MatrixError as e:
            log.warning("could not set display name of %s: %s", intent.mxid, e)

    async def _check_homeserver(self) -> None:
        """Refuse to start, quickly and clearly, when the homeserver does not answer."""
        address = self.cfg.homeserver.address
        timeout = aiohttp.ClientTimeout(total=HOMESERVER_SECONDS)
        connector = aiohttp.TCPConnector(ssl=self.cfg.homeserver.verify_ssl)
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
                async with http.get(f"{address}/_matrix/client/versions") as resp:
                    status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            reason = "no answer" if isinstance(e, TimeoutError) else _one_line(e)
            raise StartError(
                f"the homeserver at {address} (homeserver.address) is not reachable: {reason}"
            ) from e
        if status != 200:
            raise StartError(
                f"{address} (homeserver.address) answered /_matrix/client/versions with "
                f"HTTP {status}: is it a Matrix homeserver?"
            )

    async def _ping(self) -> None:
        """A successful ping makes Synapse resend held-back transactions now, not after backoff."""
        try:
            # Only a hurry-up for Synapse: never hold up the start for long.
            await asyncio.wait_for(self.az.ping_self(), timeout=PING_SECONDS)
        except (MatrixError, aiohttp.ClientError, TimeoutError) as e:
            if isinstance(e, MatrixRequestError) and e.errcode == "M_UNKNOWN_TOKEN":
                raise  # not registered with this homeserver: nothing else will work either
            log.warning(
                "homeserver could not reach us at %s: %s",
                self.cfg.appservice.address,
                type(e).__name__ if isinstance(e, TimeoutError) else e,
            )

    async def _check_admin(self, admin: SynapseAdmin) -> None:
        """The admin API needs the assistant to be a server admin: say so early if not."""
        try:
            is_admin = await admin.is_admin(self.cfg.assistant_mxid)
        except (AdminApiError, aiohttp.ClientError):
            is_admin = False
        if not is_admin:
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
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives; a failed start raises.

    Whatever happens, every part is stopped before this returns: a part left running (the
    SQLite pool's thread) would keep the process alive after a failed start.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = LotseApp(cfg)
    starting = asyncio.create_task(app.start(), name="lotse-start")
    stopped = asyncio.create_task(stop.wait(), name="lotse-stop-signal")
    try:
        # A signal during a slow start (a homeserver that hangs) ends the start too.
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            await stopped
    finally:
        for task in (starting, stopped):
            task.cancel()
        await asyncio.gather(starting, stopped, return_exceptions=True)
        await app.stop()


def _one_line(error: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def start_failure(error: BaseException) -> str:
    """What an operator reads when the start failed: one line, no traceback."""
    if isinstance(error, StartError):
        return str(error)
    if isinstance(error, MatrixRequestError) and error.errcode == "M_UNKNOWN_TOKEN":
        return (
            f"the homeserver does not know our as_token ({error.errcode}): is registration.yaml "
            "listed in Synapse's app_service_config_files, and Synapse restarted since?"
        )
    if isinstance(error, MatrixError):
        return f"the homeserver refused a request at start: {_one_line(error)}"
    return f"{type(error).__name__}: {_one_line(error)}"


def run(cfg: Config) -> int:
    """``lotse run``: 0 after a clean stop; 1 with one line on stderr if the start failed."""
    setup_logging(cfg.logging.level)
    try:
        asyncio.run(serve(cfg))
    except Exception as e:
        log.debug("the start failed", exc_info=True)
        log.error("cannot start: %s", start_failure(e))
        return 1
    return 0
