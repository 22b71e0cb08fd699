"""Operator endpoints on the web listener: /health and /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import REGISTRY

HealthCheck = Callable[[], Awaitable[dict[str, bool]]]


def add_operator_routes(app: web.Application, health: HealthCheck) -> None:
    async def handle_health(_: web.Request) -> web.Response:
        checks = await health()
        ok = all(checks.values())
        return web.json_response(
            {"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503
        )

    async def handle_metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(REGISTRY),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    app.router.add_get("/health", handle_health)
    app.router.add_get("/metrics", handle_metrics)
