"""Receiving transactions from Synapse and handling each room event exactly once.

Synapse keeps one transaction in flight and retries it until it gets a 200. We answer 200 only
after the events are in the ``event_inbox`` table, and deduplicate by event id: transaction ids
repeat after a Synapse restart (SQLite), event ids never do. A worker then handles the inbox in
order, so an event acknowledged just before a crash is handled after the restart.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from mautrix.errors import MatrixConnectionError, MatrixRequestError
from mautrix.types import Event, EventType

from .db import Inbox, InboxEvent
from .metrics import EVENTS_FAILED, EVENTS_HANDLED, EVENTS_RECEIVED, TRANSACTIONS

log = logging.getLogger("lotse.transactions")

EventHandler = Callable[[Event], Awaitable[None]]
# Gets a transaction's ephemeral events (read receipts, typing) before Synapse gets its 200.
EphemeralHandler = Callable[[list[Any]], Awaitable[None]]
EPHEMERAL_KEYS = ("ephemeral", "de.sorunome.msc2409.ephemeral")
MAX_ATTEMPTS = 3
# While the homeserver cannot be reached, a room's next event is tried again this often.
AWAY_RETRY_SECONDS = 1.0
AWAY_STATUSES = (502, 503, 504)
# Rooms handled at the same time; each room's events stay in order.
ROOM_CONCURRENCY = 16
# Handled events are marked in the inbox together: after this many, or this long, or
# when no room has work left.
MARK_EVERY = 500
MARK_SECONDS = 0.2
# Inbox rows read at once, and how many events may wait in the room queues.
PAGE = 500
QUEUE_CAP = 2000


@dataclass(eq=False)
class RoomQueue:
    """One room's events waiting for its task, oldest first."""

    room_id: str
    items: deque[InboxEvent]
    task: asyncio.Task = field(init=False)


def _json_error(status: int, errcode: str, error: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error}, status=status)


def _ephemeral_of(body: dict[str, Any]) -> list[Any]:
    """The ephemeral events under the stable or the MSC2409 key (Synapse uses the latter)."""
    for key in EPHEMERAL_KEYS:
        value = body.get(key)
        if isinstance(value, list) and value:
            return value
    return []


# Fields every handler relies on, with the type they must have (mautrix does not check).
REQUIRED_FIELDS: dict[str, type] = {"event_id": str, "room_id": str, "sender": str, "type": str}
OPTIONAL_FIELDS: dict[str, type] = {"state_key": str, "content": dict, "unsigned": dict}
# Membership content goes straight into the state store's columns: strings or nothing.
MEMBER_TEXT_FIELDS = ("membership", "displayname", "avatar_url")


def well_formed(raw: dict[str, Any]) -> bool:
    """An event the handlers can rely on: the fields they read have the types they expect.

    A homeserver sends no other, but a broken or hostile one could; such an event is
    skipped, not handed to every observer to fail in each.
    """
    if not all(isinstance(raw.get(k), t) for k, t in REQUIRED_FIELDS.items()):
        return False
    if not all(k not in raw or isinstance(raw[k], t) for k, t in OPTIONAL_FIELDS.items()):
        return False
    if raw["type"] == "m.room.member":
        content = raw.get("content") or {}
        if not all(
            content.get(k) is None or isinstance(content[k], str) for k in MEMBER_TEXT_FIELDS
        ):
            return False
    ts = raw.get("origin_server_ts")
    return ts is None or (isinstance(ts, int) and not isinstance(ts, bool))


