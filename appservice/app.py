"""Composition root: builds the pieces from the config, starts them in order, stops them."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from mautrix.appservice import AppService, IntentAPI
from mautrix.errors import MatrixError, MatrixRequestError
from mautrix.types import Event, EventType, StateEvent, UserID
from mautrix.util.async_db import UnsupportedDatabaseVersion

from .admin_api import SynapseAdmin
from .config import Config
from .db import Inbox, LotseDatabase, Person
from .e2ee import AssistantDevice
from .i18n import Renderer
from .metrics import REGISTRY, UP
from .scheduler import Scheduler
from .state_store import LotseStateStore
from .transactions import TransactionReceiver
from .web import add_operator_routes

log = logging.getLogger("lotse")

STOP_SECONDS = 30.0
PING_SECONDS = 10.0
# How long the first look at the homeserver may take before the start gives up.
HOMESERVER_SECONDS = 10.0


class StartError(Exception):
    """A start that cannot succeed, said in one line an operator can act on."""


class ListenFailed(StartError):
    """The web listener's port is taken (``lotse dev`` then tries another one)."""


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
        self.db = LotseDatabase(
            cfg.database.url,
            db_args=db_args,
            max_connections=cfg.database.max_connections,
        )
        self.state_store = LotseStateStore(self.db.state_db)
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
            cfg.appservice.hs_token, self._handle_event, cfg.appservice.max_transaction_bytes
        )
        self.receiver.register_routes(self.az.app)
        add_operator_routes(self.az.app, self.health)
        # The invitation page: routes must exist before the listener starts (bots/ on top).
        from bots.invitation_page import add_invitation_routes

        add_invitation_routes(self)
        from bots.booking.shell.ical import add_calendar_routes

        add_calendar_routes(self.az.app, self.cfg.homeserver.domain)
        self.scheduler = Scheduler()
        self.room_observers: list[RoomObserver] = []
        self.mail_sender: Any = None
        self.mail: Any = None
        if cfg.mail.enabled:
            # Before the device: a broken mail template refuses the start here, before
            # anything holds a connection that would have to be closed.
            self.mail = self._build_mail()
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
        self.assistant = self._build_assistant()
        from bots import deletion_routine  # the bots sit on top of the plumbing (see below)

        deletion_routine.schedule(self.scheduler, self.assistant.services)
        from bots.booking.shell import jobs as booking_jobs

        booking_jobs.schedule(self.scheduler, self.assistant.services)
        # Service rooms from before v18, or a replacement a restart cut short: at once, then hourly.
        renew = self.assistant.service_rooms.renew_due
        self.scheduler.every("service_rooms", renew, seconds=3600, at_start=True)
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
        from mailgateway.render import TemplateProblem

        mail_metrics.register(REGISTRY)
        try:
            gateway = MailGateway(
                self.cfg,
                self.state_store,
                on_permanent_failure=self._mail_failed,
                on_bouncing=self._address_bouncing,
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

    async def _mail_failed(self, recipient: str, kind: str) -> None:
        """A mail failed for good: the person's centre admins hear which person and kind."""
        log.warning("a %s notification could not be delivered (permanent SMTP failure)", kind)
        await self._tell_admins_about(recipient, "mail_failed_admin", kind=kind)

    async def _address_bouncing(self, address: str) -> None:
        await self._tell_admins_about(address, "mail_bouncing_admin")

    async def _tell_admins_about(self, address: str, template: str, **variables: Any) -> None:
        """The transaction key names person, kind and day: a repeated hook posts once."""
        from mailgateway.preferences import Preferences

        day = time.strftime("%Y-%m-%d", time.gmtime())
        for user_id in await Preferences.people_with_address(address):
            person = await Person.get(user_id)
            if person is not None:
                cause = f"{template}-{variables.get('kind', '')}-{user_id}-{day}"
                await self.assistant.services.tell_admins(
                    person.centre_id, template, cause=cause, who=person.name, **variables
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
        from bots.booking.shell import calendar as booking_calendar  # noqa: F401
        from bots.booking.shell import commands as booking_commands  # noqa: F401
        from bots.booking.shell import groups as booking_groups  # noqa: F401
        from bots.booking.shell import ical  # noqa: F401
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
