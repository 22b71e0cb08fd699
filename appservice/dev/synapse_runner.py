"""Run a throw-away local Synapse (SQLite) for tests and ``lotse dev``.

Tests and the dev command need a real homeserver that behaves like production
(appservice transactions, admin API, E2EE endpoints) without Docker or Postgres.
This module writes a minimal config, starts Synapse as a subprocess, waits until
the client API answers, and offers the few admin helpers (shared-secret
registration, promoting users to server admin) that the fixtures need.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from signedjson.key import generate_signing_key, write_signing_keys

HOMESERVER_YAML = "homeserver.yaml"
LOG_CONFIG = "log.config"
LOG_FILE = "homeserver.log"
STDOUT_FILE = "synapse.stdout"
SIGNING_KEY = "signing.key"

# Every rate limiter Synapse 1.163 reads through RatelimitSettings.parse
# (synapse/config/ratelimiting.py). Tests hammer the server from one IP, so all
# of them are effectively disabled.
_RATE = {"per_second": 1000, "burst_count": 1000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _RATE,
    "rc_registration": _RATE,
    "rc_registration_token_validity": _RATE,
    "rc_login": {"address": _RATE, "account": _RATE, "failed_attempts": _RATE},
    "rc_admin_redaction": _RATE,
    "rc_joins": {"local": _RATE, "remote": _RATE},
    "rc_joins_per_room": _RATE,
    "rc_key_requests": _RATE,
    "rc_3pid_validation": _RATE,
    "rc_invites": {"per_room": _RATE, "per_user": _RATE, "per_issuer": _RATE},
    "rc_third_party_invite": _RATE,
    "rc_media_create": _RATE,
    "rc_presence": {"per_user": _RATE},
    "rc_delayed_event_mgmt": _RATE,
    "rc_room_creation": _RATE,
    "rc_reports": _RATE,
    "rc_user_directory": _RATE,
    "rc_profile": _RATE,
}


class UserExists(Exception):
    """Shared-secret registration refused because the localpart is taken (M_USER_IN_USE)."""


class PortTaken(RuntimeError):
    """Our Synapse could not listen: another server holds its port (pick another one)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (small race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _log_config(log_file: Path) -> dict[str, Any]:
    """Logging dict config: everything to a file, nothing to the console."""
    return {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                "%(request)s - %(message)s"
            }
        },
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(log_file),
                "encoding": "utf8",
            }
        },
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def write_synapse_config(
    directory: Path, *, server_name: str, port: int, registration_files: list[Path]
) -> Path:
    """Write (or refresh) a SQLite Synapse config in ``directory``; return homeserver.yaml.

    An existing config keeps its secrets and signing key so the database stays
    usable across restarts; only port-dependent values and the appservice
    registration list are updated.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / HOMESERVER_YAML
    log_config_path = directory / LOG_CONFIG
    signing_key_path = directory / SIGNING_KEY
    media_store = directory / "media_store"
    media_store.mkdir(exist_ok=True)

    existing: dict[str, Any] = {}
    if config_path.exists():
        loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            existing = loaded
        if existing.get("server_name", server_name) != server_name:
            raise ValueError(
                f"{config_path} belongs to server {existing['server_name']!r}, "
                f"not {server_name!r}; use a fresh directory"
            )

    if not signing_key_path.exists():
        key = generate_signing_key("a_" + secrets.token_hex(2))
        with signing_key_path.open("w", encoding="utf-8") as fh:
            write_signing_keys(fh, [key])

    log_config_path.write_text(
        yaml.safe_dump(_log_config(directory / LOG_FILE), sort_keys=False), encoding="utf-8"
    )

    config: dict[str, Any] = {
        "server_name": server_name,
        "pid_file": str(directory / "homeserver.pid"),
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "log_config": str(log_config_path),
        "media_store_path": str(media_store),
        "signing_key_path": str(signing_key_path),
        "app_service_config_files": [str(Path(p).resolve()) for p in registration_files],
        "registration_shared_secret": existing.get("registration_shared_secret")
        or secrets.token_urlsafe(32),
        "macaroon_secret_key": existing.get("macaroon_secret_key") or secrets.token_urlsafe(32),
        "form_secret": existing.get("form_secret") or secrets.token_urlsafe(32),
        "report_stats": False,
        "enable_registration": False,
        "suppress_key_server_warning": True,
        "trusted_key_servers": [],
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        # The anonymous live chat hands a throwaway account over with a one-time login token
        # that Lotse (as the appservice) gets from POST /_matrix/client/v1/login/get_token
        # (docs/live-chat.md); a stable option, nothing experimental.
        "login_via_existing_session": {
            "enabled": True,
            "require_ui_auth": False,
            "token_timeout": "5m",
        },
        **RATE_LIMITS,
    }
    tmp = config_path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    os.replace(tmp, config_path)
    return config_path


def _tail(path: Path, lines: int = 30) -> str:
    """Last ``lines`` lines of a file, or a note if it does not exist."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except FileNotFoundError:
        return f"({path.name} does not exist)\n"


