"""The topic-chat rules as tables: reading an announcement, checking it, the join window."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from bots.booking.slots import local_ms
from bots.topicchats.rules import (
    Announcement,
    Problem,
    Window,
    cancellable,
    check_announcement,
    parse_announcement,
    window,
)

TZ = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 12, 1)
MIN = 60 * 1000
HOUR = 60 * MIN


def at(day: str, clock: str) -> int:
    d, m, y = (int(x) for x in day.split("."))
    hh, mm = (int(x) for x in clock.split(":"))
    from datetime import time

    return local_ms(date(y, m, d), time(hh, mm), TZ)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("8.12.2026 18:00 19:30", (at("8.12.2026", "18:00"), at("8.12.2026", "19:30"), "")),
        (
            "2026-12-08 18 19.30 Wir reden",
            (at("8.12.2026", "18:00"), at("8.12.2026", "19:30"), "Wir reden"),
        ),
        ("heute 18:00 19:00", (at("1.12.2026", "18:00"), at("1.12.2026", "19:00"), "")),
        (
            "morgen 9 10 x=y bleibt Text",
            (at("2.12.2026", "9:00"), at("2.12.2026", "10:00"), "x=y bleibt Text"),
        ),
        ("tomorrow 23:00 3.12.2026 01:00", (at("2.12.2026", "23:00"), at("3.12.2026", "1:00"), "")),
        # An end before the start is read; the check refuses it.
        ("8.12.2026 18:00 17:00", (at("8.12.2026", "18:00"), at("8.12.2026", "17:00"), "")),
        ("8.12.2026", Problem.BAD_START),
        ("8.12.2026 18:00", Problem.BAD_END),
        ("achter 18:00 19:00", Problem.BAD_START),
        ("8.12.2026 abends 19:00", Problem.BAD_START),
        ("8.12.2026 18:00 später", Problem.BAD_END),
        ("8.12.2026 18:00 9.12.2026", Problem.BAD_END),
        ("8.12.2026 18:00 9.12.2026 spät", Problem.BAD_END),
    ],
)
def test_parse_announcement(words: str, expected: tuple[int, int, str] | Problem) -> None:
    found = parse_announcement("  Trennung   und Kinder ", words.split(), TODAY, TZ)
    if isinstance(expected, Problem):
        assert found == expected
    else:
        assert found == Announcement("Trennung und Kinder", *expected)


NOW = at("1.12.2026", "12:00")


@pytest.mark.parametrize(
    ("title", "start", "end", "text", "problems"),
    [
        ("Eltern", NOW + HOUR, NOW + 2 * HOUR, "", []),
        ("Eltern", NOW - 10 * MIN, NOW + HOUR, "", []),  # typed a little late: taken
        ("Eltern", NOW - 20 * MIN, NOW + HOUR, "", [Problem.IN_PAST]),
        ("", NOW + HOUR, NOW + 2 * HOUR, "", [Problem.NO_TITLE]),
        ("x" * 81, NOW + HOUR, NOW + 2 * HOUR, "", [Problem.TITLE_TOO_LONG]),
        ("x" * 80, NOW + HOUR, NOW + 2 * HOUR, "t" * 500, []),
        ("Eltern", NOW + HOUR, NOW + 2 * HOUR, "t" * 501, [Problem.TEXT_TOO_LONG]),
        ("Eltern", NOW + HOUR, NOW + HOUR, "", [Problem.END_BEFORE_START]),
        ("Eltern", NOW + HOUR, NOW + HOUR + 8 * HOUR, "", []),
        ("Eltern", NOW + HOUR, NOW + HOUR + 8 * HOUR + MIN, "", [Problem.TOO_LONG]),
        ("Eltern", NOW + 367 * 24 * HOUR, NOW + 367 * 24 * HOUR + HOUR, "", [Problem.TOO_FAR]),
        (
            "",
            NOW - HOUR,
            NOW - 2 * HOUR,
            "",
            [Problem.NO_TITLE, Problem.END_BEFORE_START, Problem.IN_PAST],
        ),
    ],
)
def test_check_announcement(
    title: str, start: int, end: int, text: str, problems: list[Problem]
) -> None:
    assert check_announcement(Announcement(title, start, end, text), NOW, 8 * HOUR) == problems


S, E = NOW, NOW + HOUR


@pytest.mark.parametrize(
    ("now", "early", "expected"),
    [
        (S - 11 * MIN, 10 * MIN, Window.EARLY),
        (S - 10 * MIN, 10 * MIN, Window.OPEN),
        (S - 1, 0, Window.EARLY),
        (S, 0, Window.OPEN),
        (E - 1, 0, Window.OPEN),
        (E, 0, Window.OVER),
        (E + HOUR, 10 * MIN, Window.OVER),
    ],
)
def test_window(now: int, early: int, expected: Window) -> None:
    assert window(S, E, now, early) is expected


@pytest.mark.parametrize(
    ("cancelled", "closed", "expected"),
    [(None, None, True), (1, None, False), (None, 1, False), (1, 1, False)],
)
def test_cancellable(cancelled: int | None, closed: int | None, expected: bool) -> None:
    assert cancellable(cancelled, closed) is expected
