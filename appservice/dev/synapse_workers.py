"""A Synapse scaled out with workers, for the test that Lotse works behind one unchanged.

Turns a config from :func:`~appservice.dev.synapse_runner.write_synapse_config` into the shared
config of a worker deployment (PostgreSQL, Redis replication, an HTTP replication listener,
``instance_map``), adds one generic worker that also sends the appservice transactions
(``notify_appservices_from_worker``), and runs a small routing reverse proxy on the public
port that sends what a generic worker serves to the worker and the rest to the main process,
as nginx would in production (the paths are from Synapse's ``docs/workers.md``).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from yarl import URL

from .synapse_runner import HOMESERVER_YAML, SynapseProcess, _log_config, free_port

WORKER_APP = "synapse.app.generic_worker"
_C = r"^/_matrix/client/(api/v1|r0|v3|unstable)"
# Client endpoints Synapse 1.163's docs/workers.md lets any generic worker handle: syncing,
# reading rooms, end-to-end keys, login and registration, and creating events.
WORKER_PATHS = re.compile(
    "|".join(
        [
            _C + r"/sync$",
            _C + r"/events$",
            _C + r"/createRoom$",
            _C + r"/rooms/.*/(joined_members|members|state|messages)$",
            _C + r"/rooms/.*/(context|event)/",
            _C + r"/rooms/.*/(redact|send|state/)",
            _C + r"/rooms/.*/(join|invite|leave|ban|unban|kick)$",
            _C + r"/(join|knock|profile)/",
            _C + r"/joined_rooms$",
            _C + r"/account/whoami$",
            _C + r"/devices(/|$)",
            _C + r"/delete_devices$",
            _C + r"/user/.*/filter(/|$)",
            _C + r"/keys/(query|changes|claim|upload)",
            _C + r"/keys/(device_signing|signatures)/upload$",
            _C + r"/room_keys/",
            _C + r"/(login|register|capabilities)$",
            _C + r"/directory/room/",
            r"^/_matrix/client/versions$",
        ]
    )
)
# Per-connection headers a proxy must not pass on (RFC 9110, 7.6.1), and the ones aiohttp sets
# itself. Bodies pass through as they came (no decompression), Content-Encoding with them.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def postgres_database(url: str) -> dict[str, Any]:
    """Synapse's ``database`` section for a PostgreSQL URL (psycopg2, a small pool)."""
    parsed = URL(url)
    args: dict[str, Any] = {
        "user": parsed.user or "postgres",
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "dbname": parsed.path.lstrip("/"),
        "cp_min": 1,
        "cp_max": 5,
    }
    if parsed.password:
        args["password"] = parsed.password
    return {"name": "psycopg2", "args": args}


def write_worker_configs(
    directory: Path,
    *,
    database_url: str,
    redis_host: str,
    redis_port: int,
    worker_name: str = "worker1",
) -> int:
    """Make ``directory``'s Synapse a worker deployment; return the main process's own port.

    The config's client port (and ``public_baseurl``) become the public address, served by
    :class:`WorkerRouter`; the main process moves to a new internal port. The worker's config
    goes beside it as ``<worker_name>.yaml``.
    """
    directory = Path(directory).resolve()
    config_path = directory / HOMESERVER_YAML
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    main_port, replication_port, worker_port = free_port(), free_port(), free_port()
    config["listeners"][0]["port"] = main_port
    config["listeners"].append(_listener(replication_port, "replication"))
    config["database"] = postgres_database(database_url)
    config["redis"] = {"enabled": True, "host": redis_host, "port": redis_port}
    config["instance_map"] = {"main": {"host": "127.0.0.1", "port": replication_port}}
    config["notify_appservices_from_worker"] = worker_name
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    log_config = directory / f"{worker_name}.log.config"
    log_config.write_text(
        yaml.safe_dump(_log_config(directory / f"{worker_name}.log"), sort_keys=False),
        encoding="utf-8",
    )
    worker = {
        "worker_app": WORKER_APP,
        "worker_name": worker_name,
        "worker_listeners": [_listener(worker_port, "client")],
        "worker_log_config": str(log_config),
    }
    (directory / f"{worker_name}.yaml").write_text(
        yaml.safe_dump(worker, sort_keys=False), encoding="utf-8"
    )
    return main_port


