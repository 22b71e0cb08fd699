"""Input checks of booking: what people type, and the problem codes of bad services/windows."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time

import pytest

from bots.booking.closed_days import holiday_names, region_supported, years_between
from bots.booking.model import Service
from bots.booking.rules import (
    Problem,
    check_appointment_time,
    check_range,
    check_service,
    check_window,
    parse_channel,
    parse_clock,
    parse_horizon,
    parse_minutes,
    parse_weekday,
)

from .support import CHAT, COLLEAGUE, MONDAY, ONSITE, SERVICES, VIDEO, at, window


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mo", 0),
        ("montag", 0),
        ("Monday", 0),
        ("di.", 1),
        ("Mittwoch", 2),
        ("thu", 3),
        ("FR", 4),
        ("sonnabend", 5),
        ("so", 6),
        ("sunday", 6),
        ("mon-fri", None),
        ("", None),
        ("7", None),
    ],
)
def test_parse_weekday(text: str, expected: int | None) -> None:
    """German and English weekday names and abbreviations, nothing else."""
    assert parse_weekday(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9", time(9)),
        ("09:30", time(9, 30)),
        ("9.30", time(9, 30)),
        ("14h", time(14)),
        ("14 Uhr", time(14)),
        ("23:59", time(23, 59)),
        ("24:00", None),
        ("9:60", None),
        ("9:5", None),
        ("neun", None),
    ],
)
def test_parse_clock(text: str, expected: time | None) -> None:
    """Times of day as people write them; impossible ones are refused."""
    assert parse_clock(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (parse_minutes, "30", 30),
        (parse_minutes, "45min", 45),
        (parse_minutes, "-5", None),
        (parse_minutes, "halbe Stunde", None),
        (parse_horizon, "4", 4),
        (parse_horizon, "weeks=8", 8),
        (parse_horizon, "wochen=2", 2),
        (parse_horizon, "3", 3),  # read here, refused by check_window
        (parse_horizon, "weeks=", None),
        (parse_channel, "Video", "video"),
        (parse_channel, "telefon", "phone"),
        (parse_channel, "vor-ort", "onsite"),
        (parse_channel, "mail", None),
    ],
)
def test_parsers(parse: object, text: str, expected: object) -> None:
    """Durations, horizons and channels: read what is meant, None for anything else."""
    assert parse(text) == expected  # type: ignore[operator]


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        ({}, []),
        ({"title": "  "}, [Problem.TITLE_MISSING]),
        ({"title": "x" * 81}, [Problem.TITLE_TOO_LONG]),
        ({"description": "x" * 501}, [Problem.DESCRIPTION_TOO_LONG]),
        ({"duration_min": 0}, [Problem.BAD_DURATION]),
        ({"duration_min": 481}, [Problem.BAD_DURATION]),
        ({"follow_up_min": -5}, [Problem.BAD_FOLLOW_UP]),
        ({"follow_up_min": 241}, [Problem.BAD_FOLLOW_UP]),
        ({"channel": "fax"}, [Problem.UNKNOWN_CHANNEL]),
        ({"topic": "family"}, []),
        ({"topic": "weather"}, [Problem.UNKNOWN_TOPIC]),
        ({"title": "", "duration_min": 0}, [Problem.TITLE_MISSING, Problem.BAD_DURATION]),
    ],
)
def test_check_service(change: dict[str, object], problems: list[Problem]) -> None:
    """A service needs a title, a sane duration and follow-up, a known channel and topic."""
    service = replace(CHAT, **change)  # type: ignore[arg-type]
    assert check_service(service, topics={"family", "debts"}) == problems


EXISTING = [window(1, 0, "09:00", "12:00", CHAT)]


@pytest.mark.parametrize(
    ("new", "problems"),
    [
        (window(2, 0, "10:00", "11:00", ONSITE), []),  # parallel, another service: fine
        (window(2, 0, "12:00", "13:00", CHAT), []),  # same service, touching only
        (window(2, 1, "09:00", "12:00", CHAT), []),  # same service, another day
        (window(2, 0, "09:00", "12:00", CHAT, counsellor=COLLEAGUE), []),  # a colleague's
        (window(2, 0, "11:30", "13:00", CHAT), [Problem.WINDOW_OVERLAPS]),
        (window(2, 0, "08:00", "13:00", CHAT), [Problem.WINDOW_OVERLAPS]),
        (window(2, 0, "14:00", "13:00", ONSITE), [Problem.END_BEFORE_START]),
        (window(2, 0, "14:00", "14:00", ONSITE), [Problem.END_BEFORE_START]),
        (window(2, 0, "14:00", "14:20", ONSITE), [Problem.WINDOW_TOO_SHORT]),
        (window(2, 0, "14:00", "14:59", VIDEO), [Problem.WINDOW_TOO_SHORT]),  # 50 + 10
        (window(2, 0, "14:00", "15:00", VIDEO), []),
        (window(2, 0, "14:00", "15:00", ONSITE, weeks=3), [Problem.BAD_HORIZON]),
        (window(2, 0, "14:00", "15:00", ONSITE, weeks=16), [Problem.BAD_HORIZON]),
        (
            window(2, 0, "14:00", "15:00", Service(99, "x", 30, 0, "chat")),
            [Problem.UNKNOWN_SERVICE],
        ),
        (window(2, 7, "14:00", "15:00", ONSITE), [Problem.BAD_WEEKDAY]),
        (
            window(2, 0, "11:00", "10:00", CHAT, weeks=5),
            [Problem.END_BEFORE_START, Problem.BAD_HORIZON],
        ),
    ],
)
def test_check_window(new: object, problems: list[Problem]) -> None:
    """Bad times, horizons, services, too-short and same-service-overlapping windows."""
    assert check_window(new, SERVICES, EXISTING) == problems  # type: ignore[arg-type]


def test_check_window_ignores_itself_when_edited() -> None:
    """Editing a window does not collide with its own old version."""
    assert check_window(replace(EXISTING[0], ends=time(13)), SERVICES, EXISTING) == []


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "problems"),
    [
        (at(MONDAY, "10:00"), at(MONDAY, "11:00"), []),
        (at(MONDAY, "11:00"), at(MONDAY, "10:00"), [Problem.END_BEFORE_START]),
        (at(MONDAY, "11:00"), at(MONDAY, "11:00"), [Problem.END_BEFORE_START]),
        (at("2026-01-01"), at("2027-01-03"), [Problem.TOO_LONG]),
    ],
)
def test_check_range(starts_at: int, ends_at: int, problems: list[Problem]) -> None:
    """Blockers and closing days must end after they start, within a year."""
    assert check_range(starts_at, ends_at) == problems


BUSY = [(at(MONDAY, "10:00"), at(MONDAY, "10:30"))]


@pytest.mark.parametrize(
    ("clock", "minutes", "follow_up", "problems"),
    [
        ("09:00", 30, 0, []),
        ("09:30", 30, 0, []),  # ends when the other starts
        ("09:30", 30, 15, [Problem.TIME_TAKEN]),  # its follow-up meets the other
        ("10:15", 30, 0, [Problem.TIME_TAKEN]),
        ("07:00", 30, 0, [Problem.IN_PAST]),
        ("09:00", -10, 0, [Problem.END_BEFORE_START]),
        ("09:00", 25 * 60, 0, [Problem.TOO_LONG, Problem.TIME_TAKEN]),
    ],
)
def test_check_appointment_time(
    clock: str, minutes: int, follow_up: int, problems: list[Problem]
) -> None:
    """A counsellor's single appointment lies ahead and over nothing else of theirs."""
    start = at(MONDAY, clock)
    found = check_appointment_time(
        start, start + minutes * 60_000, now=at(MONDAY, "08:00"), follow_up_min=follow_up, busy=BUSY
    )
    assert found == problems


@pytest.mark.parametrize(
    ("region", "supported"),
    [("", True), ("DE", True), ("DE-NW", True), ("AT-9", True), ("DE-XX", False), ("ZZ", False)],
)
def test_region_supported(region: str, supported: bool) -> None:
    """Regions the holidays package knows are accepted, others can be refused by the setting."""
    assert region_supported(region) is supported


@pytest.mark.parametrize(
    ("lang", "name"), [("de", "Erster Weihnachtstag"), ("en", "Christmas Day"), ("tr", None)]
)
def test_holiday_names_language(lang: str, name: str | None) -> None:
    """Holiday names come in the reader's language where known, else the package's default."""
    names = holiday_names("DE-NW", [2026], lang)
    assert date(2026, 6, 4) in names  # Fronleichnam in North Rhine-Westphalia
    assert name is None or names[date(2026, 12, 25)] == name


def test_years_between() -> None:
    """A horizon across New Year needs both years' holidays."""
    assert list(years_between(date(2026, 12, 20), date(2027, 2, 14))) == [2026, 2027]
