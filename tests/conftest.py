"""Fixtures: a real Synapse with Lotse registered, the running appservice, real people.

One Synapse serves the whole session (it starts in about 2 s); the appservice can be stopped
and started by tests that check restarts. PostgreSQL comes from LOTSE_TEST_POSTGRES, Redis (for
a Synapse with workers) from LOTSE_TEST_REDIS. With LOTSE_TEST_SYNAPSE_WORKERS=1 the session's
Synapse is a worker deployment (main process, one generic worker, Redis, PostgreSQL) behind a
routing proxy, so the whole suite runs against it (one such run per Redis at a time: its
replication channels are named after the fixed test domain).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from yarl import URL

from appservice.app import LotseApp
from appservice.config import Config
from appservice.contact_data import ContactData
from appservice.db import LotseDatabase
from appservice.dev.client import Human
from appservice.dev.stack import start_synapse, write_stack_config
from appservice.dev.synapse_runner import SynapseProcess, free_port, make_server_admins
from appservice.dev.synapse_workers import WorkerDeployment, write_worker_configs
from bots.framework.services import BotServices
from bridge.people import Directory
from mailgateway.notices import MailNotices
from mailgateway.rows import MailRows

# Databases a test opens beside the app seal contact data with their own key (``opened``);
# the app seals with its config's. Nothing is process-wide: each database has its own.
TEST_CONTACT_KEY = "lotse test contact key"


DOMAIN = "lotse.test"
# Centre "south" has its own logo; the others show the compass shipped in templates/.
SOUTH_LOGO = Path(__file__).parent / "logo_south.png"
TEST_CENTRES = f"""centres:
    - id: nord
      name: Beratungsstelle Nord
      language: de
      admins: ["@admin-nord:{DOMAIN}"]
      master_data:
          - {{key: age_group, label: {{de: Altersgruppe, en: Age group}}}}
          - {{key: postcode, label: PLZ}}
    - id: south
      name: Counselling Centre South
      language: en
      admins: []
      avatar: {SOUTH_LOGO}
    - id: west
      name: Beratungsstelle West
      language: de
      admins: []
      topics:
          - {{id: family, de: Familie, en: Family}}
          - {{id: addiction, de: Sucht, en: Addiction}}
    - id: ost
      name: Beratungsstelle Ost
      language: de
      admins: []
      live_chat:
          hours: {{mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00",
                  thu: "00:00-24:00", fri: "00:00-24:00", sat: "00:00-24:00",
                  sun: "00:00-24:00"}}
          capacity: 1
          web_client: "https://chat.ost.test/element/"
          starts_per_minute: 100
          accounts_per_hour: 1000
"""

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "127.0.0.1:6379"
# Synapse refuses a PostgreSQL database whose collation is not C (its docs/postgres.md).
SYNAPSE_DATABASE = "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"


@dataclass
class Stack:
    directory: Path
    cfg: Config
    synapse: SynapseProcess | WorkerDeployment


class Lotse:
    """The appservice under test, restartable on the same database."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.app: LotseApp | None = None

    async def start(self) -> LotseApp:
        self.app = LotseApp(self.cfg)
        await self.app.start()
        return self.app

    async def stop(self) -> None:
        if self.app is not None and self.app.started:
            await self.app.stop()

    async def restart(self) -> LotseApp:
        await self.stop()
        return await self.start()