def homeserver_away(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) says the homeserver could not be reached."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MatrixConnectionError):
            return True
        if isinstance(seen, MatrixRequestError) and seen.http_status in AWAY_STATUSES:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class TransactionReceiver:
    """The ``/_matrix/app/v1/transactions`` endpoint, backed by the durable inbox."""

    def __init__(
        self, hs_token: str, handler: EventHandler, max_body_bytes: int, inbox: type[Inbox]
    ) -> None:
        self.hs_token = hs_token
        # The inbox table of the app's own database.
        self.inbox = inbox
        self.handler = handler
        # Only transactions may be this large; the other routes keep aiohttp's 1 MiB.
        self.max_body_bytes = max_body_bytes
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._stopping = False
        self._rooms: dict[str, RoomQueue] = {}
        self._queued: set[str] = set()
        self._cursor = 0
        self._marked_at = time.monotonic()
        self._slots = asyncio.Semaphore(ROOM_CONCURRENCY)
        # Handled, not yet marked so in the inbox: marked per drain in one transaction
        # (issue 13). Until then they still read as pending there and must not be handed
        # out again; a crash in between hands them out once more after the restart, which
        # commands survive (appservice/once.py) as they survive a crash before any mark.
        self._handled: list[str] = []
        self._unmarked: set[str] = set()
        # Ephemeral events are not stored in the inbox (no event id, idempotent, frequent):
        # the handlers apply them at once, and a failure withholds the 200 so Synapse resends.
        self.ephemeral_handlers: list[EphemeralHandler] = []

    def register_routes(self, app: web.Application) -> None:
        for prefix in ("/_matrix/app/v1", ""):
            app.router.add_put(prefix + "/transactions/{txn_id}", self._handle_transaction)
            app.router.add_get(prefix + "/users/{user_id}", self._handle_query)
            app.router.add_get(prefix + "/rooms/{alias}", self._handle_query)
        app.router.add_post("/_matrix/app/v1/ping", self._handle_ping)

    def _refusal(self, request: web.Request) -> web.Response | None:
        """403 unless the hs_token came as ``Authorization: Bearer`` (compared in constant time).

        The query-string token is deprecated by the spec and lands in access logs; Synapse
        sends the header (and the query only with ``use_appservice_legacy_authorization``).
        """
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        given = token.strip().encode("utf-8", "surrogateescape")
        if scheme == "Bearer" and hmac.compare_digest(given, self.hs_token.encode()):
            return None
        if "access_token" in request.query:
            return _json_error(
                403, "M_FORBIDDEN", "send the hs_token in the Authorization header, not the URL"
            )
        return _json_error(403, "M_FORBIDDEN", "bad hs_token")

    async def _handle_ping(self, request: web.Request) -> web.Response:
        return self._refusal(request) or web.json_response({})

    async def _handle_query(self, request: web.Request) -> web.Response:
        # Lotse creates its users and aliases itself; it never makes them up on demand.
        return self._refusal(request) or _json_error(404, "M_NOT_FOUND", "not provided by Lotse")

    def _too_large(self, txn_id: str, size: int | None) -> web.Response:
        """A transaction over the limit: Synapse retries it for ever, so say so loudly."""
        limit = self.max_body_bytes
        log.error(
            "transaction %s (%s) is over appservice.max_transaction_mb (%d bytes) and was "
            "refused; Synapse will retry it and every room waits: raise the limit",
            txn_id,
            "sent without a length" if size is None else f"{size} bytes",
            limit,
        )
        return _json_error(
            413,
            "M_TOO_LARGE",
            f"transaction over {limit} bytes; raise appservice.max_transaction_mb in Lotse",
        )

    async def _handle_transaction(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        txn_id = request.match_info["txn_id"]
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            return self._too_large(txn_id, request.content_length)
        try:
            raw = await request.clone(client_max_size=self.max_body_bytes).read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(txn_id, None)
        try:
            body = json.loads(raw)
            events = body.get("events", [])
            if not isinstance(events, list):
                raise ValueError("events is not a list")
        except (ValueError, AttributeError):  # JSONDecodeError and UnicodeDecodeError too
            return _json_error(400, "M_NOT_JSON", "transaction body is not valid JSON")
        TRANSACTIONS.inc()
        first_seq = self.inbox.next_seq_floor()
        try:
            new = await self.inbox.add_many([e for e in events if isinstance(e, dict)])
        except Exception:
            # No 200: Synapse will retry the same events, so nothing is lost.
            log.exception("could not store transaction %s", txn_id)
            return _json_error(500, "M_UNKNOWN", "could not store events; retry")
        EVENTS_RECEIVED.inc(new)
        ephemeral = _ephemeral_of(body)
        if ephemeral and self.ephemeral_handlers:
            try:
                for handle in self.ephemeral_handlers:
                    await handle(ephemeral)
            except Exception:
                log.exception("could not apply the ephemeral events of %s", txn_id)
                if new:
                    self.stored(first_seq)
                return _json_error(500, "M_UNKNOWN", "could not apply ephemeral events; retry")
        log.debug("transaction %s: %d events, %d new", txn_id, len(events), new)
        if new:
            self.stored(first_seq)
        return web.json_response({})

    def start(self) -> None:
        self._stopping = False
        self._cursor = 0
        self._worker = asyncio.create_task(self._work(), name="lotse-inbox-worker")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._worker is not None:
            try:
                await asyncio.wait_for(self._worker, timeout=15)
            except TimeoutError:
                self._worker.cancel()
            self._worker = None
        # Rooms still being handled (e.g. waiting for a late room key) are cancelled: their
        # events stay pending in the inbox and are handled after the next start.
        leftovers = [room.task for room in self._rooms.values() if not room.task.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=5)
        await self._mark_handled()

    def wake(self) -> None:
        self._wakeup.set()

    async def _work(self) -> None:
        """Hand each room's pending events to its own task, in order within the room.

        A room waiting for a late room key (up to ``session_wait_seconds``) must not hold up
        the answers in every other room; within a room, order matters and a failing event
        is retried before the room's later events. The inbox is read forward from the last
        row read (``_cursor``), a page at a time and at most ``QUEUE_CAP`` events ahead of
        the room tasks: re-reading every pending row whenever a room finished cost more
        than handling the events (issue 13).
        """
        while not self._stopping:
            self._wakeup.clear()
            await self._mark_handled()
            full = False
            if len(self._queued) < QUEUE_CAP:
                try:
                    batch = await self.inbox.pending(limit=PAGE, after_seq=self._cursor)
                except Exception:
                    log.exception("could not read the event inbox")
                    batch = []
                    await asyncio.sleep(1)
                full = len(batch) == PAGE
                for item in batch:
                    self._cursor = max(self._cursor, item.seq)
                    if item.event_id not in self._queued and item.event_id not in self._unmarked:
                        self._enqueue(item)
            if full and len(self._queued) < QUEUE_CAP:
                continue  # more is waiting and there is room for it
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=30)
            except TimeoutError:
                self._cursor = 0  # a late commit the cursor passed is found after all
        if self._rooms:
            await asyncio.wait([q.task for q in self._rooms.values()], timeout=10)
        await self._mark_handled()

    def _enqueue(self, item: InboxEvent) -> None:
        """Append to the room's running task, or start one for it."""
        self._queued.add(item.event_id)
        room = self._rooms.get(item.room_id)
        if room is not None and not room.task.done():
            room.items.append(item)  # the task looks at its queue again before it ends
            return
        if room is not None and room.items:
            # Its task just gave up on an earlier event, to be retried first: this one is
            # read again after it (see _room_done).
            self._queued.discard(item.event_id)
            return
        room = RoomQueue(item.room_id, deque([item]))
        room.task = asyncio.create_task(self._handle_room(room), name=f"lotse-room-{item.room_id}")
        self._rooms[item.room_id] = room
        room.task.add_done_callback(functools.partial(self._room_done, room))

    def stored(self, first_seq: int) -> None:
        """Events from ``first_seq`` on were committed: read from there (a transaction
        stored at the same time may have committed later rows first)."""
        self._cursor = min(self._cursor, first_seq - 1)
        self._wakeup.set()

    async def _mark_handled(self) -> None:
        """Mark the events handled since the last call, in one database transaction."""
        done, self._handled = self._handled, []
        if not done:
            return
        self._marked_at = time.monotonic()
        try:
            await self.inbox.mark_handled_many(done)
        except Exception:
            # Still handled: kept out of the pending ones and marked at the next drain.
            log.exception("could not mark %d handled events", len(done))
            self._handled = done + self._handled
            return
        self._unmarked.difference_update(done)

    def _room_done(self, room: RoomQueue, task: asyncio.Task) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        # What the task did not get to stays pending in the inbox and is read again.
        if room.items:
            self._queued.difference_update(item.event_id for item in room.items)
            self._cursor = min(self._cursor, room.items[0].seq - 1)
        if not task.cancelled() and task.exception() is not None:
            log.error("room worker for %s failed: %r", room.room_id, task.exception())
        if (
            room.items
            or not self._rooms
            or len(self._queued) < QUEUE_CAP // 2
            or time.monotonic() - self._marked_at > MARK_SECONDS
        ):
            self._wakeup.set()

    async def _handle_room(self, room: RoomQueue) -> None:
        async with self._slots:
            while room.items and not self._stopping:
                item = room.items[0]
                if not await self._handle_one(item):
                    return  # retried from the inbox, before the room's later events
                room.items.popleft()
                self._queued.discard(item.event_id)

    async def _handle_one(self, item: InboxEvent) -> bool:
        """Handle one event; False if it failed and will be retried (the room waits)."""
        try:
            raw = dict(item.payload)
            if raw.get("unsigned") is None:
                raw.pop("unsigned", None)
            if not well_formed(raw):
                raise ValueError("a field of the wrong type")
            evt = Event.deserialize(raw)
            if getattr(evt, "state_key", None) is not None:
                evt.type = evt.type.with_class(EventType.Class.STATE)
            else:
                evt.type = evt.type.with_class(EventType.Class.MESSAGE)
        except Exception:  # SerializerError, or whatever a field of the wrong type raises
            # Skipped for good: retried, it would fail again and hold up its room for ever.
            log.warning("event %s cannot be parsed; skipped", item.event_id)
            await self.inbox.mark_attempt_failed(item.event_id, 1)
            EVENTS_FAILED.inc()
            return True
        try:
            await self.handler(evt)
        except Exception as e:
            if homeserver_away(e):
                # Not the event's fault (Synapse restarting, a proxy in between): no attempt
                # is counted, or a restart longer than the attempts would drop answers.
                log.warning("homeserver unreachable; %s waits for it", item.event_id)
                await asyncio.sleep(AWAY_RETRY_SECONDS)
                return False
            gave_up = await self.inbox.mark_attempt_failed(item.event_id, MAX_ATTEMPTS)
            log.exception(
                "handling event %s failed (%s)",
                item.event_id,
                "giving up" if gave_up else "will retry",
            )
            if gave_up:
                EVENTS_FAILED.inc()
                return True
            await asyncio.sleep(0.5 * (item.attempts + 1))
            return False
        self._handled.append(item.event_id)
        self._unmarked.add(item.event_id)
        if len(self._handled) >= MARK_EVERY:
            self._wakeup.set()
        EVENTS_HANDLED.inc()
        return True
