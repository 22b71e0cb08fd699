"""Pure rules of the anonymous live chat: is it open now, and when does it open next.

The chat is *open* when the centre has a live chat, the time is inside its opening hours (in
the centre's time zone), at least one counsellor staffs it (`livechat on`) and fewer chats run
than its capacity. Everything here is a plain function of its arguments (no clock, no I/O).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from appservice.config_live_chat import Span

Status = Literal["open", "none", "closed", "unstaffed", "full"]

DAY_MINUTES = 24 * 60


def _minute(local: datetime) -> int:
    return local.hour * 60 + local.minute


def within_hours(hours: tuple[Span, ...], local: datetime) -> bool:
    """Whether the local time ``local`` lies in one of the spans (start inclusive)."""
    day, minute = local.weekday(), _minute(local)
    return any(d == day and start <= minute < end for d, start, end in hours)


def next_opening(hours: tuple[Span, ...], local: datetime) -> datetime | None:
    """The start of the next span after ``local`` (this week or next); None without hours.

    A span that runs on from the day before (``00:00`` after ``…-24:00``) is no new opening.
    """
    if not hours:
        return None
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = _minute(local)
    for offset in range(8):
        day = (local.weekday() + offset) % 7
        for d, start, _end in hours:
            if d != day or (offset == 0 and start <= minute):
                continue
            if start == 0 and any(p == (day - 1) % 7 and e == DAY_MINUTES for p, _s, e in hours):
                continue
            return midnight + timedelta(days=offset, minutes=start)
    return None


def chat_status(
    configured: bool,
    hours: tuple[Span, ...],
    local: datetime,
    staffing: int,
    running: int,
    capacity: int,
) -> Status:
    """What the page says and whether the start button works (only when ``open``)."""
    if not configured:
        return "none"
    if not within_hours(hours, local):
        return "closed"
    if staffing < 1:
        return "unstaffed"
    if running >= capacity:
        return "full"
    return "open"
