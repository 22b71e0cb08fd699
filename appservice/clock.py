"""The one clock of the database rows and jobs: milliseconds since the epoch (UTC)."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Now, as stored in every ``*_at`` column."""
    return int(time.time() * 1000)
