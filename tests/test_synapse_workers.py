"""Lotse, unchanged, behind a Synapse scaled out with a generic worker, PostgreSQL and Redis.

The deployment is the one docs/operating.md describes: a main process and one generic worker
on one PostgreSQL database, replication over Redis, the worker sending the appservice
transactions (``notify_appservices_from_worker``), and a reverse proxy on the public address
that routes what a generic worker serves (/sync, /send, createRoom, keys, login …) to it.
Lotse (on its own PostgreSQL database) and the people's clients only know the public address.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appservice.app import LotseApp
from appservice.config import Config
from appservice.dev.client import Human, ask
from appservice.dev.stack import write_stack_config
from appservice.dev.synapse_runner import free_port
from appservice.dev.synapse_workers import WorkerDeployment
from tests.conftest import Lotse, fresh_postgres, worker_deployment

pytestmark = pytest.mark.synapse

CENTRES = """centres:
    - id: nord
      name: Beratungsstelle Nord
      language: de
      admins: []
"""


@dataclass
class Scaled:
    deployment: WorkerDeployment
    cfg: Config
    app: LotseApp


@pytest.fixture
async def scaled(lotse: Lotse, tmp_path: Path) -> AsyncIterator[Scaled]:
    """The worker deployment with a Lotse on PostgreSQL in front of it.

    The session's Lotse pauses meanwhile (row classes bind to one database per process).
    """
    async with fresh_postgres() as lotse_db:
        public_port = free_port()
        cfg = write_stack_config(
            tmp_path,
            hs_port=public_port,
            as_port=free_port(),
            # Synapse names its Redis channels after the server: an own name keeps other
            # Synapses on the same Redis (other test runs) out of this one's replication.
            domain=f"w{secrets.token_hex(4)}.test",
            database_url=lotse_db,
            centres_yaml=CENTRES,
        )
        async with worker_deployment(tmp_path, cfg, public_port) as deployment:
            await lotse.stop()
            app = LotseApp(cfg)
            try:
                await app.start()
                yield Scaled(deployment, cfg, app)
            finally:
                await app.stop()
                await lotse.start()


async def test_lotse_works_behind_a_generic_worker(scaled: Scaled, tmp_path: Path) -> None:
    """Through the worker deployment, the assistant creates a client's encrypted service room,
    welcomes them and answers `hilfe` encrypted: the client's join and message reach Lotse in
    transactions that the worker sent (its log has them, the main process's has none), and
    the client's and Lotse's /sync, sends, room creation and key requests went to the worker."""
    started = time.monotonic()
    app, deployment = scaled.app, scaled.deployment
    bot = scaled.cfg.assistant_mxid
    localpart = f"anna-{secrets.token_hex(3)}"
    anna = await Human.create(
        deployment.base_url,
        deployment.shared_secret,
        scaled.cfg.homeserver.domain,
        localpart,
        tmp_path / localpart,
    )
    try:
        person = await app.assistant.directory.register(anna.user_id, "nord", "client")
        room_id = await app.assistant.service_rooms.create_for(person)
        assert await anna.join_invite() == room_id
        welcome = await anna.next_notice(room_id, bot, 0)
        assert welcome.encrypted and "Beratungsstelle Nord" in welcome.body
        reply = await ask(anna, room_id, bot, "hilfe")
        assert reply.encrypted and "hilfe" in reply.body.lower()
    finally:
        await anna.close()

    transactions = f"PUT http://127.0.0.1:{scaled.cfg.appservice.port}/_matrix/app/v1/transactions/"
    assert f"Received response to {transactions}" in deployment.log(deployment.worker)
    assert transactions not in deployment.log(deployment.main)
    routed = deployment.router.routed
    for kind in ("sync", "send", "createRoom", "keys"):
        assert routed[("worker", kind)] > 0, f"no {kind} request went to the worker: {routed}"
    print(f"worker deployment round trip: {time.monotonic() - started:.1f} s")
