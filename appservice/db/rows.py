"""Helpers every row class shares, whatever the driver."""

from __future__ import annotations

from typing import Any


def rows_changed(result: Any) -> int:
    """Rows touched by an UPDATE on asyncpg ("UPDATE 1") or aiosqlite (a cursor)."""
    if isinstance(result, str):
        return int(result.rsplit(" ", 1)[-1])
    return int(getattr(result, "rowcount", 0))