class MailSink:
    """A real SMTP server (aiosmtpd) that keeps what the running Lotse sends."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[list[str], bytes]] = []
        self.refuse: set[str] = set()  # recipients answered with a permanent 550
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(  # noqa: N802
        self, server: object, session: object, envelope: Any, address: str, options: object
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture(scope="session")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, mail_sink: MailSink
) -> AsyncIterator[Stack]:
    directory = tmp_path_factory.mktemp("stack")
    hs_port = free_port()
    cfg = write_stack_config(
        directory,
        hs_port=hs_port,
        as_port=free_port(),
        domain=DOMAIN,
        centres_yaml=TEST_CENTRES,
        mail_port=mail_sink.port,
    )
    if os.environ.get("LOTSE_TEST_SYNAPSE_WORKERS"):
        async with worker_deployment(directory, cfg, hs_port) as deployment:
            yield Stack(directory, cfg, deployment)
        return
    synapse = await start_synapse(directory, cfg)
    yield Stack(directory, cfg, synapse)
    await synapse.stop()


@pytest.fixture(scope="session")
async def lotse(stack: Stack) -> AsyncIterator[Lotse]:
    runner = Lotse(stack.cfg)
    await runner.start()
    yield runner
    await runner.stop()


@pytest.fixture
async def running(lotse: Lotse) -> LotseApp:
    """The appservice, started again if an earlier test left it stopped."""
    if lotse.app is None or not lotse.app.started:
        await lotse.start()
    assert lotse.app is not None
    return lotse.app


MakeHuman = Callable[..., Awaitable[Human]]


@pytest.fixture
def rows(running: LotseApp) -> MailRows:
    """The running app's tables (its Rows and the mail gateway's, on its database)."""
    return running.mail_rows


@pytest.fixture
async def make_human(stack: Stack, running: LotseApp, tmp_path: Path) -> AsyncIterator[MakeHuman]:
    """Create people: ``await make_human("anna", centre="nord", role="client")``.

    ``centre=None`` makes a stranger who belongs to no centre.
    """
    made: list[Human] = []

    async def make(name: str, centre: str | None = "nord", role: str = "client") -> Human:
        localpart = f"{name}-{secrets.token_hex(3)}"
        human = await Human.create(
            stack.synapse.base_url,
            stack.synapse.shared_secret,
            DOMAIN,
            localpart,
            tmp_path / localpart,
        )
        if centre is not None:
            await running.assistant.directory.register(human.user_id, centre, role)
        made.append(human)
        return human

    yield make
    for human in made:
        await human.close()


async def join_control_room(app: LotseApp, human: Human) -> str:
    """Make an admin a member of their centre's admin control room, as real admins are.

    ``make_human`` only registers people; admins made by `counsellor new` or the config are
    invited at once. Returns the room id once the assistant's welcome arrived (so its room key
    reached the admin's device).
    """

    person = await app.rows.Person.get(human.user_id)
    assert person is not None and person.role == "admin"
    assert app.assistant.centre_rooms is not None
    await app.assistant.centre_rooms.follow(person)
    room_id = await app.rows.CentreRoom.get(person.centre_id, "admin")
    assert room_id is not None
    await human.wait_until(lambda: room_id in human.invites, 30, f"an invite to {room_id}")
    human.invites.discard(room_id)
    await human.client.join(room_id)
    await human.sync()
    bot = app.cfg.assistant_mxid
    await human.wait_until(
        lambda: any(human.user_id in n.body for n in human.notices(room_id, bot)),
        30,
        "the welcome in the admin control room",
    )
    return room_id


# --- databases ------------------------------------------------------------------------------


def _postgres_url() -> tuple[str, bool]:
    """The server URL and whether the operator demanded it (then it must not be skipped)."""
    url = os.environ.get("LOTSE_TEST_POSTGRES")
    return (url, True) if url else (DEFAULT_POSTGRES, False)


@asynccontextmanager
async def fresh_postgres(options: str = "") -> AsyncIterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; ``options`` go to CREATE DATABASE."""
    server, required = _postgres_url()
    try:
        admin = await asyncpg.connect(server, timeout=5)
    except (OSError, asyncpg.PostgresError) as e:
        if required:
            raise
        pytest.skip(f"PostgreSQL not reachable at {server} ({e}); set LOTSE_TEST_POSTGRES")
    name = f"lotse_test_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}" {options}')
    try:
        yield str(URL(server).with_path(f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def opened(url: str, contact: ContactData | None = None) -> AsyncIterator[LotseDatabase]:
    """A started LotseDatabase on ``url`` (contact data sealed under ``contact``, else the
    tests' own key): tests read and write its tables through ``db.rows`` (and
    ``MailRows(db)``), never the app's."""
    db = LotseDatabase(url, contact or ContactData(TEST_CONTACT_KEY))
    await db.start()
    try:
        yield db
    finally:
        await db.stop()


def services_on(services: BotServices, db: LotseDatabase) -> BotServices:
    """The app's command services with every table on ``db`` instead of the app's own: a
    command run with them reads and writes ``db`` only (tests on both backends)."""
    mail_rows = MailRows(db)
    mail = services.mail
    return dataclasses.replace(
        services,
        rows=db.rows,
        mail_rows=mail_rows,
        directory=Directory(services.directory.cfg, db.rows),
        mail=None if mail is None else MailNotices(mail.cfg, mail_rows, wake=mail.wake),
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The same test on both backends: a fresh database each time."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'lotse.db'}"
        return
    async with fresh_postgres() as url:
        yield url


# --- Synapse with workers ---------------------------------------------------------------------


async def _redis_answers(host: str, port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"PING\r\n")
        return (await asyncio.wait_for(reader.readline(), 5)).startswith(b"+PONG")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def redis_address() -> tuple[str, int]:
    """Redis for Synapse's replication: skipped with the reason if none answers, unless the run
    demands it (LOTSE_TEST_REDIS or LOTSE_TEST_SYNAPSE_WORKERS given, or CI), then failed."""
    given = os.environ.get("LOTSE_TEST_REDIS")
    host, _, port = (given or DEFAULT_REDIS).rpartition(":")
    if not await _redis_answers(host, int(port)):
        reason = f"Redis not reachable at {host}:{port}; set LOTSE_TEST_REDIS=HOST:PORT"
        demanded = given or os.environ.get("LOTSE_TEST_SYNAPSE_WORKERS")
        if demanded or os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return host, int(port)


@asynccontextmanager
async def worker_deployment(
    directory: Path, cfg: Config, public_port: int
) -> AsyncIterator[WorkerDeployment]:
    """The stack's Synapse as main process + one generic worker (which sends the appservice
    transactions) on a fresh PostgreSQL database and Redis, behind a router on ``public_port``
    (the port ``write_stack_config`` was given), the assistant and sender made server admins."""
    host, port = await redis_address()
    async with fresh_postgres(SYNAPSE_DATABASE) as database_url:
        write_worker_configs(
            directory / "synapse", database_url=database_url, redis_host=host, redis_port=port
        )
        deployment = WorkerDeployment(directory / "synapse", public_port)
        await deployment.start()
        try:
            # Straight to the main process: its negative "no such user" cache would otherwise
            # refuse the promotion until the worker's registration of the bot replicated.
            await make_server_admins(
                deployment.main.base_url,
                deployment.shared_secret,
                [cfg.assistant_mxid, cfg.sender_mxid],
                as_token=cfg.appservice.as_token,
            )
            yield deployment
        finally:
            await deployment.stop()
