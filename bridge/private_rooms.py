"""Who may be in the assistant's rooms, checked before every message it sends and on every
membership change (DESIGN.md, privacy model 2).

A service room holds exactly its person and the assistant; an admin control room exactly the
centre's current admins and the assistant. The assistant shares its room keys with everyone
joined or invited (appservice/e2ee.py), so it encrypts nothing for a room while anybody else
is in it, and answers nobody there. Somebody else in a service room: the room is replaced
(bridge/service_rooms.py). Somebody else in the control room: they are removed.
"""

from __future__ import annotations

import logging

from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixError
from mautrix.types import Membership, RoomID, UserID

from appservice.e2ee import RoomNotPrivate, strangers

from .centre_rooms import CentreRooms, wanted_kinds
from .service_rooms import OTHERS, ServiceRooms

log = logging.getLogger("lotse.private_rooms")

# Knocking is impossible in these invite-only rooms; should it happen, it counts too.
PRESENT = (Membership.JOIN, Membership.INVITE, Membership.KNOCK)


class PrivateRooms:
    def __init__(self, assistant: IntentAPI, service_rooms: ServiceRooms) -> None:
        self.assistant = assistant
        self.service_rooms = service_rooms

    async def allowed(self, room_id: RoomID) -> frozenset[str] | None:
        """Who may be in ``room_id``; None for a room that is not one of the assistant's own."""
        me = str(self.assistant.mxid)
        person = await self.service_rooms.rows.Person.by_service_room(room_id)
        if person is not None:
            return frozenset({person.user_id, me})
        centre_id = await CentreRooms.admin_room_centre(self.service_rooms.rows, room_id)
        if centre_id is None:
            return None
        admins = {
            p.user_id
            for p in await self.service_rooms.rows.Person.all_in_centre(centre_id, roles=("admin",))
            if "admin" in wanted_kinds(p.role, p.deleted_at is not None)
        }
        return frozenset(admins | {me})

    async def _strangers(self, room_id: RoomID, allowed: frozenset[str]) -> frozenset[str]:
        members = await self.assistant.state_store.get_members(room_id, memberships=PRESENT)
        return strangers(members, allowed)

    async def check(self, room_id: RoomID, only: frozenset[str] | None = None) -> frozenset[str]:
        """Who may read what the assistant sends to ``room_id``: those allowed in one of its
        own rooms, or ``only`` (for a chat somebody else opened).

        Raises RoomNotPrivate for any other room, or while anybody else is in it (in the
        assistant's own rooms they are dealt with first).
        """
        allowed = only if only is not None else await self.allowed(room_id)
        if allowed is None:
            raise RoomNotPrivate(f"{room_id} is no room of the assistant's")
        if await self._strangers(room_id, allowed):
            if only is None:
                await self.secure(room_id)
            raise RoomNotPrivate(f"{room_id} holds somebody who does not belong there")
        return allowed

    async def is_private(self, room_id: RoomID) -> bool:
        """True if only those allowed are in the room; otherwise they are dealt with."""
        try:
            await self.check(room_id)
        except RoomNotPrivate:
            return False
        return True

    async def secure(self, room_id: RoomID) -> None:
        """Deal with anybody who does not belong in ``room_id``: a service room is replaced
        (the person is told in the new one), the control room's intruders are removed."""
        allowed = await self.allowed(room_id)
        if allowed is None:
            return
        extra = await self._strangers(room_id, allowed)
        if not extra:
            return
        person = await self.service_rooms.rows.Person.by_service_room(room_id)
        if person is not None:
            log.warning("service room %s of %s holds others", room_id, person.user_id)
            await self.service_rooms.replace(person, OTHERS, room_id, extra)
            return
        log.warning("admin control room %s holds %d non-admins; removing them", room_id, len(extra))
        behind = False
        for user_id in sorted(extra):
            try:
                await self.assistant.kick_user(room_id, UserID(user_id), "Lotse: admins only")
            except MatrixError as e:
                log.info("could not remove %s from %s: %s", user_id, room_id, e)
                behind = True
        if behind:
            # Perhaps they are gone already and our view is behind: look again rather than
            # keep refusing to post in the room.
            try:
                await self.assistant.get_state(room_id)
            except MatrixError as e:
                log.info("could not refresh the members of %s: %s", room_id, e)
