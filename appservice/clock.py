"""The one clock of the database rows and jobs: milliseconds since the epoch (UTC).

Tests move it forward (:func:`advance`) to see what the jobs do months later (inactive
accounts, the deletion routine) against a real Synapse, whose own times stay real.
"""

from __future__ import annotations

import time


class _Offset:
    ms = 0


def now_ms() -> int:
    """Now, as stored in every ``*_at`` column."""
    return int(time.time() * 1000) + _Offset.ms


def advance(ms: int) -> None:
    """Move Lotse's clock by ``ms`` (tests only; :func:`reset` puts it back)."""
    _Offset.ms += ms


def reset() -> None:
    _Offset.ms = 0
