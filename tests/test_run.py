"""`lotse run` as an operator starts it: a process that serves /health and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.devstack import start_synapse, write_stack_config
from appservice.synapse_runner import free_port
from tests.conftest import Lotse

pytestmark = pytest.mark.synapse


async def _health(port: int) -> tuple[int, dict[str, object]] | None:
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                return resp.status, await resp.json()
    except aiohttp.ClientError:
        return None


async def test_lotse_run_serves_health_and_metrics_and_stops(tmp_path: Path) -> None:
    """The console script runs the appservice from a config file and exits 0 on SIGTERM."""
    cfg = write_stack_config(tmp_path, hs_port=free_port(), as_port=free_port())
    synapse = await start_synapse(tmp_path, cfg)
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "appservice", "run", "-c", str(tmp_path / "config.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while (health := await _health(cfg.appservice.port)) is None or health[0] != 200:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, f"not healthy: {health}"
            await asyncio.sleep(0.3)
        assert health[1]["checks"] == {"running": True, "database": True, "encryption": True}
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{cfg.appservice.port}/metrics"
            async with http.get(url) as resp:
                assert resp.status == 200
                assert "lotse_transactions_total" in await resp.text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        output = (tmp_path / "run.log").read_text()
        assert "Lotse is running" in output and "Lotse stopped" in output
        assert "Traceback" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        await synapse.stop()


@pytest.mark.synapse
async def test_stop_finishes_while_a_task_holds_the_database(
    lotse: Lotse, running: LotseApp
) -> None:
    """A part that cannot stop (here: the SQLite pool waits for a connection a stuck task
    holds) is logged and left behind; the shutdown itself ends, and Lotse starts again."""
    release = asyncio.Event()

    async def stuck() -> None:
        async with running.db.main.acquire():
            await release.wait()

    holder = asyncio.create_task(stuck())
    await asyncio.sleep(0.1)
    running.stop_seconds = 1.0
    try:
        await asyncio.wait_for(running.stop(), timeout=20)
        assert not running.started
    finally:
        release.set()
        await holder
    again = await lotse.start()
    assert again.started and await again.db.main.fetchval("SELECT 1") == 1
