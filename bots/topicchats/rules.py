"""The rules of topic chats, without I/O: reading an announcement, checking it, the window.

An announcement is ``TITLE FROM TO [TEXT]``: the title one word or in double quotes, FROM a
date and a time (``8.12.2026 18:00``, ``heute 18:00``), TO a time on the same day or a date
and a time, then the optional short text. People join only inside the window (from
``early_ms`` before the start); when it is over the room is closed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bots.booking.rules import parse_clock
from bots.booking.slots import local_ms
from bots.framework.dates import DAY_MS, parse_day

MAX_TITLE = 80
MAX_TEXT = 500
# A chat may be announced at most this far ahead.
MAX_AHEAD_MS = 366 * DAY_MS
# A start typed a little late ("18:00" at 18:05) is still taken.
LATE_START_MS = 15 * 60 * 1000

_TODAY = {"heute": 0, "today": 0, "morgen": 1, "tomorrow": 1, "übermorgen": 2}


class Problem(enum.StrEnum):
    """Why an announcement is refused; each has its own sentence in ``topicchat_problem``."""

    NO_TITLE = "no_title"
    TITLE_TOO_LONG = "title_too_long"
    TEXT_TOO_LONG = "text_too_long"
    BAD_START = "bad_start"
    BAD_END = "bad_end"
    END_BEFORE_START = "end_before_start"
    TOO_LONG = "too_long"
    IN_PAST = "in_past"
    TOO_FAR = "too_far"


class Window(enum.StrEnum):
    EARLY = "early"
    OPEN = "open"
    OVER = "over"


@dataclass(frozen=True)
class Announcement:
    title: str
    starts_at: int
    ends_at: int
    text: str


def _day(word: str, today: date) -> date | None:
    shift = _TODAY.get(word.strip().lower())
    return today + timedelta(days=shift) if shift is not None else parse_day(word)


def parse_announcement(
    title: str, words: Sequence[str], today: date, tz: ZoneInfo
) -> Announcement | Problem:
    """The announcement in ``words`` (what follows the title), or the first thing unreadable."""
    words = list(words)
    if len(words) < 3:
        return Problem.BAD_START if len(words) < 2 else Problem.BAD_END
    start_day, start_clock = _day(words[0], today), parse_clock(words[1])
    if start_day is None or start_clock is None:
        return Problem.BAD_START
    starts_at = local_ms(start_day, start_clock, tz)
    end_clock = parse_clock(words[2])
    if end_clock is not None:
        ends_at, rest = local_ms(start_day, end_clock, tz), words[3:]
    else:
        end_day = _day(words[2], today)
        end_clock = parse_clock(words[3]) if len(words) > 3 else None
        if end_day is None or end_clock is None:
            return Problem.BAD_END
        ends_at, rest = local_ms(end_day, end_clock, tz), words[4:]
    return Announcement(" ".join(title.split()), starts_at, ends_at, " ".join(rest))


def check_announcement(found: Announcement, now: int, max_ms: int) -> list[Problem]:
    """Everything wrong with an announcement read well (``max_ms``: its longest window)."""
    problems: list[Problem] = []
    if not found.title:
        problems.append(Problem.NO_TITLE)
    elif len(found.title) > MAX_TITLE:
        problems.append(Problem.TITLE_TOO_LONG)
    if len(found.text) > MAX_TEXT:
        problems.append(Problem.TEXT_TOO_LONG)
    if found.ends_at <= found.starts_at:
        problems.append(Problem.END_BEFORE_START)
    elif found.ends_at - found.starts_at > max_ms:
        problems.append(Problem.TOO_LONG)
    if found.starts_at < now - LATE_START_MS:
        problems.append(Problem.IN_PAST)
    elif found.starts_at > now + MAX_AHEAD_MS:
        problems.append(Problem.TOO_FAR)
    return problems


def window(starts_at: int, ends_at: int, now: int, early_ms: int = 0) -> Window:
    """Whether people may join now: ``early`` before (start − early_ms), ``over`` from the end."""
    if now >= ends_at:
        return Window.OVER
    if now < starts_at - early_ms:
        return Window.EARLY
    return Window.OPEN


def cancellable(cancelled_at: int | None, closed_at: int | None) -> bool:
    """A chat can be cancelled until it is cancelled or closed (also while it runs)."""
    return cancelled_at is None and closed_at is None
