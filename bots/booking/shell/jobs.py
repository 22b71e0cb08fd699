"""Reminders and video links before appointments, as persisted jobs the scheduler runs.

Confirming an appointment plans its jobs (``plan``) in the same transaction; a scheduler
job (``run``, every 30 seconds) sends what is due. A job is claimed in the database before
its notices go out, so two runs, or a run after a restart, never send it twice; a job of an
appointment cancelled, declined or moved meanwhile is dropped (``still_due``). The notices
are keyed by the job, so a send repeated after a crash is one event in the room.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from appservice.centre_settings import CentreSettings
from appservice.clock import now_ms
from appservice.db import Appointment, GroupAppointmentRow, Rows
from appservice.scheduler import Scheduler
from bots.framework.services import BotServices

from ..reminders import Job, appointment_jobs, group_jobs, still_due
from ..slots import wall_clock
from .store import core_appointment, core_group

log = logging.getLogger("lotse.booking.jobs")
INTERVAL_SECONDS = 30


async def plan(rows: Rows, row: Appointment, settings: CentreSettings, now: int) -> None:
    """The reminders (and video link) of a confirmed appointment, stored as jobs."""
    jobs = appointment_jobs(
        core_appointment(row),
        now=now,
        reminders_min=[h * 60 for h in settings.booking_reminder_hours],
        video_link_min=settings.video_link_minutes,
    )
    await rows.BookingJob.plan([tuple(j) for j in jobs])  # type: ignore[misc]


async def plan_group(
    rows: Rows, row: GroupAppointmentRow, settings: CentreSettings, now: int
) -> None:
    """The reminders (and video link) of a group appointment, stored as jobs; whoever takes
    part when one is due is told."""
    jobs = group_jobs(
        core_group(row, []),
        now=now,
        reminders_min=[h * 60 for h in settings.booking_reminder_hours],
        video_link_min=settings.video_link_minutes,
    )
    await rows.BookingJob.plan([tuple(j) for j in jobs])  # type: ignore[misc]


def schedule(scheduler: Scheduler, services: BotServices) -> None:
    async def job() -> None:
        await run(services)

    scheduler.every("booking-jobs", job, seconds=INTERVAL_SECONDS, at_start=True)


async def run(services: BotServices, now: int | None = None) -> int:
    """Send every due job once; returns how many were sent."""
    now = now if now is not None else now_ms()
    sent = 0
    for fields in await services.rows.BookingJob.due(now):
        job = Job(*fields)  # type: ignore[arg-type]
        if not await services.rows.BookingJob.claim(job.key, now):
            continue  # another run took it
        subject = await _subject(services.rows, job)
        if subject is None:
            continue
        sent += await _send(services, job, subject)
    return sent


class Subject(NamedTuple):
    """What a due job tells about, and whom."""

    centre_id: str
    starts_at: int
    channel: str
    video_url: str | None
    people: list[str]


async def _subject(rows: Rows, job: Job) -> Subject | None:
    """What the job is about if it is still due: a confirmed, unmoved appointment or an
    uncancelled, unmoved group appointment (with who takes part now)."""
    if job.subject == "appointment":
        row = await rows.Appointment.get(job.subject_id)
        if row is None or not still_due(
            job, starts_at=row.starts_at, active=row.state == "confirmed"
        ):
            return None
        people = [u for u in (row.client, row.counsellor) if u]
        return Subject(row.centre_id, row.starts_at, row.channel, row.video_url, people)
    group = await rows.GroupAppointmentRow.get(job.subject_id)
    if group is None or not still_due(
        job, starts_at=group.starts_at, active=group.cancelled_at is None
    ):
        return None
    people = [*await rows.GroupAppointmentRow.participants(group.id), group.counsellor]
    return Subject(group.centre_id, group.starts_at, group.channel, group.video_url, people)


async def _send(services: BotServices, job: Job, subject: Subject) -> int:
    centre_id, starts_at, channel, url, people = subject
    centre = services.directory.cfg.centre(centre_id)
    if centre is None:
        return 0
    told = 0
    for user_id in people:
        person = await services.rows.Person.get(user_id)
        if person is None or person.deleted_at is not None:
            continue
        lang = services.directory.language_of(person)
        when = services.renderer.render(lang, "booking_when", **wall_clock(starts_at, centre.zone))
        if job.kind == "video_link":
            if not url:
                continue
            template, extra = "appointment_video_link", {"url": url}
        else:
            template, extra = "appointment_reminder", {"channel": channel}
        group = job.subject == "group"
        variables = {"id": job.subject_id, "when": when, "group": group, **extra}
        if await services.tell(person, template, cause=job.key, **variables):
            told += 1
        if job.kind == "reminder":
            await services.notify(person, "appointment_reminder")
    log.info("booking job %s: %d told", job.kind, told)
    return 1
