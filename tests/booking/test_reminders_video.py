"""Reminders and video-link jobs (due times, keys, staleness) and video links themselves."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bots.booking.model import AppointmentState, GroupAppointment
from bots.booking.reminders import (
    DEFAULT_REMINDERS_MIN,
    appointment_jobs,
    group_jobs,
    parse_offsets,
    still_due,
)
from bots.booking.video import LinkProblem, check_link, jitsi_url, new_room_name, video_link

from .support import CHAT, COUNSELLOR, MONDAY, VIDEO, at, booked, local

APPOINTMENT = booked(CHAT, "15:00", day="2026-06-09")  # Tuesday 15:00


def _due(jobs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(job.kind, local(job.due_at)) for job in jobs]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(MONDAY, "09:00"), [("reminder", "2026-06-08 15:00"), ("reminder", "2026-06-09 14:00")]),
        (at(MONDAY, "15:00"), [("reminder", "2026-06-09 14:00")]),  # the 24 h one is due now
        (at("2026-06-09", "14:30"), []),  # none in the past
    ],
)
def test_reminders_default_24h_and_1h(now: int, expected: list[tuple[str, str]]) -> None:
    """A confirmed appointment is reminded 24 h and 1 h before; none already due is planned."""
    assert DEFAULT_REMINDERS_MIN == (1440, 60)
    assert _due(appointment_jobs(APPOINTMENT, now=now)) == expected


@pytest.mark.parametrize("state", ["held", "requested", "declined", "cancelled"])
def test_only_confirmed_appointments_are_reminded(state: AppointmentState) -> None:
    """Requests may still be declined, cancelled ones are off: no reminder for them."""
    assert appointment_jobs(replace(APPOINTMENT, state=state), now=at(MONDAY)) == []


def test_keys_are_stable_and_distinct() -> None:
    """Planning twice gives the same keys (the database keeps one job per key); each differs."""
    first = appointment_jobs(APPOINTMENT, now=at(MONDAY))
    again = appointment_jobs(APPOINTMENT, now=at(MONDAY, "10:00"))
    assert [j.key for j in first] == [j.key for j in again]
    assert len({j.key for j in first}) == len(first) == 2
    other = appointment_jobs(replace(APPOINTMENT, id=2), now=at(MONDAY))
    assert not {j.key for j in first} & {j.key for j in other}


def test_moved_appointment_gets_new_jobs_and_drops_the_old() -> None:
    """Moving an appointment plans new keys; the old jobs are no longer due when they fire."""
    old = appointment_jobs(APPOINTMENT, now=at(MONDAY))
    moved = replace(APPOINTMENT, starts_at=APPOINTMENT.starts_at + 3600_000, sequence=1)
    new = appointment_jobs(moved, now=at(MONDAY))
    assert not {j.key for j in old} & {j.key for j in new}
    assert [still_due(j, starts_at=moved.starts_at, active=True) for j in old] == [False, False]
    assert [still_due(j, starts_at=moved.starts_at, active=True) for j in new] == [True, True]


def test_cancelled_appointment_sends_nothing() -> None:
    """A job of an appointment cancelled after planning is dropped at send time."""
    job = appointment_jobs(APPOINTMENT, now=at(MONDAY))[0]
    assert still_due(job, starts_at=APPOINTMENT.starts_at, active=True)
    assert not still_due(job, starts_at=APPOINTMENT.starts_at, active=False)


def test_video_appointment_gets_its_link_before_it_starts() -> None:
    """A video appointment also plans the link's posting, 10 minutes before by default."""
    video = booked(VIDEO, "15:00", day="2026-06-09")
    jobs = appointment_jobs(video, now=at(MONDAY), reminders_min=(60,))
    assert _due(jobs) == [("reminder", "2026-06-09 14:00"), ("video_link", "2026-06-09 14:50")]
    later = appointment_jobs(video, now=at(MONDAY), reminders_min=(), video_link_min=5)
    assert _due(later) == [("video_link", "2026-06-09 14:55")]


def test_group_jobs() -> None:
    """Group appointments are reminded like single ones, unless cancelled."""
    group = GroupAppointment(3, COUNSELLOR, "G", at("2026-06-09", "15:00"), 0, 5, channel="video")
    jobs = group_jobs(group, now=at(MONDAY))
    assert [j.key.split(":")[:3] for j in jobs] == [
        ["reminder", "group", "3"],
        ["reminder", "group", "3"],
        ["video_link", "group", "3"],
    ]
    assert group_jobs(replace(group, cancelled=True), now=at(MONDAY)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h,1h", (1440, 60)),
        ("1h, 24h", (1440, 60)),
        ("1d, 30min", (1440, 30)),
        ("2 Std", (120,)),
        ("45", (45,)),
        ("-", ()),
        ("keine", ()),
        ("0h", None),
        ("15d", None),
        ("bald", None),
        ("1h,", None),
    ],
)
def test_parse_offsets(text: str, expected: tuple[int, ...] | None) -> None:
    """A centre's reminder times as people type them, longest first; nonsense refused."""
    assert parse_offsets(text) == expected


def test_room_names_are_unguessable_and_lower_case() -> None:
    """128 random bits in lower-case hex (Jitsi folds case), a new one each time."""
    names = {new_room_name() for _ in range(100)}
    assert len(names) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", name) for name in names)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://meet.example.org", "https://meet.example.org/abc"),
        ("https://meet.example.org/", "https://meet.example.org/abc"),
        ("https://example.org/jitsi/", "https://example.org/jitsi/abc"),
    ],
)
def test_jitsi_url(base: str, expected: str) -> None:
    """The room name is appended to the configured base URL."""
    assert jitsi_url(base, "abc") == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://zoom.us/j/123456?pwd=abc", None),
        ("https://meet.example.org:8443/room", None),
        ("http://zoom.us/j/123", LinkProblem.NOT_HTTPS),
        ("javascript:alert(1)", LinkProblem.NOT_HTTPS),
        ("zoom.us/j/123", LinkProblem.NOT_HTTPS),
        ("https:///path", LinkProblem.NO_HOST),
        ("https://host:port/", LinkProblem.NO_HOST),
        ("https://user:secret@zoom.us/j/1", LinkProblem.CREDENTIALS),
        ("https://zoom.us/j/1 2", LinkProblem.BAD_CHARACTERS),
        ("https://zoom.us/\u202e", LinkProblem.BAD_CHARACTERS),
        ("https://zoom.us/" + "a" * 500, LinkProblem.TOO_LONG),
    ],
)
def test_check_link(url: str, expected: LinkProblem | None) -> None:
    """A counsellor's own video link must be a clean https link to a host."""
    assert check_link(url) == expected


@pytest.mark.parametrize(
    ("channel", "base", "external", "expected"),
    [
        ("video", "https://meet.example.org", None, "https://meet.example.org/r00m"),
        ("video", "https://meet.example.org", "https://zoom.us/j/1", "https://zoom.us/j/1"),
        ("video", None, "https://zoom.us/j/1", "https://zoom.us/j/1"),
        ("video", None, None, None),
        ("chat", "https://meet.example.org", "https://zoom.us/j/1", None),
    ],
)
def test_video_link(
    channel: str, base: str | None, external: str | None, expected: str | None
) -> None:
    """Only video appointments have a link; the counsellor's own link wins over Jitsi."""
    found = video_link(channel, room="r00m", base_url=base, external_url=external)  # type: ignore[arg-type]
    assert found == expected
