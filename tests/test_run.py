"""`lotse run` as an operator starts it: a process that serves /health and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.config_render import render_initial_config, set_scalar
from appservice.contact_data import ContactData
from appservice.db import LotseDatabase
from appservice.dev.stack import start_synapse, write_stack_config
from appservice.dev.synapse_runner import free_port
from tests.conftest import TEST_CONTACT_KEY, Lotse, Stack

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


# --- a start that fails ends the process ----------------------------------------------------

# Seconds within which a failed start must have ended the process (imports take ~2 s; the
# slowest case, a homeserver that does not answer, gives up after 10 s).
FAILED_START_SECONDS = 30


def _config(
    tmp_path: Path, homeserver: str, port: int | None = None, **values: str | int | bool
) -> Path:
    """A config from `lotse init` pointing at ``homeserver``, with ``section__key`` values."""
    port = port or free_port()
    text = render_initial_config(domain="lotse.test", homeserver=homeserver)
    text = set_scalar(text, "appservice", "port", port)
    text = set_scalar(text, "appservice", "address", f"http://127.0.0.1:{port}")
    for dotted, value in values.items():
        section, key = dotted.split("__")
        text = set_scalar(text, section, key, value)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _failed_start(config: Path) -> str:
    """Run `lotse run` on ``config``; it must end by itself, exit 1 and say why in one line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    began = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "appservice", "run", "-c", str(config)],
            cwd=config.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=FAILED_START_SECONDS,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"`lotse run` still running after {e.timeout} s: {e.stderr!r}") from e
    took = time.monotonic() - began
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot start: " in lines[0], lines[0]
    assert took < FAILED_START_SECONDS
    return lines[0].split("cannot start: ", 1)[1]


def test_run_exits_when_the_homeserver_is_unreachable(tmp_path: Path) -> None:
    """No homeserver at the configured address: exit 1 within seconds, one line naming it."""
    address = f"http://127.0.0.1:{free_port()}"
    line = _failed_start(_config(tmp_path, address))
    assert line.startswith(f"the homeserver at {address} (homeserver.address) is not reachable")


def test_run_exits_when_the_homeserver_does_not_answer(tmp_path: Path) -> None:
    """A homeserver address that takes the connection but never answers: the start gives up
    after its 10 s and the process exits 1, instead of waiting for ever."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        line = _failed_start(_config(tmp_path, address))
    assert line == f"the homeserver at {address} (homeserver.address) is not reachable: no answer"


def test_run_exits_when_the_homeserver_does_not_know_us(tmp_path: Path, stack: Stack) -> None:
    """A homeserver without our registration (its as_token unknown there): exit 1, one line
    saying where the registration belongs."""
    line = _failed_start(_config(tmp_path, stack.synapse.base_url))
    assert line.startswith("the homeserver does not know our as_token (M_UNKNOWN_TOKEN)")
    assert "app_service_config_files" in line


def test_run_exits_when_its_port_is_taken(tmp_path: Path, stack: Stack) -> None:
    """Something else listens on the appservice port: exit 1, one line naming the keys."""
    port = free_port()
    config = _config(tmp_path, stack.synapse.base_url, port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        line = _failed_start(config)
    assert line.startswith(
        f"cannot listen on 127.0.0.1:{port} (appservice.hostname, appservice.port): "
    )
    assert "in use" in line


def test_run_exits_when_the_database_is_unreachable(tmp_path: Path, stack: Stack) -> None:
    """A PostgreSQL server that does not answer: exit 1, one line naming database.url and
    without the URL's password."""
    url = f"postgresql://lotse:Geheim-123@127.0.0.1:{free_port()}/lotse"
    line = _failed_start(_config(tmp_path, stack.synapse.base_url, database__url=url))
    assert line.startswith("cannot open the database (database.url): ")
    assert "Geheim-123" not in line


async def test_run_exits_when_the_database_is_newer(tmp_path: Path, stack: Stack) -> None:
    """A database upgraded by a newer Lotse: exit 1, one line saying so (no downgrade)."""
    database = LotseDatabase(f"sqlite:{tmp_path / 'lotse.db'}", ContactData(TEST_CONTACT_KEY))
    await database.start()
    await database.main.execute("UPDATE lotse_version SET version=version+100")
    await database.stop()
    line = _failed_start(_config(tmp_path, stack.synapse.base_url))
    assert line.startswith("the database is newer than this Lotse (")


def test_run_exits_when_a_mail_template_is_broken(tmp_path: Path, stack: Stack) -> None:
    """An operator's mail template that does not compile: exit 1, one line naming it."""
    folder = tmp_path / "mail-templates" / "de"
    folder.mkdir(parents=True)
    (folder / "invitation.subject.j2").write_text("Einladung {% if %}", encoding="utf-8")
    config = _config(
        tmp_path,
        stack.synapse.base_url,
        mail__enabled=True,
        mail__templates_dir="mail-templates",
    )
    line = _failed_start(config)
    assert line.startswith("broken mail template (mail.templates_dir): de/invitation.subject")
