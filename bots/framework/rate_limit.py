"""A sliding-window rate limit kept in memory, for the public pages (no I/O, no addresses).

The public forms (`/register`, `/reset`) can be sent by anyone, and each accepted one may
mail an address the sender chose. Lotse keeps no IP addresses (DESIGN.md, privacy point 6),
so the limit is global: at most ``limit`` accepted forms per ``window`` seconds, whoever sent
them. Kept in memory: a restart forgets it, which only ever allows one more window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """``take()`` is True while fewer than ``limit`` were taken in the last ``window`` s."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._taken: deque[float] = deque()

    def _forget_old(self, now: float) -> None:
        while self._taken and self._taken[0] <= now - self.window:
            self._taken.popleft()

    def take(self) -> bool:
        """Count one use now if the window has room; False (and nothing counted) if not."""
        now = self._clock()
        self._forget_old(now)
        if len(self._taken) >= self.limit:
            return False
        self._taken.append(now)
        return True

    def retry_after(self) -> int:
        """Whole seconds until the next use would be allowed (0 if it would be now)."""
        now = self._clock()
        self._forget_old(now)
        if len(self._taken) < self.limit:
            return 0
        return max(1, int(self._taken[0] + self.window - now + 0.999))
