"""Opening Lotse's databases, with one rule added for PostgreSQL: a connection a task holds
(e.g. a command's transaction, appservice/once.py) is that task's alone, and that database's
alone.

mautrix keeps the held connection in one context variable for every database, and child
tasks copy it. Two things go wrong with that on asyncpg inside a command's transaction:
a library call that gathers several queries at once (mautrix's ``get_state``) runs them
concurrently on the one connection ("another operation is in progress"); and the room-state
and crypto stores would write into the command's transaction, so that a child task updating
the same state rows on another connection waits for the command's row locks while the
command waits for it. So each database here keeps its own held connection per task: the
state and crypto stores never join a command's transaction (what they write is a cache of
Matrix state, no effect of the command), and child tasks take their own connection. SQLite
keeps mautrix's behaviour: its one connection is shared and serialised by aiosqlite, and a
child waiting for it while its parent holds it would wait forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg
from mautrix.util.async_db import Database, UpgradeTable
from mautrix.util.async_db.asyncpg import PostgresDatabase
from mautrix.util.async_db.connection import LoggingConnection
from yarl import URL

Held = tuple[LoggingConnection, "asyncio.Task[Any] | None"]
# What a connection that can no longer be used raises.
BROKEN = (asyncpg.InternalClientError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)


class TaskBoundPostgres(PostgresDatabase):
    """mautrix's PostgreSQL database whose held connection stays in its task and database."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: ContextVar[Held | None] = ContextVar(f"lotse_db_{id(self)}", default=None)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[LoggingConnection]:  # type: ignore[override]
        task = asyncio.current_task()
        held = self._held.get()
        if held is not None and held[1] is task:
            yield held[0]
            return
        conn: LoggingConnection
        async with self.acquire_direct() as conn:
            token = self._held.set((conn, task))
            try:
                yield conn
            except (*BROKEN, ConnectionError):
                # The pool opens a new one in its place at the next acquire.
                conn.wrapped.terminate()
                raise
            finally:
                self._held.reset(token)


def open_database(
    url: str,
    upgrade_table: UpgradeTable,
    log: Any,
    db_args: dict[str, Any] | None = None,
    owner_name: str | None = None,
    max_connections: int = 40,
) -> Database:
    """``Database.create``, with :class:`TaskBoundPostgres` for PostgreSQL URLs (a pool of
    ``max_connections``: more than the commands that hold one at once, see the module)."""
    if URL(url).scheme in ("postgres", "postgresql"):
        return TaskBoundPostgres(
            URL(url),
            upgrade_table=upgrade_table,
            db_args={
                "min_size": 1,
                "max_size": max_connections,
                "meow_exit_on_ice": False,
                **(db_args or {}),
            },
            log=log,
            owner_name=owner_name,
        )
    # Deleted and overwritten rows are zeroed in the file, not left in free pages (contact
    # data sealed by the v22 upgrade, erased people).
    sqlite_args = {"init_commands": ["PRAGMA secure_delete = ON"], **(db_args or {})}
    return Database.create(
        url, upgrade_table=upgrade_table, db_args=sqlite_args, log=log, owner_name=owner_name
    )
