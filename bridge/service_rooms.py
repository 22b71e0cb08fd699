"""Service rooms: the one encrypted room each person shares with the assistant.

All commands and forms happen there, never in counselling rooms (DESIGN.md, privacy model).
A service room holds exactly the person and the assistant, and only the assistant manages it:
it is created with the ``private_chat`` preset and explicit power levels. Never with
``trusted_private_chat``: in room version 12 every invitee of that preset becomes a creator,
with unlimited power that no power-levels change can take away. So a room the person made, a
room made before Lotse knew this, or a room in which somebody else appeared is never repaired
but replaced (``replace``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixError, MatrixRequestError
from mautrix.types import EventType, RoomCreatePreset, RoomID, UserID

from appservice.db import Person, Rows

from .room_looks import RoomLooks

log = logging.getLogger("lotse.service_rooms")

ENCRYPTION_STATE = {
    "type": str(EventType.ROOM_ENCRYPTION),
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}

# The person writes messages and answers polls; everything else is the assistant's. The
# assistant is the room's only creator (unlimited power in room version 12, and then it must
# not be listed in ``users``: Synapse leaves it out by itself). An empty ``events`` map puts
# every state event, whatever its type, at ``state_default``.
SERVICE_ROOM_POWER: dict[str, Any] = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 100,
    "events": {},
    "invite": 100,
    "kick": 100,
    "ban": 100,
    "redact": 100,
    "notifications": {"room": 100},
}

# Why a service room is replaced; the person is told the same on joining the new one.
UPGRADE = "upgrade"  # made before Lotse created service rooms this way
OTHERS = "others"  # somebody else appeared in it


class ServiceRooms:
    """Creates, replaces and forgets service rooms on behalf of the assistant."""

    def __init__(self, assistant: IntentAPI, looks: RoomLooks, rows: Rows) -> None:
        self.rows = rows
        self.assistant = assistant
        self.looks = looks
        # One replacement at a time: the start job and a room someone intruded into may meet.
        self._replacing = asyncio.Lock()
        # Per person, one look at whether their room exists: two chats opened at once must
        # not make two rooms. [lock, callers]; dropped when the last caller is done.
        self._ensuring: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    def name_for(self, person: Person) -> str:
        """What the person's service room is called in their room list."""
        return self.looks.service_room(person).name

    async def _create(self, person: Person) -> RoomID:
        """An encrypted room that only the assistant manages, with the person invited.

        The caller records it at once, before ``_cache``: the person may join within moments.
        Name, topic and picture are set at creation, in the person's language.
        """
        look = self.looks.service_room(person)
        return await self.assistant.create_room(
            preset=RoomCreatePreset.PRIVATE,
            is_direct=True,
            invitees=[UserID(person.user_id)],
            name=look.name,
            topic=look.topic,
            initial_state=[ENCRYPTION_STATE, *look.initial_state()],
            power_level_override=SERVICE_ROOM_POWER,
        )

    async def _cache(self, room_id: RoomID) -> None:
        """Cache state and members so the first encrypted message knows whom to share keys with."""
        await self.assistant.get_state(room_id)

    async def create_for(self, person: Person) -> RoomID:
        """First contact from our side: the person is invited to their new service room."""
        room_id = await self._create(person)
        old = person.service_room_id
        await person.set_service_room(room_id)
        await self._cache(room_id)
        if old and old != room_id:
            await self.leave(RoomID(old))  # one service room per person
        log.info("created service room %s for %s", room_id, person.user_id)
        return room_id

    async def ensure_for(self, person: Person) -> RoomID | None:
        """The person's room: created if they have none, replaced now if that is due."""
        lock, callers = self._ensuring.setdefault(person.user_id, (asyncio.Lock(), [0]))
        callers[0] += 1
        try:
            async with lock:
                # Read again under the lock: a chat opened a moment earlier may have made it.
                current = await self.rows.Person.get(person.user_id) or person
                if current.service_room_id is None:
                    return await self.create_for(current)
                room_id = RoomID(current.service_room_id)
                if current.service_room_renew is not None:
                    return await self.replace(current, current.service_room_renew, room_id)
                return room_id
        finally:
            callers[0] -= 1
            if not callers[0]:
                del self._ensuring[person.user_id]

    async def replace(
        self, person: Person, reason: str, room_id: RoomID, strangers: frozenset[str] = frozenset()
    ) -> RoomID | None:
        """Leave ``room_id`` for good and invite the person to a new room, where they are told
        ``reason`` when they join; ``strangers`` are removed from the old room first.

        Restart-safe: the old room is marked before anything happens, and ``renew_due`` finishes
        whatever a restart cut short. None when ``room_id`` is no longer the person's room.
        """
        async with self._replacing:
            current = await self.rows.Person.get(person.user_id)
            if current is None or current.service_room_id != room_id:
                return None
            if not await current.mark_for_renewal(room_id, reason):
                return None
            for user_id in sorted(strangers):
                try:
                    await self.assistant.kick_user(room_id, UserID(user_id), "Lotse: private room")
                except MatrixError as e:
                    log.info("could not remove %s from %s: %s", user_id, room_id, e)
            await self.leave(room_id)
            new_room = await self._create(current)
            await current.move_service_room(new_room, reason)
            await self._cache(new_room)
        log.info(
            "replaced service room %s of %s by %s (%s)", room_id, person.user_id, new_room, reason
        )
        return new_room

    async def renew_due(self) -> None:
        """The job: replace every service room marked for it (after v18: all older rooms).

        Idempotent: a replaced room is no longer marked. A failure leaves the mark, so the
        next run tries again.
        """
        for person in await self.rows.Person.due_for_renewal():
            assert person.service_room_id is not None and person.service_room_renew is not None
            try:
                await self.replace(
                    person, person.service_room_renew, RoomID(person.service_room_id)
                )
            except MatrixError as e:
                log.warning("service room of %s not replaced yet: %s", person.user_id, e)

    async def refresh_looks(self) -> bool:
        """Give every service room today's name, topic and picture (rooms made before Lotse
        named them, or before a centre changed its name or logo); True when none failed.

        The assistant created each room and alone changes its state; a room where it may not
        (Synapse says 403) is skipped for good, a room due for replacement gets a new one.
        """
        complete = True
        for centre in self.looks.cfg.centres:
            for person in await self.rows.Person.all_in_centre(centre.id):
                room_id = person.service_room_id
                if room_id is None or person.deleted_at is not None or person.service_room_renew:
                    continue
                try:
                    await self.looks.apply(
                        self.assistant, RoomID(room_id), self.looks.service_room(person)
                    )
                except MatrixRequestError as e:
                    if e.http_status != 403:
                        log.info("service room %s keeps its old look for now: %s", room_id, e)
                        complete = False
                except MatrixError as e:
                    log.info("service room %s keeps its old look for now: %s", room_id, e)
                    complete = False
        return complete

    async def forget(self, person: Person) -> None:
        """The person left their service room: leave too; they get a new one when they ask."""
        room_id = person.service_room_id
        await person.set_service_room(None)
        if room_id:
            await self.leave(RoomID(room_id))

    async def leave(self, room_id: RoomID, reason: str | None = None) -> None:
        """Leave and forget a room; nothing of it stays in the assistant's room list."""
        try:
            await self.assistant.leave_room(room_id, reason=reason)
        except MatrixError as e:
            log.debug("leaving %s failed: %s", room_id, e)
        try:
            await self.assistant.forget_room(room_id)
        except MatrixError as e:
            log.debug("forgetting %s failed: %s", room_id, e)
