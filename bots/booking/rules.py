"""Input checks for services, booking windows and time ranges, returning problem codes.

A command asks these first and changes nothing when any code comes back; each code names
a template variant, so the person reads what was wrong in their language and what to type
instead. Parsers return ``None`` for what they cannot read, the checks a list of codes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import time
from enum import StrEnum

from .model import CHANNELS, DAY_MS, HORIZON_WEEKS, MINUTE_MS, BookingWindow, Channel, Service
from .slots import Span, overlaps

__all__ = [
    "Problem",
    "check_appointment_time",
    "check_range",
    "check_service",
    "check_window",
    "parse_channel",
    "parse_clock",
    "parse_horizon",
    "parse_minutes",
    "parse_weekday",
]

MAX_TITLE = 80
MAX_DESCRIPTION = 500
MIN_DURATION = 5
MAX_DURATION = 8 * 60
MAX_FOLLOW_UP = 4 * 60
MAX_RANGE_MS = 366 * 24 * 60 * 60 * 1000


class Problem(StrEnum):
    """Why an input was refused; the value is the template variant's name."""

    TITLE_MISSING = "title_missing"
    TITLE_TOO_LONG = "title_too_long"
    DESCRIPTION_TOO_LONG = "description_too_long"
    BAD_DURATION = "bad_duration"
    BAD_FOLLOW_UP = "bad_follow_up"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_TOPIC = "unknown_topic"
    BAD_WEEKDAY = "bad_weekday"
    END_BEFORE_START = "end_before_start"
    BAD_HORIZON = "bad_horizon"
    UNKNOWN_SERVICE = "unknown_service"
    WINDOW_TOO_SHORT = "window_too_short"
    WINDOW_OVERLAPS = "window_overlaps"
    TOO_LONG = "too_long"
    IN_PAST = "in_past"
    TIME_TAKEN = "time_taken"
    BAD_PARTICIPANTS = "bad_participants"
    MORE_PARTICIPANTS_THAN_PLACES = "more_participants_than_places"


_WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "mo mon monday montag",
        "tu tue tuesday di dienstag",
        "we wed wednesday mi mittwoch",
        "th thu thursday do donnerstag",
        "fr fri friday freitag",
        "sa sat saturday samstag sonnabend",
        "su sun sunday so sonntag",
    )
):
    _WEEKDAYS.update(dict.fromkeys(_names.split(), _number))

_CHANNEL_WORDS: dict[str, Channel] = {
    **{c: c for c in CHANNELS},
    "telefon": "phone",
    "vor-ort": "onsite",
    "vorort": "onsite",
    "on-site": "onsite",
    "präsenz": "onsite",
}
_CLOCK_RE = re.compile(r"([01]?\d|2[0-3])(?:[:.]([0-5]\d))?(?:h|uhr)?")
_MINUTES_RE = re.compile(r"(\d{1,4})(?:min|m)?")
_HORIZON_RE = re.compile(r"(?:weeks=|wochen=)?(\d)(?:w)?")


def parse_weekday(text: str) -> int | None:
    """``Mo``, ``montag``, ``monday`` → 0; German and English, any case, a trailing dot."""
    return _WEEKDAYS.get(text.strip().lower().rstrip("."))


def parse_clock(text: str) -> time | None:
    """``9``, ``9:30``, ``09.30``, ``14h``, ``14 uhr`` → a time of day."""
    match = _CLOCK_RE.fullmatch(text.strip().lower().replace(" ", ""))
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2) or 0))


def parse_minutes(text: str) -> int | None:
    """``30`` or ``30min`` → 30; range checks are ``check_service``'s job."""
    match = _MINUTES_RE.fullmatch(text.strip().lower().replace(" ", ""))
    return int(match.group(1)) if match else None


def parse_horizon(text: str) -> int | None:
    """``4``, ``weeks=4``, ``4w`` → 4; whether 4 is allowed is ``check_window``'s job."""
    match = _HORIZON_RE.fullmatch(text.strip().lower())
    return int(match.group(1)) if match else None


