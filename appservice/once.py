"""Exactly-once commands: effect, outcome and messages of a command event in one step.

An event can be handled again: its reply failed and the inbox retries it, or Lotse died after
the command's effect and before the event was marked handled. So a command runs inside one
database transaction that also records its outcome (everything it will send, sealed), keyed by
its event id; nothing goes to Matrix before that transaction is committed. A retry finds the
record and sends from it: the command does not run again. Each message's transaction id is
derived from the event id, so a message sent again after a crash stays one event in the room.

Why the messages wait for the commit instead of going out inside the transaction: sending
encrypts, and the assistant's olm machine takes locks that its ``/sync`` loop may hold while
waiting for the database. On SQLite (one connection) a transaction held across an encrypting
send can wait for that loop forever; on PostgreSQL it would hold row locks and a pooled
connection while Synapse answers. The other Matrix calls a command makes (the steward's
invites and kicks, the Synapse admin API) do happen inside the transaction: they never wait
for the database, and a command whose Matrix step fails rolls back what it wrote.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from mautrix.util.async_db import Connection

from .db import CommandOutcome
from .sealing import Sealer

__all__ = ["Outgoing", "Rollback", "Scope", "after_commit", "current", "run_once"]


@dataclass
class Outgoing:
    """One event to send once the command's transaction is committed."""

    room_id: str
    event_type: str
    content: dict[str, Any]
    txn_key: str
    # Sent instead when ``room_id`` refuses the event (the admins' own rooms stand in for the
    # admin control room).
    fallback: list[Outgoing] = field(default_factory=list)
    # The name of a step to run after sending, given ``hook_arg`` plus the sent event's
    # ``room_id`` and ``event_id`` (a poll is tied to its question). An item without an
    # ``event_type`` is that step alone (e.g. creating a pool request's room).
    hook: str = ""
    hook_arg: dict[str, str] = field(default_factory=dict)
    # Who may read it, for a room that is none of the assistant's own (a chat somebody opened
    # with it, see bots/assistant.py); None: whoever belongs in the assistant's room.
    only: list[str] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outgoing:
        fallback = [cls.from_dict(f) for f in data.get("fallback", [])]
        return cls(**{**data, "fallback": fallback})


class Scope:
    """The command being run in this task: what it will send, and what runs after commit."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        self.outgoing: list[Outgoing] = []
        self._after_commit: list[Callable[[], None]] = []
        self._keys = 0

    def key(self, kind: str) -> str:
        """A transaction key derived from the command's event id (the n-th of this kind)."""
        self._keys += 1
        return f"{kind}-{self.event_id}-{self._keys}"


_scope: ContextVar[Scope | None] = ContextVar("lotse_command", default=None)


def current() -> Scope | None:
    """The command running in this task, if any (then sends are queued, not sent)."""
    return _scope.get()


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the running command's changes are visible (now if none runs).

    E.g. waking the mail sender: woken earlier, it would not see the queued mail yet.
    """
    scope = current()
    if scope is None:
        callback()
    else:
        scope._after_commit.append(callback)


class Rollback(Exception):
    """A command undoes every database change it made and answers ``reply`` instead."""

    def __init__(self, reply: str) -> None:
        super().__init__("command rolled back")
        self.reply = reply


@asynccontextmanager
async def _atomically(outcomes: type[CommandOutcome], event_id: str) -> AsyncIterator[Scope]:
    scope = Scope(event_id)
    token = _scope.set(scope)
    conn: Connection
    try:
        # mautrix keeps the connection in a context variable: every row class called in this
        # task joins the transaction (SQLite flattens nested ones, PostgreSQL uses savepoints).
        async with outcomes.db.acquire() as conn, conn.transaction():
            yield scope
    finally:
        _scope.reset(token)
    for callback in scope._after_commit:
        callback()


OUTCOME_PURPOSE = "command outcomes"


def outcome_context(event_id: str) -> str:
    return f"outcome:{event_id}"


def _seal(sealer: Sealer, event_id: str, outgoing: list[Outgoing]) -> str:
    return sealer.seal(json.dumps([asdict(o) for o in outgoing]), outcome_context(event_id))


def _open(sealer: Sealer, event_id: str, sealed: str) -> list[Outgoing]:
    opened = sealer.open(sealed, outcome_context(event_id))
    return [Outgoing.from_dict(o) for o in json.loads(opened)]


async def run_once(
    outcomes: type[CommandOutcome],
    sealer: Sealer,
    event_id: str,
    work: Callable[[Scope], Awaitable[None]],
    failed: Callable[[str], list[Outgoing]],
) -> list[Outgoing]:
    """Run ``work`` for ``event_id`` unless it ran before; return what is to be sent.

    ``work`` queues its messages in the scope. If it raises ``Rollback``, nothing it wrote or
    queued stays, and ``failed(reply)`` is recorded instead. Any other exception leaves no
    record, so the inbox retries the event as a whole. ``outcomes`` is the outcome table of
    the app's database: the command's transaction is on that database.
    """
    recorded = await outcomes.get(event_id)
    if recorded is not None:
        return _open(sealer, event_id, recorded)
    try:
        async with _atomically(outcomes, event_id) as scope:
            await work(scope)
            await outcomes.record(event_id, _seal(sealer, event_id, scope.outgoing))
    except Rollback as e:
        outgoing = failed(e.reply)
        await outcomes.record(event_id, _seal(sealer, event_id, outgoing))
        return outgoing
    return scope.outgoing
