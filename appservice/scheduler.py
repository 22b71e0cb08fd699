"""Periodic jobs (overdue requests, the deletion routine, mail digests) for the running app.

Each job runs in its own task, one run at a time; a run that fails is logged and the job
simply runs again at its next time, so one broken job never stops the others. A job is an
``async def job() -> None`` that finds its own work in the database: nothing is held in
memory between runs, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter

from .metrics import JOB_RUNS

log = logging.getLogger("lotse.scheduler")

Job = Callable[[], Awaitable[None]]


@dataclass
class _Entry:
    name: str
    job: Job
    seconds: float | None
    cron: str | None
    at_start: bool = False

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until the next run."""
        if self.seconds is not None:
            return self.seconds
        assert self.cron is not None
        start = datetime.fromtimestamp(now, UTC)
        return max(0.0, croniter(self.cron, start).get_next(float) - now)


class Scheduler:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._tasks: list[asyncio.Task] = []
        self._locks: dict[str, asyncio.Lock] = {}

    def every(
        self,
        name: str,
        job: Job,
        *,
        seconds: float | None = None,
        cron: str | None = None,
        at_start: bool = False,
    ) -> None:
        """Run ``job`` every ``seconds``, or at the times of a cron expression (UTC); with
        ``at_start`` also once as soon as the scheduler starts (in the background)."""
        if (seconds is None) == (cron is None):
            raise ValueError(f"job {name!r}: give either seconds or cron")
        if seconds is not None and seconds <= 0:
            raise ValueError(f"job {name!r}: seconds must be positive")
        if cron is not None and not croniter.is_valid(cron):
            raise ValueError(f"job {name!r}: invalid cron expression {cron!r}")
        if name in self._entries:
            raise ValueError(f"job {name!r} is scheduled twice")
        self._entries[name] = _Entry(name, job, seconds, cron, at_start)
        self._locks[name] = asyncio.Lock()

    @property
    def names(self) -> list[str]:
        return sorted(self._entries)

    async def run_now(self, name: str) -> None:
        """Run one job at once (tests, operators); waits if it is running already."""
        entry = self._entries[name]
        async with self._locks[name]:
            await entry.job()

    def start(self) -> None:
        for entry in self._entries.values():
            self._tasks.append(asyncio.create_task(self._loop(entry), name=f"job-{entry.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, entry: _Entry) -> None:
        first = entry.at_start
        while True:
            if not first:
                await asyncio.sleep(entry.delay(time.time()))
            first = False
            try:
                await self.run_now(entry.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                JOB_RUNS.labels(entry.name, "failed").inc()
                log.exception("scheduled job %s failed; it runs again at its next time", entry.name)
            else:
                JOB_RUNS.labels(entry.name, "ok").inc()
