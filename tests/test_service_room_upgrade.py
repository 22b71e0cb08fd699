"""An installation from before v18 gets private service rooms: upgrade, start, and again.

Its own Synapse and ``lotse run`` as a real process, on a database exactly as v15 left it
(both backends): a service room created as Lotse created them then (``trusted_private_chat``
by the assistant, so the person is a creator of it) and the person's row as it was written.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from mautrix.util.async_db import Database, UpgradeTable

from appservice.config import Config
from appservice.db.upgrade import upgrade_table
from appservice.dev.client import Human, ask
from appservice.dev.stack import start_synapse, write_stack_config
from appservice.dev.synapse_runner import free_port
from bridge.service_rooms import ENCRYPTION_STATE
from tests.conftest import DOMAIN, TEST_CENTRES
from tests.test_private_rooms import _new_room_from

pytestmark = pytest.mark.synapse

V15 = 15
JOB = 'lotse_job_runs_total{job="service_rooms",outcome="ok"}'


async def _as_assistant(
    cfg: Config, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """A client-server API call as the assistant, the way Lotse makes them (as_token)."""
    url = f"{cfg.homeserver.address}/_matrix/client/v3{path}"
    headers = {"Authorization": f"Bearer {cfg.appservice.as_token}"}
    params = {"user_id": cfg.assistant_mxid}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, json=body, headers=headers, params=params) as resp:
            return resp.status, await resp.json()


async def _joined_rooms(cfg: Config) -> set[str]:
    status, body = await _as_assistant(cfg, "GET", "/joined_rooms")
    assert status == 200, body
    return set(body["joined_rooms"])


async def _database_as_v15_left_it(url: str, user_id: str, room_id: str) -> None:
    """The schema of v15 and the person's row as Lotse wrote it then (welcomed there)."""
    table = UpgradeTable(version_table_name="lotse_version", database_name="Lotse")
    table.upgrades = upgrade_table.upgrades[:V15]
    db = Database.create(url, upgrade_table=table)
    await db.start()
    try:
        await db.execute(
            "INSERT INTO person (user_id, centre_id, role, created_at, service_room_id, welcomed)"
            " VALUES ($1, 'nord', 'client', $2, $3, true)",
            user_id,
            int(time.time() * 1000),
            room_id,
        )
    finally:
        await db.stop()


async def _row(url: str, user_id: str) -> tuple[Any, ...]:
    db = Database.create(url)
    await db.start()
    try:
        row = await db.fetchrow(
            "SELECT service_room_id, service_room_renew, service_room_notice, welcomed "
            "FROM person WHERE user_id=$1",
            user_id,
        )
        return tuple(row)
    finally:
        await db.stop()


async def _metrics(port: int) -> str | None:
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                return await resp.text() if resp.status == 200 else None
    except aiohttp.ClientError:
        return None


class LotseProcess:
    """``lotse run`` as an operator starts it."""

    def __init__(self, directory: Path, cfg: Config) -> None:
        self.directory = directory
        self.cfg = cfg
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Start and wait until the start-up run of the service-room job has finished."""
        log = (self.directory / "run.log").open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appservice", "run", "-c", str(self.directory / "config.yaml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 90
        while JOB + " 1.0" not in (await _metrics(self.cfg.appservice.port) or ""):
            assert self.proc.poll() is None, (self.directory / "run.log").read_text()
            assert time.monotonic() < deadline, "the service-room job did not run at start"
            await asyncio.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=60) == 0


async def test_service_rooms_from_before_v18_are_replaced_once(
    tmp_path: Path, database_url: str
) -> None:
    """After the upgrade the first start invites the person to a new room made by the
    assistant alone and tells them why there; the assistant has left and forgotten the old
    room. A second start changes nothing: no new room, no invitation, the same row."""
    cfg = write_stack_config(
        tmp_path,
        hs_port=free_port(),
        as_port=free_port(),
        domain=DOMAIN,
        database_url=database_url,
        centres_yaml=TEST_CENTRES,
    )
    synapse = await start_synapse(tmp_path, cfg)
    lotse = LotseProcess(tmp_path, cfg)
    bot = cfg.assistant_mxid
    human = await Human.create(
        synapse.base_url,
        synapse.shared_secret,
        DOMAIN,
        f"altkunde-{secrets.token_hex(3)}",
        tmp_path / "human",
    )
    try:
        status, created = await _as_assistant(
            cfg,
            "POST",
            "/createRoom",
            {
                "preset": "trusted_private_chat",
                "is_direct": True,
                "invite": [human.user_id],
                "name": cfg.bots.assistant.displayname,
                "initial_state": [ENCRYPTION_STATE],
            },
        )
        assert status == 200, created
        old = created["room_id"]
        await human.wait_until(lambda: old in human.invites, 30, "the old room's invitation")
        human.invites.discard(old)
        await human.client.join(old)
        await _database_as_v15_left_it(database_url, human.user_id, old)

        await lotse.start()
        new = await _new_room_from(human, bot, old)
        told = await human.next_notice(new, bot, 0, contains="bisherigen Raum")
        assert told.encrypted and "andere hätten einladen" in told.body
        await human.wait_left(old, bot)
        joined = await _joined_rooms(cfg)
        assert new in joined and old not in joined
        status, _ = await _as_assistant(cfg, "GET", f"/rooms/{old}/messages")
        assert status == 403  # forgotten: not even the history up to the leave is there
        row = await _row(database_url, human.user_id)
        assert row[:3] == (new, None, None)  # replaced, told
        assert human.members(new) == {human.user_id, bot}

        lotse.stop()
        await lotse.start()
        reply = await ask(human, new, bot, "hilfe")  # the second start answers as usual
        assert reply.encrypted
        assert human.invites == set()
        assert await _joined_rooms(cfg) == joined
        assert await _row(database_url, human.user_id) == row
    finally:
        lotse.stop()
        await human.close()
        await synapse.stop()
