"""The rules for inactive accounts, from a table (bots/accounts/inactivity_rules.py)."""

from __future__ import annotations

import pytest

from bots.accounts.inactivity_rules import (
    CANCEL,
    DAY_MS,
    DELETE,
    KEEP,
    NOTIFY,
    STAFF,
    Notice,
    decide,
    delete_on,
)

SEEN = 1_000 * DAY_MS  # last login
M3 = 90 * DAY_MS  # three months of the setting


@pytest.mark.parametrize(
    ("role", "last_active", "months", "notice", "now", "expected"),
    [
        ("client", SEEN, 3, None, SEEN + M3 - 8 * DAY_MS, KEEP),
        ("client", SEEN, 3, None, SEEN + M3 - 7 * DAY_MS, NOTIFY),
        ("client", SEEN, 3, None, SEEN + M3 + 30 * DAY_MS, NOTIFY),  # never warned: warn first
        ("client", SEEN, 3, Notice(SEEN, SEEN + M3 - 7 * DAY_MS), SEEN + M3 - DAY_MS, KEEP),
        ("client", SEEN, 3, Notice(SEEN, SEEN + M3 - 7 * DAY_MS), SEEN + M3, DELETE),
        # A late notice still gives the full 7 days.
        ("client", SEEN, 3, Notice(SEEN, SEEN + M3), SEEN + M3 + 6 * DAY_MS, KEEP),
        ("client", SEEN, 3, Notice(SEEN, SEEN + M3), SEEN + M3 + 7 * DAY_MS, DELETE),
        # A login after the notice cancels it (and restarts the period).
        ("client", SEEN + 30 * DAY_MS, 3, Notice(SEEN, SEEN + M3 - 7 * DAY_MS), SEEN + M3, CANCEL),
        ("client", SEEN + 10 * DAY_MS, 3, Notice(SEEN, SEEN), SEEN + M3 + 4 * DAY_MS, NOTIFY),
        # Switched off: nothing, and a notice given earlier is forgotten.
        ("client", SEEN, 0, None, SEEN + 10 * M3, KEEP),
        ("client", SEEN, 0, Notice(SEEN, SEEN), SEEN + 10 * M3, CANCEL),
        # Staff are never deleted: the admins hear of them once.
        ("counsellor", SEEN, 3, None, SEEN + 10 * M3, STAFF),
        ("admin", SEEN, 3, None, SEEN + 10 * M3, STAFF),
        ("counsellor", SEEN, 3, Notice(SEEN, SEEN + M3), SEEN + 10 * M3, KEEP),
        ("counsellor", SEEN + DAY_MS, 3, Notice(SEEN, SEEN + M3), SEEN + 2 * DAY_MS, CANCEL),
    ],
)
def test_decide(
    role: str, last_active: int, months: int, notice: Notice | None, now: int, expected: str
) -> None:
    assert decide(role, last_active, months, notice, now) == expected


def test_the_notice_names_the_later_day() -> None:
    assert delete_on(SEEN, 3, SEEN) == SEEN + M3
    assert delete_on(SEEN, 3, SEEN + M3) == SEEN + M3 + 7 * DAY_MS