def _listener(port: int, resource: str) -> dict[str, Any]:
    return {
        "port": port,
        "bind_addresses": ["127.0.0.1"],
        "type": "http",
        "tls": False,
        "x_forwarded": False,
        "resources": [{"names": [resource], "compress": False}],
    }


class SynapseWorkerProcess(SynapseProcess):
    """A generic worker: the shared config plus its own, logging to ``<name>.log``."""

    app_module = WORKER_APP

    def __init__(self, directory: Path, name: str = "worker1") -> None:
        super().__init__(directory)
        self.name = name
        self.worker_config = self.directory / f"{name}.yaml"
        worker = yaml.safe_load(self.worker_config.read_text(encoding="utf-8"))
        self.port = int(worker["worker_listeners"][0]["port"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_file = f"{name}.log"
        self.stdout_file = f"{name}.stdout"

    def _config_args(self) -> list[str]:
        return [*super()._config_args(), "-c", str(self.worker_config)]


class WorkerRouter:
    """The reverse proxy in front of a worker deployment, on the public port.

    It runs on its own event loop in a thread, like a proxy in its own process: a test that
    blocks its loop (waiting for a ``lotse run`` subprocess) must not stall the homeserver.
    ``routed`` counts requests per upstream (``"worker"``, ``"main"``) and path kind, so a
    test can tell that the traffic really went where production would send it.
    """

    def __init__(self, port: int, main_url: str, worker_url: str) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.main_url = main_url
        self.worker_url = worker_url
        self.routed: Counter[tuple[str, str]] = Counter()
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def upstream(self, path: str) -> str:
        """``"worker"`` for what a generic worker serves, else ``"main"``."""
        return "worker" if WORKER_PATHS.match(path) else "main"

    async def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="synapse-router", daemon=True
        )
        self._thread.start()
        await self._in_thread(self._serve())

    async def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        await self._in_thread(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()
        self._loop = self._thread = None

    async def _in_thread(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _serve(self) -> None:
        # No total timeout: /sync long-polls for as long as the client asks.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, shutdown_timeout=1, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        upstream = self.upstream(request.path)
        self.routed[(upstream, _kind(request.path))] += 1
        base = self.worker_url if upstream == "worker" else self.main_url
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        try:
            async with self._http.request(
                request.method,
                base + str(request.rel_url),
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
                return web.Response(status=resp.status, body=body, headers=out)
        except (aiohttp.ClientError, OSError) as e:
            # As nginx does when the upstream is gone (e.g. while the deployment stops).
            return web.json_response(
                {"errcode": "M_UNKNOWN", "error": f"{upstream} unreachable: {e}"}, status=502
            )


def _kind(path: str) -> str:
    """A short name for a path, e.g. ``sync``, ``send``, ``transactions`` (for ``routed``)."""
    for kind in ("sync", "sendToDevice", "send", "createRoom", "keys", "admin", "login"):
        if f"/{kind}" in path:
            return kind
    return "other"


class WorkerDeployment:
    """Main process, one generic worker and the router: start and stop them as one server.

    ``base_url`` is the public address (the router), as Lotse and clients see it.
    """

    def __init__(self, directory: Path, public_port: int, worker_name: str = "worker1") -> None:
        self.main = SynapseProcess(directory)
        self.worker = SynapseWorkerProcess(directory, worker_name)
        self.router = WorkerRouter(public_port, self.main.base_url, self.worker.base_url)
        self.base_url = self.router.base_url
        self.shared_secret = self.main.shared_secret

    async def start(self) -> None:
        try:
            # The main process creates the schema; the worker waits for nothing else.
            await self.main.start()
            await self.worker.start()
            await self.router.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.router.stop()
        await self.worker.stop()
        await self.main.stop()

    def log(self, process: SynapseProcess) -> str:
        """The whole log file of the main process or the worker."""
        return (process.directory / process.log_file).read_text(encoding="utf-8", errors="replace")
