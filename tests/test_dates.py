"""Dates as people type them, turned into whole-day ranges."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bots.framework.dates import DEFAULT_TZ, day_range, local_time

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("24.12.2026", "26.12.2026", ("2026-12-24T00:00+01:00", "2026-12-27T00:00+01:00")),
        ("2026-07-01", "2026-07-01", ("2026-07-01T00:00+02:00", "2026-07-02T00:00+02:00")),
        ("24.12.26", "24.12.26", ("2026-12-24T00:00+01:00", "2026-12-25T00:00+01:00")),
        ("31.02.2026", "01.03.2026", "bad_first"),
        ("01.03.2026", "morgen", "bad_last"),
        ("05.03.2026", "01.03.2026", "end_before_start"),
        ("01.01.2026", "02.01.2027", "too_long"),
        ("28.03.2026", "29.03.2026", ("2026-03-28T00:00+01:00", "2026-03-30T00:00+02:00")),
    ],
    ids=["german", "iso", "short-year", "no-such-day", "word", "reversed", "too-long", "dst"],
)
def test_day_range(first: str, last: str, expected: tuple[str, str] | str) -> None:
    """Inclusive whole days in the centre's zone (DST included); bad input gives a code."""
    result = day_range(first, last, DEFAULT_TZ)
    if isinstance(expected, str):
        assert result == expected
    else:
        assert not isinstance(result, str)
        start, end = expected
        assert result == (datetime.fromisoformat(start), datetime.fromisoformat(end))


@pytest.mark.parametrize(
    ("utc", "zone", "shown"),
    [
        ("2026-01-15T09:30:00+00:00", "Europe/Berlin", "15.01.2026 10:30"),
        ("2026-07-15T09:30:00+00:00", "Europe/Berlin", "15.07.2026 11:30"),
        ("2026-12-31T23:30:00+00:00", "Europe/Berlin", "01.01.2027 00:30"),
        ("2026-07-15T09:30:00+00:00", "Europe/London", "15.07.2026 10:30"),
        ("2026-07-15T09:30:00+00:00", "UTC", "15.07.2026 09:30"),
    ],
    ids=["winter", "summer", "next-day", "other-zone", "utc"],
)
def test_local_time_in_the_centres_zone(utc: str, zone: str, shown: str) -> None:
    """A moment is shown as the clock reads in the centre's zone (summer time included)."""
    ms = int(datetime.fromisoformat(utc).timestamp() * 1000)
    assert local_time(ms, ZoneInfo(zone)) == shown
