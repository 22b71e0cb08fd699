"""The scheduler runs jobs on time, survives a failing run and refuses bad declarations."""

from __future__ import annotations

import asyncio

import pytest

from appservice.metrics import REGISTRY
from appservice.scheduler import Scheduler, _Entry


async def test_jobs_run_repeatedly_and_a_failure_does_not_stop_them() -> None:
    runs: list[str] = []

    async def good() -> None:
        runs.append("good")

    async def bad() -> None:
        runs.append("bad")
        raise RuntimeError("broken job")

    scheduler = Scheduler()
    scheduler.every("good", good, seconds=0.02)
    scheduler.every("bad", bad, seconds=0.02)
    scheduler.start()
    await asyncio.sleep(0.2)
    await scheduler.stop()
    assert runs.count("good") >= 3 and runs.count("bad") >= 3
    # The operator sees both on /metrics, by job and outcome.
    ok = REGISTRY.get_sample_value("lotse_job_runs_total", {"job": "good", "outcome": "ok"})
    failed = REGISTRY.get_sample_value("lotse_job_runs_total", {"job": "bad", "outcome": "failed"})
    assert ok is not None and ok >= 3 and failed is not None and failed >= 3
    assert REGISTRY.get_sample_value("lotse_job_runs_total", {"job": "bad", "outcome": "ok"}) in (
        None,
        0.0,
    )
    count = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == count  # stopped means stopped
    await scheduler.run_now("good")
    assert runs[-1] == "good"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "either seconds or cron"),
        ({"seconds": 1, "cron": "* * * * *"}, "either seconds or cron"),
        ({"seconds": 0}, "positive"),
        ({"cron": "every monday"}, "invalid cron"),
    ],
)
def test_bad_declarations_are_refused(kwargs: dict, problem: str) -> None:
    async def job() -> None:
        return None

    with pytest.raises(ValueError, match=problem):
        Scheduler().every("job", job, **kwargs)


def test_cron_delay_points_at_next_time() -> None:
    async def job() -> None:
        return None

    entry = _Entry("nightly", job, None, "0 3 * * *")
    # 2026-11-23 02:00 UTC -> 03:00 is one hour away.
    assert entry.delay(1795399200.0) == pytest.approx(3600.0)
