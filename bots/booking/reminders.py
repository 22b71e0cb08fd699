"""When reminders and video links are due, as jobs keyed so none is ever sent twice.

The wiring persists each job under its ``key`` (unique in the database, inserted with
"ignore if present"), so planning again after a restart or a second confirmation adds
nothing. The key holds the start the job was planned for: a moved appointment gets new
keys, and at send time ``still_due`` drops the old jobs, as it drops the jobs of a
cancelled or declined appointment. Jobs already due when planned are not created at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal, NamedTuple

from .model import MINUTE_MS, Appointment, Channel, GroupAppointment

__all__ = [
    "DEFAULT_REMINDERS_MIN",
    "VIDEO_LINK_MIN",
    "Job",
    "appointment_jobs",
    "group_jobs",
    "parse_offsets",
    "still_due",
]

DEFAULT_REMINDERS_MIN: tuple[int, ...] = (24 * 60, 60)
VIDEO_LINK_MIN = 10
JobKind = Literal["reminder", "video_link"]
Subject = Literal["appointment", "group"]
_OFFSET_RE = re.compile(r"(\d{1,4})\s*(m|min|h|std|d|t)?")
_UNIT_MIN = {"m": 1, "min": 1, "h": 60, "std": 60, "d": 24 * 60, "t": 24 * 60}
MAX_OFFSET_MIN = 14 * 24 * 60


class Job(NamedTuple):
    key: str
    kind: JobKind
    subject: Subject
    subject_id: int
    starts_at: int  # the start this job was planned for
    due_at: int


def appointment_jobs(
    appointment: Appointment,
    *,
    now: int,
    reminders_min: Iterable[int] = DEFAULT_REMINDERS_MIN,
    video_link_min: int = VIDEO_LINK_MIN,
) -> list[Job]:
    """The jobs of a confirmed appointment (others get none: they may still be declined)."""
    if appointment.state != "confirmed":
        return []
    return _jobs(
        "appointment",
        appointment.id,
        appointment.starts_at,
        appointment.channel,
        now,
        reminders_min,
        video_link_min,
    )


def group_jobs(
    group: GroupAppointment,
    *,
    now: int,
    reminders_min: Iterable[int] = DEFAULT_REMINDERS_MIN,
    video_link_min: int = VIDEO_LINK_MIN,
) -> list[Job]:
    """The jobs of a group appointment; the sender tells whoever takes part when it is due."""
    if group.cancelled:
        return []
    return _jobs(
        "group", group.id, group.starts_at, group.channel, now, reminders_min, video_link_min
    )


def still_due(job: Job, *, starts_at: int, active: bool) -> bool:
    """At send time: only for an appointment still on (confirmed / not cancelled) and unmoved."""
    return active and starts_at == job.starts_at


def parse_offsets(text: str) -> tuple[int, ...] | None:
    """``24h,1h`` / ``1d, 30min`` / ``-`` (none) → minutes before the start, longest first."""
    text = text.strip().lower()
    if text in ("-", "none", "keine", "off", "aus"):
        return ()
    minutes: set[int] = set()
    for part in text.split(","):
        match = _OFFSET_RE.fullmatch(part.strip())
        if match is None:
            return None
        value = int(match.group(1)) * _UNIT_MIN[match.group(2) or "min"]
        if not 1 <= value <= MAX_OFFSET_MIN:
            return None
        minutes.add(value)
    return tuple(sorted(minutes, reverse=True))


def _jobs(
    subject: Subject,
    subject_id: int,
    starts_at: int,
    channel: Channel,
    now: int,
    reminders_min: Iterable[int],
    video_link_min: int,
) -> list[Job]:
    planned: list[tuple[JobKind, int]] = [("reminder", m) for m in reminders_min]
    if channel == "video":
        planned.append(("video_link", video_link_min))
    jobs = {
        _job(kind, subject, subject_id, starts_at, before)
        for kind, before in planned
        if starts_at - before * MINUTE_MS > now
    }
    return sorted(jobs, key=lambda job: (job.due_at, job.kind))


def _job(kind: JobKind, subject: Subject, subject_id: int, starts_at: int, before: int) -> Job:
    key = f"{kind}:{subject}:{subject_id}:{starts_at}:{before}"
    return Job(key, kind, subject, subject_id, starts_at, starts_at - before * MINUTE_MS)