class SynapseProcess:
    """A Synapse subprocess bound to one config directory.

    The directory must already contain a config from :func:`write_synapse_config`;
    port, server name and shared secret are read back from it so callers need
    no other bookkeeping.
    """

    # What runs and where it writes; a worker process (appservice/dev/synapse_workers.py) differs
    # only in these.
    app_module = "synapse.app.homeserver"
    log_file = LOG_FILE
    stdout_file = STDOUT_FILE

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).resolve()
        self.config_path = self.directory / HOMESERVER_YAML
        config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        self.server_name: str = config["server_name"]
        self.port: int = int(config["listeners"][0]["port"])
        self.shared_secret: str = config["registration_shared_secret"]
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Who the first appservice's as_token is on *this* server: a foreign server on our
        # port (a second stack started at the same moment) cannot answer that.
        self._identity: tuple[str, str] | None = None
        registrations = config.get("app_service_config_files") or []
        if registrations:
            reg = yaml.safe_load(Path(registrations[0]).read_text(encoding="utf-8"))
            sender = f"@{reg['sender_localpart']}:{self.server_name}"
            self._identity = (str(reg["as_token"]), sender)
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        """True while the subprocess has not exited."""
        return self._proc is not None and self._proc.returncode is None

    def _failure(self, reason: str) -> RuntimeError:
        """Build an error that carries the log tails, since the subprocess is otherwise silent."""
        return RuntimeError(
            f"Synapse in {self.directory} {reason}\n"
            f"--- {self.log_file} (tail) ---\n{_tail(self.directory / self.log_file)}"
            f"--- {self.stdout_file} (tail) ---\n{_tail(self.directory / self.stdout_file)}"
        )

    def _config_args(self) -> list[str]:
        """The ``-c`` arguments: the main process reads one config file."""
        return ["-c", str(self.config_path)]

    async def _answers_as_ours(self, http: aiohttp.ClientSession) -> bool:
        """The client API answers, and (with an appservice registered) knows our as_token as
        our sender user: any server answers ``/versions``, only ours knows that token."""
        try:
            async with http.get(f"{self.base_url}/_matrix/client/versions") as resp:
                if resp.status != 200:
                    return False
            if self._identity is None:
                return True
            token, sender = self._identity
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{self.base_url}/_matrix/client/v3/account/whoami"
            async with http.get(url, headers=headers) as resp:
                return resp.status == 200 and (await resp.json()).get("user_id") == sender
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return False

    async def start(self, timeout: float = 60) -> None:
        """Launch Synapse and return once it answers as *our* server.

        Raises :class:`PortTaken` if it exited because another server holds its port.
        """
        if self.running:
            return
        with (self.directory / self.stdout_file).open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.app_module,
                *self._config_args(),
                cwd=self.directory,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=False,
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while True:
                if self._proc.returncode is not None:
                    if not port_is_free(self.port):
                        raise PortTaken(f"port {self.port} is taken by another server")
                    raise self._failure(f"exited early with code {self._proc.returncode}")
                if await self._answers_as_ours(http):
                    return
                if time.monotonic() > deadline:
                    await self.stop()
                    raise self._failure(f"did not answer as our server within {timeout}s")
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """SIGTERM, wait up to 15 s, then SIGKILL; safe to call repeatedly."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def __aenter__(self) -> SynapseProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _register(
    http: aiohttp.ClientSession,
    base_url: str,
    shared_secret: str,
    localpart: str,
    password: str,
    admin: bool,
) -> tuple[str, str]:
    """Shared-secret registration on an existing session (nonce + HMAC-SHA1)."""
    url = f"{base_url.rstrip('/')}/_synapse/admin/v1/register"
    async with http.get(url) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"GET {url} -> {resp.status}: {body}")
        nonce = body["nonce"]
    mac = hmac.new(shared_secret.encode("utf8"), digestmod=hashlib.sha1)
    mac.update(nonce.encode("utf8"))
    mac.update(b"\x00")
    mac.update(localpart.encode("utf8"))
    mac.update(b"\x00")
    mac.update(password.encode("utf8"))
    mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    payload = {
        "nonce": nonce,
        "username": localpart,
        "password": password,
        "admin": admin,
        "mac": mac.hexdigest(),
    }
    async with http.post(url, json=payload) as resp:
        body = await resp.json()
        if resp.status == 400 and body.get("errcode") == "M_USER_IN_USE":
            raise UserExists(f"user {localpart!r} already exists: {body.get('error')}")
        if resp.status != 200:
            raise RuntimeError(f"POST {url} -> {resp.status}: {body}")
        return body["user_id"], body["access_token"]


async def register_user(
    base_url: str, shared_secret: str, localpart: str, password: str, *, admin: bool = False
) -> tuple[str, str]:
    """Create a user via shared-secret registration; return ``(user_id, access_token)``.

    Raises :class:`UserExists` if the localpart is taken, so callers can fall
    back to logging in.
    """
    async with aiohttp.ClientSession() as http:
        return await _register(http, base_url, shared_secret, localpart, password, admin)


async def _as_register(http: aiohttp.ClientSession, base: str, as_token: str, user_id: str) -> None:
    """Create an appservice-namespace user the way the appservice itself would."""
    localpart = user_id[1:].split(":", 1)[0]
    url = f"{base}/_matrix/client/v3/register"
    body = {"type": "m.login.application_service", "username": localpart, "inhibit_login": True}
    headers = {"Authorization": f"Bearer {as_token}"}
    async with http.post(url, json=body, headers=headers) as resp:
        if resp.status != 200:
            data = await resp.json()
            if data.get("errcode") != "M_USER_IN_USE":
                raise RuntimeError(f"POST {url} as appservice -> {resp.status}: {data}")


async def _set_admin(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    user_id: str,
    as_token: str | None,
) -> None:
    """PUT admin=true; exclusive appservice users must exist first, so create them via as_token."""
    url = f"{base}/_synapse/admin/v2/users/{quote(user_id, safe='')}"
    for attempt in range(2):
        async with http.put(url, json={"admin": True}, headers=headers) as resp:
            if resp.status in (200, 201):
                return
            body = await resp.json()
        if body.get("errcode") == "M_EXCLUSIVE" and attempt == 0:
            if as_token is None:
                raise RuntimeError(
                    f"{user_id} is in an exclusive appservice namespace and does not exist "
                    "yet; the admin API cannot create it. Pass as_token= (or register it "
                    "through the appservice first)."
                )
            await _as_register(http, base, as_token, user_id)
            continue
        raise RuntimeError(f"PUT {url} -> {resp.status}: {body}")


async def make_server_admins(
    base_url: str, shared_secret: str, user_ids: list[str], *, as_token: str | None = None
) -> None:
    """Grant server-admin to ``user_ids`` via a short-lived, then deactivated, admin.

    Shared-secret registration can only create new users, so a random temporary
    admin does the promotion. Missing ordinary users are created by the PUT;
    Synapse 1.163 refuses to create users in an *exclusive* appservice
    namespace that way (M_EXCLUSIVE), so those are first registered with
    ``as_token`` when it is given.
    """
    base = base_url.rstrip("/")
    async with aiohttp.ClientSession() as http:
        tmp_user, token = await _register(
            http,
            base,
            shared_secret,
            "tmpadmin-" + secrets.token_hex(6),
            secrets.token_urlsafe(24),
            True,
        )
        headers = {"Authorization": f"Bearer {token}"}
        deactivate = f"{base}/_synapse/admin/v1/deactivate/{quote(tmp_user, safe='')}"
        try:
            for user_id in user_ids:
                await _set_admin(http, base, headers, user_id, as_token)
        except BaseException:
            with contextlib.suppress(Exception):
                async with http.post(deactivate, json={"erase": False}, headers=headers):
                    pass
            raise
        async with http.post(deactivate, json={"erase": False}, headers=headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"POST {deactivate} -> {resp.status}: {await resp.text()}")


async def password_login(base_url: str, user: str, password: str) -> tuple[int, dict[str, Any]]:
    """Log in as a person would (``m.login.password``); return status and body."""
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    }
    async with aiohttp.ClientSession() as http:
        url = f"{base_url.rstrip('/')}/_matrix/client/v3/login"
        async with http.post(url, json=body) as resp:
            return resp.status, await resp.json()
