"""Group rooms: a group's encrypted room, made and run by the device-less steward.

They are counselling rooms (same creation, power levels and ``joined`` history, so the
assistant never holds a key) that carry the group's name and description as room name
and topic (a default topic without a description) and the centre's picture — that is where
clients see them — and that close when the group is deleted.
"""

from __future__ import annotations

import logging

from mautrix.errors import MatrixRequestError
from mautrix.types import Membership, RoomID, UserID

from .counselling_rooms import CounsellingRooms

log = logging.getLogger("lotse.group_rooms")


class GroupRooms:
    def __init__(self, rooms: CounsellingRooms) -> None:
        self.rooms = rooms
        self.steward = rooms.steward

    async def create(self, name: str, description: str, creator: UserID, centre_id: str) -> RoomID:
        look = self.rooms.looks.group_room(centre_id, name, description)
        room_id = await self.rooms.create_with(look, [creator])
        log.info("steward created group room %s", room_id)
        return room_id

    async def describe(self, room_id: RoomID, name: str, description: str, centre_id: str) -> None:
        look = self.rooms.looks.group_room(centre_id, name, description)
        await self.steward.set_room_name(room_id, look.name)
        await self.steward.set_room_topic(room_id, look.topic)

    async def invite(self, room_id: RoomID, user_id: UserID) -> None:
        await self.rooms.invite(room_id, user_id)

    async def remove(self, room_id: RoomID, user_id: UserID) -> None:
        """Kick, or withdraw a pending invitation; someone who already left is fine."""
        try:
            await self.rooms.remove(room_id, user_id)
        except MatrixRequestError as e:
            if e.http_status != 403:
                raise

    async def close(self, room_id: RoomID, reason: str = "") -> int:
        """Remove everyone (members and open invitations), then leave: the room is dead.

        Returns how many people were removed.
        """
        removed = 0
        for member in await self.steward.get_members(room_id):
            who = UserID(member.state_key)
            membership = getattr(member.content, "membership", None)
            if who == self.steward.mxid or membership not in (Membership.JOIN, Membership.INVITE):
                continue
            await self.remove(room_id, who)
            removed += 1
        await self.steward.leave_room(room_id, reason=reason)
        log.info("steward closed group room %s (%d removed)", room_id, removed)
        return removed
