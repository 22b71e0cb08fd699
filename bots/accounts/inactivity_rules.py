"""Pure rules for inactive accounts (reference: AYGOnet 1.8 and 3.4.4): a client who has not
logged in for the centre's period is warned 7 days before, then marked for deletion; staff are
never deleted this way, the admins hear of them instead. No I/O (tests/test_inactivity_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.framework.dates import DAY_MS, MONTH_DAYS

NOTICE_DAYS = 7

KEEP = "keep"
CANCEL = "cancel"  # they logged in since the notice: forget it
NOTIFY = "notify"  # a client: the content-free notice, 7 days ahead
DELETE = "delete"  # a client warned at least 7 days ago, still without a login
STAFF = "staff"  # a counsellor or admin: the admins get them in a list, once


@dataclass(frozen=True)
class Notice:
    """A notice already given: the last activity it was about, and when it went out."""

    last_active: int
    notified_at: int


def deadline(last_active: int, months: int) -> int:
    return last_active + months * MONTH_DAYS * DAY_MS


def decide(role: str, last_active: int, months: int, notice: Notice | None, now: int) -> str:
    """What to do about one account now. ``months`` 0 switches the rule off."""
    if months <= 0:
        return CANCEL if notice is not None else KEEP
    cancelled = notice is not None and last_active > notice.last_active
    if cancelled:
        notice = None
    due = deadline(last_active, months)
    if now < due - NOTICE_DAYS * DAY_MS:
        return CANCEL if cancelled else KEEP
    if role != "client":
        return STAFF if notice is None else KEEP
    if notice is None:
        return NOTIFY
    if now >= max(due, notice.notified_at + NOTICE_DAYS * DAY_MS):
        return DELETE
    return KEEP


def delete_on(last_active: int, months: int, notified_at: int) -> int:
    """The day the notice names: the deadline, or 7 days after a late notice."""
    return max(deadline(last_active, months), notified_at + NOTICE_DAYS * DAY_MS)
