"""Counselling rooms: end-to-end-encrypted rooms owned by the device-less steward.

The steward creates the room, invites client and counsellor(s) and alone may invite or
remove people. It has no E2EE device, so no client ever shares a room key with it: the
platform cannot read counselling content (DESIGN.md, privacy model point 1).
"""

from __future__ import annotations

import logging
from typing import Any

from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixRequestError
from mautrix.types import EventType, Membership, RoomCreatePreset, RoomID, UserID

from appservice.db import Person

from .room_looks import Look, RoomLooks
from .service_rooms import ENCRYPTION_STATE

log = logging.getLogger("lotse.counselling_rooms")

# Only members who joined may read what is said from then on; a counsellor added later
# (pool acceptance, transfer) sees nothing from before — by server and by key.
HISTORY_JOINED = {
    "type": str(EventType.ROOM_HISTORY_VISIBILITY),
    "state_key": "",
    "content": {"history_visibility": "joined"},
}

# Everybody may talk; only the steward (room creator: unlimited power in room version 12)
# manages membership and room settings.
POWER_LEVELS: dict[str, Any] = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 100,
    "invite": 100,
    "kick": 100,
    "ban": 100,
    "redact": 100,
    "events": {
        str(EventType.ROOM_MESSAGE): 0,
        str(EventType.ROOM_ENCRYPTED): 0,
        str(EventType.REACTION): 0,
    },
}


class CounsellingRooms:
    def __init__(self, steward: IntentAPI, looks: RoomLooks) -> None:
        self.steward = steward
        self.looks = looks

    def name_for(self, client: Person, request_id: int) -> str:
        """The room name of a request: the client's pseudonym and centre, their language."""
        return self.looks.counselling_room(client, request_id).name

    async def create(
        self, name: str, members: list[UserID], client: Person | None = None, request_id: int = 0
    ) -> RoomID:
        """An encrypted room, encrypted from its first event, with ``members`` invited; a
        request's room (``client``) also gets its topic and the centre's picture."""
        look = Look(name)
        if client is not None:
            made = self.looks.counselling_room(client, request_id)
            look = Look(name, made.topic, made.avatar)
        return await self.create_with(look, members)

    async def create_with(self, look: Look, members: list[UserID]) -> RoomID:
        """The room with ``look`` from its creation (the steward sets state, not a device)."""
        room_id = await self.steward.create_room(
            preset=RoomCreatePreset.PRIVATE,
            name=look.name,
            topic=look.topic or None,
            invitees=members,
            initial_state=[ENCRYPTION_STATE, HISTORY_JOINED, *look.initial_state()],
            power_level_override=POWER_LEVELS,
        )
        log.info("steward created counselling room %s", room_id)
        return room_id

    async def invite(self, room_id: RoomID, user_id: UserID) -> None:
        await self.steward.invite_user(room_id, user_id)

    async def remove(self, room_id: RoomID, user_id: UserID, reason: str = "") -> None:
        """Remove someone; new room keys are then shared without their devices."""
        try:
            await self.steward.kick_user(room_id, user_id, reason=reason)
        except MatrixRequestError as e:
            log.info("removing %s from %s failed: %s", user_id, room_id, e.errcode)
            raise

    async def members(self, room_id: RoomID) -> set[str]:
        """Who is in the room or invited to it (the steward included)."""
        events = await self.steward.get_members(room_id)
        return {
            str(e.state_key)
            for e in events
            if e.content.membership in (Membership.JOIN, Membership.INVITE)  # type: ignore[union-attr]
        }

    async def abandon(self, room_id: RoomID, people: list[UserID]) -> None:
        """A room nobody should use (its request went elsewhere): everyone out, steward last."""
        for user_id in people:
            try:
                await self.remove(room_id, user_id, reason="not needed")
            except MatrixRequestError:
                continue
        await self.steward.leave_room(room_id)

    async def invite_all(self, room_id: RoomID, people: list[UserID]) -> list[UserID]:
        """Invite each; one failing (e.g. an account that no longer exists) skips only them."""
        invited: list[UserID] = []
        for user_id in people:
            try:
                await self.steward.invite_user(room_id, user_id)
            except MatrixRequestError as e:
                log.info("inviting %s to %s failed: %s", user_id, room_id, e.errcode)
                continue
            invited.append(user_id)
        return invited
