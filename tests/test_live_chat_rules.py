"""The live chat's pure rules: open now (hours, staff, capacity), the next opening, the hours
parser, and the in-memory start limit — table-driven, no clock, no I/O."""

from __future__ import annotations

from datetime import datetime

import pytest

from appservice.config_live_chat import parse_hours, parse_live_chat
from appservice.config_values import ConfigError
from bots.framework.rate_limit import SlidingWindow
from bots.livechat.rules import chat_status, next_opening, within_hours

# Monday 09:00-12:00 and 14:00-17:00, Wednesday the whole day, Thursday from 20:00 to midnight
# and Friday from midnight to 02:00 (one night span across midnight).
HOURS = parse_hours(
    {
        "mon": "09:00-12:00, 14:00-17:00",
        "wed": "00:00-24:00",
        "thu": "20:00-24:00",
        "fri": "00:00-02:00",
    },
    "hours",
)
# 2026-11-30 is a Monday.


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(2026, 11, 30, 8, 59), False),
        (datetime(2026, 11, 30, 9, 0), True),
        (datetime(2026, 11, 30, 11, 59), True),
        (datetime(2026, 11, 30, 12, 0), False),
        (datetime(2026, 11, 30, 14, 30), True),
        (datetime(2026, 12, 1, 10, 0), False),  # Tuesday: closed
        (datetime(2026, 12, 2, 0, 0), True),  # Wednesday, all day
        (datetime(2026, 12, 2, 23, 59), True),
        (datetime(2026, 12, 3, 19, 59), False),
        (datetime(2026, 12, 4, 1, 59), True),  # Friday night, after midnight
        (datetime(2026, 12, 4, 2, 0), False),
    ],
)
def test_within_hours(moment: datetime, inside: bool) -> None:
    assert within_hours(HOURS, moment) is inside


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 30, 8, 0), datetime(2026, 11, 30, 9, 0)),
        (datetime(2026, 11, 30, 9, 0), datetime(2026, 11, 30, 14, 0)),  # open: the next span
        (datetime(2026, 11, 30, 12, 30), datetime(2026, 11, 30, 14, 0)),
        (datetime(2026, 11, 30, 18, 0), datetime(2026, 12, 2, 0, 0)),
        (datetime(2026, 12, 3, 21, 0), datetime(2026, 12, 7, 9, 0)),  # Fri 00:00 continues Thu
        (datetime(2026, 12, 5, 12, 0), datetime(2026, 12, 7, 9, 0)),  # Saturday: next Monday
    ],
)
def test_next_opening(moment: datetime, expected: datetime) -> None:
    assert next_opening(HOURS, moment) == expected


def test_no_hours_no_opening() -> None:
    assert next_opening((), datetime(2026, 11, 30, 8, 0)) is None


MONDAY_TEN = datetime(2026, 11, 30, 10, 0)
TUESDAY_TEN = datetime(2026, 12, 1, 10, 0)


@pytest.mark.parametrize(
    ("configured", "moment", "staffing", "running", "capacity", "status"),
    [
        (True, MONDAY_TEN, 1, 0, 2, "open"),
        (True, MONDAY_TEN, 2, 1, 2, "open"),
        (True, MONDAY_TEN, 1, 2, 2, "full"),
        (True, MONDAY_TEN, 1, 5, 2, "full"),
        (True, MONDAY_TEN, 0, 0, 2, "unstaffed"),  # hours alone do not open it
        (True, TUESDAY_TEN, 3, 0, 2, "closed"),  # staff alone do not open it
        (True, TUESDAY_TEN, 0, 0, 2, "closed"),
        (False, MONDAY_TEN, 3, 0, 2, "none"),
    ],
)
def test_chat_status(
    configured: bool, moment: datetime, staffing: int, running: int, capacity: int, status: str
) -> None:
    assert chat_status(configured, HOURS, moment, staffing, running, capacity) == status


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"mon": "9-17"}, "hours.mon"),
        ({"mon": "17:00-09:00"}, "hours.mon"),
        ({"mon": "09:00-24:30"}, "hours.mon"),
        ({"monday": "09:00-17:00"}, "hours.monday"),
        ({"mon": ""}, "hours.mon"),
        ("always", "hours"),
    ],
)
def test_bad_hours_name_the_key(raw: object, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_hours(raw, "hours")
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"capacity": 0}, "live_chat.capacity"),
        ({"capacity": "2"}, "live_chat.capacity"),
        ({"web_client": "ftp://x"}, "live_chat.web_client"),
        ({"web_client": "https://u:p@chat.example.org"}, "live_chat.web_client"),
        ({"web_client": "https://chat.example.org/;script-src *"}, "live_chat.web_client"),
        ({"accounts_per_hour": 0}, "live_chat.accounts_per_hour"),
        ({"starts_per_minute": True}, "live_chat.starts_per_minute"),
        ({"erase_after_hours": -1}, "live_chat.erase_after_hours"),
        ({"colour": "red"}, "live_chat.colour"),
    ],
)
def test_bad_live_chat_options_name_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_live_chat(raw, "live_chat")
    assert caught.value.key == key


def test_live_chat_defaults() -> None:
    live = parse_live_chat({}, "live_chat")
    assert live is not None and live.erase_after_hours == 24 and live.hours == ()
    assert parse_live_chat(None, "live_chat") is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("limit", "steps", "taken"),
    [
        # (seconds later, expected take()) per step; a window of 60 s.
        (2, [(0, True), (1, True), (1, False), (57, False), (1, True)], 3),
        (1, [(0, True), (59, False), (1, True), (0, False)], 2),
        (3, [(0, True), (0, True), (0, True), (0, False), (60, True)], 4),
    ],
)
def test_start_rate_limit(limit: int, steps: list[tuple[float, bool]], taken: int) -> None:
    """The start button's limit: per centre, in memory, for everyone together (no addresses)."""
    clock = Clock()
    window = SlidingWindow(limit, 60, clock=clock)
    results = []
    for later, expected in steps:
        clock.now += later
        results.append(window.take())
        assert results[-1] is expected
    assert results.count(True) == taken