def parse_channel(text: str) -> Channel | None:
    return _CHANNEL_WORDS.get(text.strip().lower())


def check_service(service: Service, topics: Collection[str] = ()) -> list[Problem]:
    """Everything wrong with a new or edited service (``topics``: the centre's topics)."""
    problems: list[Problem] = []
    title = service.title.strip()
    if not title:
        problems.append(Problem.TITLE_MISSING)
    elif len(title) > MAX_TITLE:
        problems.append(Problem.TITLE_TOO_LONG)
    if len(service.description) > MAX_DESCRIPTION:
        problems.append(Problem.DESCRIPTION_TOO_LONG)
    if not MIN_DURATION <= service.duration_min <= MAX_DURATION:
        problems.append(Problem.BAD_DURATION)
    if not 0 <= service.follow_up_min <= MAX_FOLLOW_UP:
        problems.append(Problem.BAD_FOLLOW_UP)
    if service.channel not in CHANNELS:
        problems.append(Problem.UNKNOWN_CHANNEL)
    if service.topic is not None and service.topic not in topics:
        problems.append(Problem.UNKNOWN_TOPIC)
    return problems


def check_window(
    window: BookingWindow, services: Mapping[int, Service], existing: Iterable[BookingWindow]
) -> list[Problem]:
    """Everything wrong with a new booking window, given the counsellor's other windows.

    Windows of different services may overlap (parallel slots, as in the reference); two
    windows of the same service at the same time would offer the same slot twice.
    """
    problems: list[Problem] = []
    if not 0 <= window.weekday <= 6:
        problems.append(Problem.BAD_WEEKDAY)
    if window.ends <= window.starts:
        problems.append(Problem.END_BEFORE_START)
    if window.horizon_weeks not in HORIZON_WEEKS:
        problems.append(Problem.BAD_HORIZON)
    service = services.get(window.service_id)
    if service is None:
        problems.append(Problem.UNKNOWN_SERVICE)
    if window.ends <= window.starts:
        return problems
    if service is not None and _minutes(window.ends) - _minutes(window.starts) < (
        service.duration_min + service.follow_up_min
    ):
        problems.append(Problem.WINDOW_TOO_SHORT)
    if any(_same_service_overlap(window, other) for other in existing):
        problems.append(Problem.WINDOW_OVERLAPS)
    return problems


def check_range(starts_at: int, ends_at: int, max_ms: int = MAX_RANGE_MS) -> list[Problem]:
    """A blocker, closing day or single appointment: it must end after it starts."""
    if ends_at <= starts_at:
        return [Problem.END_BEFORE_START]
    if ends_at - starts_at > max_ms:
        return [Problem.TOO_LONG]
    return []


def check_appointment_time(
    starts_at: int,
    ends_at: int,
    *,
    now: int,
    follow_up_min: int = 0,
    busy: Iterable[Span] = (),
) -> list[Problem]:
    """A counsellor's single or group appointment: ahead, and over nothing else of theirs.

    ``busy`` are the counsellor's spans from ``slots.busy_spans`` (without the appointment
    being edited); the follow-up time must be free too.
    """
    problems = check_range(starts_at, ends_at, max_ms=DAY_MS)
    if starts_at <= now:
        problems.append(Problem.IN_PAST)
    busy_until = ends_at + follow_up_min * MINUTE_MS
    if any(overlaps(starts_at, busy_until, start, end) for start, end in busy):
        problems.append(Problem.TIME_TAKEN)
    return problems


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _same_service_overlap(window: BookingWindow, other: BookingWindow) -> bool:
    return (
        other.id != window.id
        and other.counsellor == window.counsellor
        and other.service_id == window.service_id
        and other.weekday == window.weekday
        and other.starts < window.ends
        and window.starts < other.ends
    )
