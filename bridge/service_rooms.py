"""Service rooms: the one encrypted room each person shares with the assistant.

All commands and forms happen there, never in counselling rooms (DESIGN.md, privacy model).
"""

from __future__ import annotations

import logging

from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixRequestError
from mautrix.types import (
    EncryptionAlgorithm,
    EventType,
    Membership,
    RoomCreatePreset,
    RoomEncryptionStateEventContent,
    RoomID,
)

from appservice.db import Person

log = logging.getLogger("lotse.service_rooms")

ENCRYPTION_STATE = {
    "type": str(EventType.ROOM_ENCRYPTION),
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


class ServiceRooms:
    """Creates, adopts and forgets service rooms on behalf of the assistant."""

    def __init__(self, assistant: IntentAPI, room_name: str) -> None:
        self.assistant = assistant
        self.room_name = room_name

    async def create_for(self, person: Person) -> RoomID:
        """First contact from our side: an encrypted DM with the person invited."""
        room_id = await self.assistant.create_room(
            preset=RoomCreatePreset.TRUSTED_PRIVATE,
            is_direct=True,
            invitees=[person.user_id],
            name=self.room_name,
            initial_state=[ENCRYPTION_STATE],
        )
        # Cache state and members so the first encrypted message knows whom to share keys with.
        await self.assistant.get_state(room_id)
        await self._adopt(person, room_id)
        log.info("created service room %s for %s", room_id, person.user_id)
        return room_id

    async def accept_invite(self, person: Person, room_id: RoomID) -> str | None:
        """Join a DM the person opened; it becomes their service room if it qualifies.

        Returns None on success, else why not: ``"others"`` (third parties are in it; we
        left at once) or ``"room_not_encrypted"`` (and we could not switch it on).
        """
        await self.assistant.join_room(room_id)
        await self.assistant.get_state(room_id)
        members = await self.assistant.state_store.get_members(
            room_id, memberships=(Membership.JOIN, Membership.INVITE)
        )
        if set(members) - {person.user_id, self.assistant.mxid}:
            # A "direct" chat with third parties is no private service room.
            log.info("room %s has other members; not a service room", room_id)
            await self.leave(room_id, reason="Lotse works in private direct chats only")
            return "others"
        if not await self.assistant.state_store.is_encrypted(room_id):
            try:
                await self.assistant.send_state_event(
                    room_id,
                    EventType.ROOM_ENCRYPTION,
                    RoomEncryptionStateEventContent(algorithm=EncryptionAlgorithm.MEGOLM_V1),
                )
                await self.assistant.get_state(room_id)
            except MatrixRequestError:
                log.info("room %s is unencrypted and cannot be encrypted by us", room_id)
                return "room_not_encrypted"
        await self._adopt(person, room_id)
        log.info("adopted room %s as service room of %s", room_id, person.user_id)
        return None

    async def _adopt(self, person: Person, room_id: RoomID) -> None:
        old = person.service_room_id
        await person.set_service_room(room_id)
        if old and old != room_id:
            # One service room per person: the newest DM replaces the old one.
            await self.leave(RoomID(old))

    async def forget(self, person: Person) -> None:
        """The person left their service room: leave too; a new DM will start afresh."""
        room_id = person.service_room_id
        await person.set_service_room(None)
        if room_id:
            await self.leave(RoomID(room_id))

    async def ensure_for(self, person: Person) -> RoomID:
        if person.service_room_id:
            return RoomID(person.service_room_id)
        return await self.create_for(person)

    async def leave(self, room_id: RoomID, reason: str | None = None) -> None:
        try:
            await self.assistant.leave_room(room_id, reason=reason)
        except MatrixRequestError as e:
            log.debug("leaving %s failed: %s", room_id, e.errcode)
