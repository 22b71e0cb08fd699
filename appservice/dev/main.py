"""``lotse dev``: the embedded default — Synapse, Lotse and a mail sink, with a demo centre.

Everything lives in one folder (``.lotse-dev`` by default); a second start reuses it. The demo
centre has an admin, a counsellor and a client with passwords for Element, written to
``demo-accounts.json``. ``--demo`` also plays a scripted E2EE conversation and prints it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import signal
import sys
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from mautrix.errors import MatrixError

from appservice.app import ListenFailed, LotseApp, StartError, setup_logging, start_failure
from appservice.clock import now_ms
from appservice.config import Config, load_config

from .stack import DEV_DOMAIN, port_or_free, start_synapse, write_stack_config
from .synapse_runner import PortTaken, SynapseProcess, free_port

log = logging.getLogger("lotse.dev")

DEMO_CENTRE = "demo"
# Tries at a port pair for Synapse and Lotse when another stack takes them meanwhile.
PORT_ATTEMPTS = 3
DEMO_ROLES = ("admin", "counsellor", "client")
DEMO_NAMES = {"admin": "Demo-Admin", "counsellor": "Demo-Beraterin", "client": "Wolke7"}
DEMO_CENTRES_YAML = f"""centres:
    - id: {DEMO_CENTRE}
      name: Beratungsstelle Demo
      language: de
      admins: ["@demo-admin:{DEV_DOMAIN}"]
