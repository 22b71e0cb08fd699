"""`lotse dev` as a newcomer runs it: a real process tree, real logins, a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from appservice.dev.client import Human, ask
from appservice.dev.main import DEMO_CENTRES_YAML, _service_room_of
from appservice.dev.stack import write_stack_config
from appservice.dev.synapse_runner import free_port, password_login

pytestmark = pytest.mark.synapse


def _start(directory: Path, *extra: str) -> subprocess.Popen[str]:
    directory.mkdir(parents=True, exist_ok=True)
    log = open(directory.parent / "dev-output.txt", "w")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [sys.executable, "-m", "appservice", "dev", "--dir", str(directory), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C would reach
    )


async def _wait_for_banner(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """Read the output until ``marker`` appears; fail with the output if the process dies."""
    output = Path(str(proc.args[5])).parent / "dev-output.txt"  # type: ignore[index]
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        seen = output.read_text(errors="replace")
        if marker in seen:
            break
        if proc.poll() is not None:
            raise AssertionError(f"lotse dev exited with {proc.returncode}:\n{seen[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} after {timeout}s:\n{seen[-3000:]}")
        await asyncio.sleep(0.2)
    return seen


def _stop(proc: subprocess.Popen[str]) -> int:
    os.killpg(proc.pid, signal.SIGTERM)
    return proc.wait(timeout=60)


def _processes_using(directory: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(directory) in line]


async def test_lotse_dev_starts_demo_centre_and_stops_cleanly(tmp_path: Path) -> None:
    """Demo logins work, the walkthrough is encrypted, SIGTERM stops all, restart reuses state."""
    directory = tmp_path / "dev"
    proc = _start(directory, "--demo")
    try:
        output = await _wait_for_banner(proc, "End of walkthrough", timeout=180)
        data = json.loads((directory / "demo-accounts.json").read_text())
        assert {a["role"] for a in data["accounts"]} == {"admin", "counsellor", "client"}
        assert data["bot"].startswith("@lotse:")
        for acc in data["accounts"]:
            assert acc["password"] in output  # printed for the newcomer
            assert (await password_login(data["homeserver"], acc["user_id"], acc["password"]))[
                0
            ] == 200
        assert "encrypted=True" in output and "encrypted=False" not in output
        cfg = yaml.safe_load((directory / "config.yaml").read_text())
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{cfg['appservice']['port']}/health"
            async with http.get(url) as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "ok"
    finally:
        code = _stop(proc)
    assert code == 0
    assert _processes_using(directory) == []

    # A second start reuses the accounts and their passwords.
    proc = _start(directory)
    try:
        await _wait_for_banner(proc, "Stop with Ctrl-C", timeout=120)
        again = json.loads((directory / "demo-accounts.json").read_text())
        assert again["accounts"] == data["accounts"]
        acc = again["accounts"][2]
        assert (await password_login(again["homeserver"], acc["user_id"], acc["password"]))[
            0
        ] == 200
    finally:
        code = _stop(proc)
    assert code == 0
    assert _processes_using(directory) == []


async def _demo_lists(directory: Path, data: dict[str, Any]) -> tuple[str, str]:
    """What the demo admin reads for `counsellors` and `clients all`."""
    admin = next(a for a in data["accounts"] if a["role"] == "admin")
    human = await Human.login(
        data["homeserver"], admin["user_id"], admin["password"], directory / "admin-client"
    )
    try:
        room_id, _ = await _service_room_of(human, data["bot"])
        staff = await ask(human, room_id, data["bot"], "counsellors")
        clients = await ask(human, room_id, data["bot"], "klienten alle")
        return staff.body, clients.body
    finally:
        await human.close()


async def test_two_stacks_started_at_once_each_get_their_own_synapse(tmp_path: Path) -> None:
    """Two `lotse dev` started at the same moment, both wanting the same ports: each ends up
    with its own Synapse (the other's answers `/versions` too, but not to our as_token), its
    own Lotse and working demo logins, instead of "HMAC incorrect" against the other one.
    The demo counsellor and client, who got passwords but never logged in, are listed as
    activated (not "no access"), with times in the centre's time zone."""
    hs_port, as_port = free_port(), free_port()
    directories = [tmp_path / "a" / "dev", tmp_path / "b" / "dev"]
    for directory in directories:
        # As if each had run on these ports before: both now prefer them.
        write_stack_config(
            directory,
            hs_port=hs_port,
            as_port=as_port,
            domain="lotse.localhost",
            centres_yaml=DEMO_CENTRES_YAML,
            mail_port=free_port(),
        )
    procs = [_start(directory) for directory in directories]
    try:
        await asyncio.gather(*(_wait_for_banner(p, "Stop with Ctrl-C", 300) for p in procs))
        stacks = [json.loads((d / "demo-accounts.json").read_text()) for d in directories]
        assert stacks[0]["homeserver"] != stacks[1]["homeserver"]
        for data in stacks:
            for acc in data["accounts"]:
                login = await password_login(data["homeserver"], acc["user_id"], acc["password"])
                assert login[0] == 200, (data["homeserver"], acc["user_id"])
        staff, clients = await _demo_lists(tmp_path, stacks[0])
        counsellor_row = next(line for line in staff.splitlines() if "demo-counsellor" in line)
        client_row = next(line for line in clients.splitlines() if "demo-client" in line)
        assert "aktiviert" in counsellor_row and "kein Zugang" not in counsellor_row
        assert "aktiviert" in client_row and "kein Zugang" not in client_row
        for listing in (staff, clients):
            assert "Zeiten in der Zeitzone Europe/Berlin" in listing and "UTC" not in listing
    finally:
        codes = [_stop(p) for p in procs]
    assert codes == [0, 0]
    for directory in directories:
        assert _processes_using(directory) == []
