"""Reading dates people type (``24.12.2026``, ``2026-12-24``): pure, no clock, no I/O."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A centre's own zone is `centres[].timezone`; this one is for what has no centre at hand
# (the same default as appservice/config_centres.py; kept here so that pure rules import no
# configuration code).
DEFAULT_TZ = ZoneInfo("Europe/Berlin")
MAX_RANGE_DAYS = 366
DAY_MS = 24 * 60 * 60 * 1000
# A "month" of an inactivity or retention period: 30 days, whatever the calendar says.
MONTH_DAYS = 30


def local_time(ms: int, tz: ZoneInfo = DEFAULT_TZ) -> str:
    """A moment (ms since the epoch) as people read it: date and time in ``tz``."""
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%d.%m.%Y %H:%M")


def parse_day(text: str) -> date | None:
    text = text.strip()
    for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def day_range(first: str, last: str, tz: ZoneInfo = DEFAULT_TZ) -> tuple[datetime, datetime] | str:
    """Whole days from ``first`` to ``last`` inclusive, as [start, end) in ``tz``.

    Returns an error code instead: ``bad_first``, ``bad_last``, ``end_before_start``,
    ``too_long``.
    """
    start_day, end_day = parse_day(first), parse_day(last)
    if start_day is None:
        return "bad_first"
    if end_day is None:
        return "bad_last"
    if end_day < start_day:
        return "end_before_start"
    if (end_day - start_day).days >= MAX_RANGE_DAYS:
        return "too_long"
    start = datetime.combine(start_day, time.min, tzinfo=tz)
    end = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end
