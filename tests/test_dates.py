"""Dates as people type them, turned into whole-day ranges."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bots.dates import DEFAULT_TZ, day_range

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
