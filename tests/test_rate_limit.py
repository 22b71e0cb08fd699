"""The in-memory sliding window of the public forms, on a clock the test moves."""

from __future__ import annotations

import pytest

from bots.framework.rate_limit import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_window_and_recovery() -> None:
    """Up to the limit in one window; refused ones count nothing; each use frees a place
    exactly one window after it was taken."""
    clock = Clock()
    window = SlidingWindow(3, 60, clock)
    taken = []
    for _ in range(3):
        taken.append(window.take())
        clock.now += 10  # uses at 1000, 1010, 1020
    assert taken == [True, True, True]
    assert window.take() is False  # at 1030
    assert window.retry_after() == 30
    clock.now = 1059.5
    assert window.take() is False
    clock.now = 1060  # the first use is a whole window old now
    assert window.take() is True
    assert window.take() is False
    assert window.retry_after() == 10  # the use at 1010 frees a place at 1070
    clock.now = 1200
    assert window.retry_after() == 0
    assert [window.take() for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (1, 0), (-1, 60)])
def test_nonsense_limits_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        SlidingWindow(limit, window)