"""


def demo_password() -> str:
    """Random, and meets the default password policy (upper, lower, digit, special)."""
    return f"Demo-{secrets.token_urlsafe(9)}-7a!"


class MailSink:
    """A local SMTP server that prints every mail it receives (for invitations and notices)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.controller: Any = None

    def start(self) -> None:
        """Listen on ``port``, or on a free one if that is taken (``port`` tells which)."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._listen()
                return
            except OSError:
                if attempt == PORT_ATTEMPTS - 1:
                    raise
                self.port = free_port()

    def _listen(self) -> None:
        from aiosmtpd.controller import Controller

        class Printer:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                msg = message_from_bytes(envelope.content, policy=default_policy)
                print(f"\n--- mail to {', '.join(envelope.rcpt_tos)}: {msg['Subject']}", flush=True)
                body = msg.get_body(preferencelist=("plain",))
                if body is not None:
                    print(body.get_content(), flush=True)
                return "250 OK"

        self.controller = Controller(Printer(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


async def _ensure_account(
    http: aiohttp.ClientSession, cfg: Config, user_id: str, password: str, name: str
) -> None:
    """Create or reset a demo account through the admin API, as the assistant (a server admin)."""
    url = f"{cfg.homeserver.address}/_synapse/admin/v2/users/{quote(user_id, safe='')}"
    headers = {"Authorization": f"Bearer {cfg.appservice.as_token}"}
    body = {"password": password, "displayname": name, "logout_devices": False}
    async with http.put(
        url, json=body, headers=headers, params={"user_id": cfg.assistant_mxid}
    ) as resp:
        if resp.status not in (200, 201):
            raise RuntimeError(f"creating {user_id} failed: {resp.status} {await resp.text()}")


async def ensure_demo_centre(directory: Path, cfg: Config, app: LotseApp) -> dict[str, Any]:
    """Accounts with passwords (kept across starts), people of the demo centre, service rooms."""
    accounts_file = directory / "demo-accounts.json"
    known: dict[str, str] = {}
    if accounts_file.exists():
        for acc in json.loads(accounts_file.read_text("utf-8")).get("accounts", []):
            known[acc["user_id"]] = acc["password"]
    accounts = []
    async with aiohttp.ClientSession() as http:
        for role in DEMO_ROLES:
            user_id = f"@demo-{role}:{cfg.homeserver.domain}"
            password = known.get(user_id) or demo_password()
            await _ensure_account(http, cfg, user_id, password, DEMO_NAMES[role])
            person = await app.assistant.directory.register(user_id, DEMO_CENTRE, role)
            if person.activated_at is None:
                # The password above is in use: not "no access", and no invitation may
                # replace it (only a reset through the person's confirmed address).
                await person.set_account(activated_at=now_ms())
            if not person.service_room_id:
                await app.assistant.service_rooms.create_for(person)
            # Staff join the centre's Space and team room, the admin also the admin room.
            await app.centre_rooms.follow(person)
            accounts.append({"role": role, "user_id": user_id, "password": password})
    data = {
        "homeserver": cfg.public_homeserver_url,
        "bot": cfg.assistant_mxid,
        "accounts": accounts,
    }
    accounts_file.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    accounts_file.chmod(0o600)
    return data


def _banner(data: dict[str, Any], mail_port: int, directory: Path) -> str:
    lines = [
        "",
        "Lotse dev is running. Log in with Element (or any Matrix client):",
        f"  homeserver: {data['homeserver']}",
        f"  assistant:  {data['bot']}  (your service room invitation is waiting)",
    ]
    for acc in data["accounts"]:
        lines.append(f"  {acc['role']:<11} {acc['user_id']}  password: {acc['password']}")
    lines += [
        f"  mail sink:  smtp://127.0.0.1:{mail_port} (mails are printed here)",
        f"  state:      {directory}/ (logins also in demo-accounts.json)",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


async def run_demo(directory: Path, data: dict[str, Any]) -> None:
    """The scripted walkthrough: the demo client and counsellor talk to the assistant (E2EE)."""
    from .client import Human

    bot = data["bot"]
    print("\n=== Demo walkthrough (matrix-nio clients, end-to-end encrypted) ===", flush=True)
    for acc in data["accounts"]:
        if acc["role"] == "admin":
            continue
        human = await Human.login(
            data["homeserver"],
            acc["user_id"],
            acc["password"],
            directory / "demo-clients" / acc["role"],
        )
        try:
            room_id, joined_now = await _service_room_of(human, bot)
            if joined_now:
                welcome = await human.next_notice(room_id, bot, 0, timeout=60)
                print(f"\nLotse → {acc['user_id']} (encrypted={welcome.encrypted}):", flush=True)
                print("  " + welcome.body.replace("\n", "\n  "), flush=True)
            # Earlier messages were encrypted for earlier devices: this new device reads on.
            for text in ("hilfe", "hlep"):
                before = len(human.notices(room_id, bot))
                print(f"\n{acc['user_id']} → Lotse: {text}", flush=True)
                await human.send(room_id, text)
                reply = await human.next_notice(room_id, bot, before, timeout=60)
                print(f"Lotse → {acc['user_id']} (encrypted={reply.encrypted}):", flush=True)
                print("  " + reply.body.replace("\n", "\n  "), flush=True)
        finally:
            await human.close()
    print("\n=== End of walkthrough ===\n", flush=True)


async def _service_room_of(human: Any, bot: str) -> tuple[str, bool]:
    """The service room, and whether it was joined just now (then a welcome is coming).

    Staff are also invited to their centre's Space and team room: take the bot's invite.
    """
    await human.sync()
    for room_id, room in human.client.rooms.items():
        if bot in room.users and human.user_id in room.users and len(room.users) == 2:
            return str(room_id), False

    def from_bot() -> str | None:
        for room_id, room in human.client.invited_rooms.items():
            if room_id in human.invites and room.inviter == bot:
                return str(room_id)
        return None

    room_id = await human.wait_until(from_bot, 30, "the assistant's invitation")
    human.invites.discard(room_id)
    await human.client.join(room_id)
    await human.sync()
    return str(room_id), True


async def _start_stack(
    directory: Path, previous: Config | None, mail_port: int
) -> tuple[Config, SynapseProcess, LotseApp]:
    """Synapse and Lotse on the ports of the last start (or 8008 and 29350) when free, else on
    free ones; again on fresh ones when another server took a port meanwhile (a second stack
    starting at the same moment): Synapse is only taken once it answers as ours."""
    hs_port = port_or_free(_port_of(previous.homeserver.address) if previous else 8008)
    as_port = port_or_free(previous.appservice.port if previous else 29350)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        cfg = write_stack_config(
            directory,
            hs_port=hs_port,
            as_port=as_port,
            centres_yaml=DEMO_CENTRES_YAML,
            mail_port=mail_port,
        )
        setup_logging(cfg.logging.level)
        print(f"Starting Synapse on http://127.0.0.1:{hs_port} ...", flush=True)
        synapse: SynapseProcess | None = None
        app: LotseApp | None = None
        try:
            synapse = await start_synapse(directory, cfg)
            app = LotseApp(cfg)
            await app.start()
            return cfg, synapse, app
        except (PortTaken, ListenFailed) as e:
            if attempt == PORT_ATTEMPTS:
                raise
            print(f"{e}; trying other ports.", flush=True)
            hs_port, as_port = free_port(), free_port()
        finally:
            if app is not None and not app.started:
                await app.stop()
            if synapse is not None and (app is None or not app.started):
                await synapse.stop()
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _dev(directory: Path, demo: bool) -> int:
    directory = directory.resolve()
    previous: Config | None = None
    if (directory / "config.yaml").exists():
        previous = load_config(directory / "config.yaml", env={})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # The sink listens first, in this process: no other stack can take its port later.
    sink = MailSink(2525)
    sink.start()
    try:
        cfg, synapse, app = await _start_stack(directory, previous, sink.port)
    except BaseException:
        sink.stop()
        raise
    try:
        data = await ensure_demo_centre(directory, cfg, app)
        print(_banner(data, sink.port, directory), flush=True)
        if demo:
            try:
                await run_demo(directory, data)
            except (AssertionError, OSError) as e:
                print(f"The walkthrough stopped early: {e}", flush=True)
        await stop.wait()
    finally:
        print("Stopping ...", flush=True)
        await app.stop()
        sink.stop()
        await synapse.stop()
    return 0


def _port_of(url: str) -> int | None:
    from yarl import URL

    return URL(url).port


def main(directory: str | Path = ".lotse-dev", demo: bool = False) -> int:
    """``lotse dev``: 0 after Ctrl-C; 1 with one line if the stack could not start."""
    try:
        return asyncio.run(_dev(Path(directory), demo))
    except Exception as e:
        log.debug("the dev stack failed", exc_info=True)
        # Synapse's own failures carry the tail of its log: worth more than one line here.
        said = start_failure(e) if isinstance(e, StartError | MatrixError) else str(e)
        print(f"cannot start: {said}", file=sys.stderr, flush=True)
        return 1
