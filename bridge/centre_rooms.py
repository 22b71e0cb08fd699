"""Each centre's rooms in Matrix: a Space, the admin control room and the staff room.

- The **Space** (owned by the steward) groups the centre's rooms in Element.
- The **admin control room** is owned by the assistant, which has an E2EE device: the
  centre's admins type commands there. It is a command room, never a counselling room.
- The **staff room** is owned by the device-less steward, so no bot can read the team's talk.

Membership follows roles (``follow``): staff are in the Space and the staff room, admins
also in the admin control room; anyone else, or a deleted account, is removed.
"""

from __future__ import annotations

import logging
from typing import Any

from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixError, MNotFound
from mautrix.types import (
    EventType,
    Membership,
    RoomCreatePreset,
    RoomID,
    SpaceChildStateEventContent,
    UserID,
)

from appservice.config import CentreConfig, Config
from appservice.db import Person, Rows

from .counselling_rooms import HISTORY_JOINED
from .room_looks import Look, RoomLooks
from .service_rooms import ENCRYPTION_STATE

log = logging.getLogger("lotse.centre_rooms")

STAFF_ROLES = ("counsellor", "admin")

# Only the owning bot manages membership and room settings; everybody may talk.
_MANAGED: dict[str, Any] = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 100,
    "invite": 100,
    "kick": 100,
    "ban": 100,
    "redact": 50,
}
# Nobody but the steward posts into the Space itself: it only lists the rooms.
_SPACE_POWER: dict[str, Any] = {**_MANAGED, "events_default": 100}


def wanted_kinds(role: str, deleted: bool) -> frozenset[str]:
    """The centre rooms a person belongs in: staff in Space and staff room, admins also in
    the admin control room; clients and deleted accounts in none."""
    if deleted or role not in STAFF_ROLES:
        return frozenset()
    if role == "admin":
        return frozenset({"space", "staff", "admin"})
    return frozenset({"space", "staff"})


class CentreRooms:
    def __init__(
        self,
        assistant: IntentAPI,
        steward: IntentAPI,
        cfg: Config,
        looks: RoomLooks,
        rows: Rows,
        identity: str = "",
    ) -> None:
        self.rows = rows
        self.assistant = assistant
        self.steward = steward
        self.cfg = cfg
        self.looks = looks
        # The assistant's master-key fingerprint, named in the topics so people can compare it.
        self.identity = identity

    def _owner(self, kind: str) -> IntentAPI:
        return self.assistant if kind == "admin" else self.steward

    def _look(self, centre: CentreConfig, kind: str) -> Look:
        return self.looks.centre_room(centre, kind, self.identity)

    async def ensure_all(self) -> None:
        """Create missing rooms of every configured centre; config admins are invited."""
        for centre in self.cfg.centres:
            try:
                await self.ensure(centre)
                await self.refresh_looks(centre)
                for user_id in centre.admins:
                    person = await self.rows.Person.get(user_id)
                    if person is not None:
                        await self.follow(person)
            except MatrixError as e:
                log.error("could not set up the rooms of centre %s: %s", centre.id, e)

    async def ensure(self, centre: CentreConfig) -> dict[str, RoomID]:
        """The centre's rooms, created once (idempotent: ids are kept in ``centre_room``).

        A room created now invites the centre's current staff (an existing installation
        gets its rooms with everybody in them).
        """
        staff = [
            p
            for p in await self.rows.Person.all_in_centre(centre.id, roles=STAFF_ROLES)
            if wanted_kinds(p.role, p.deleted_at is not None)
        ]
        rooms: dict[str, RoomID] = {}
        space = await self.rows.CentreRoom.get(centre.id, "space")
        if space is None:
            space = await self._create(centre, "space", staff, None)
        rooms["space"] = RoomID(space)
        for kind in ("admin", "staff"):
            existing = await self.rows.CentreRoom.get(centre.id, kind)
            if existing is None:
                existing = await self._create(centre, kind, staff, rooms["space"])
                await self.steward.send_state_event(
                    rooms["space"],
                    EventType.SPACE_CHILD,
                    SpaceChildStateEventContent(via=[self.cfg.homeserver.domain], suggested=True),
                    state_key=existing,
                )
            rooms[kind] = RoomID(existing)
        return rooms

    async def refresh_looks(self, centre: CentreConfig) -> None:
        """Rooms made before (or with another identity key, name or logo) get today's name,
        topic and picture. Their owner holds the power to set them; three rooms per centre."""
        for kind in ("space", "admin", "staff"):
            room = await self.rows.CentreRoom.get(centre.id, kind)
            if room is None:
                continue
            if await self.looks.apply(self._owner(kind), RoomID(room), self._look(centre, kind)):
                log.info("updated the look of the %s room of centre %s", kind, centre.id)

    async def _create(
        self, centre: CentreConfig, kind: str, staff: list[Person], space: RoomID | None
    ) -> str:
        invitees = [
            UserID(p.user_id)
            for p in staff
            if kind in wanted_kinds(p.role, p.deleted_at is not None)
        ]
        initial: list[dict[str, Any]] = []
        creation: dict[str, Any] | None = None
        if kind == "space":
            creation = {"type": "m.space"}
        else:
            # Room keys never reach later members, so they see nothing from before either.
            initial += [ENCRYPTION_STATE, HISTORY_JOINED]
        if space is not None:
            initial.append(
                {
                    "type": str(EventType.SPACE_PARENT),
                    "state_key": space,
                    "content": {"via": [self.cfg.homeserver.domain], "canonical": True},
                }
            )
        owner = self._owner(kind)
        look = self._look(centre, kind)
        initial += look.initial_state()
        room_id = await owner.create_room(
            preset=RoomCreatePreset.PRIVATE,
            name=look.name,
            topic=look.topic,
            invitees=invitees,
            initial_state=initial,
            creation_content=creation,
            power_level_override=_SPACE_POWER if kind == "space" else _MANAGED,
        )
        if kind == "admin":
            # The assistant encrypts here: it must know state and members before it speaks.
            await owner.get_state(room_id)
        if not await self.rows.CentreRoom.add(centre.id, kind, room_id):
            # Another start won the race: use its room and leave ours empty.
            log.warning("centre %s already had a %s room; %s is unused", centre.id, kind, room_id)
            await owner.leave_room(room_id)
            existing = await self.rows.CentreRoom.get(centre.id, kind)
            assert existing is not None
            return existing
        log.info("created %s room %s of centre %s", kind, room_id, centre.id)
        return room_id

    async def follow(self, person: Person) -> None:
        """Invite ``person`` where their role belongs, remove them where it does not."""
        wanted = wanted_kinds(person.role, person.deleted_at is not None)
        for kind in ("space", "staff", "admin"):
            room = await self.rows.CentreRoom.get(person.centre_id, kind)
            if room is None:
                continue
            owner = self._owner(kind)
            room_id, user_id = RoomID(room), UserID(person.user_id)
            current = await self._membership(owner, room_id, user_id)
            try:
                if kind in wanted and current not in (Membership.JOIN, Membership.INVITE):
                    await owner.invite_user(room_id, user_id)
                    log.info("invited %s to the %s room of %s", user_id, kind, person.centre_id)
                elif kind not in wanted and current in (Membership.JOIN, Membership.INVITE):
                    await owner.kick_user(room_id, user_id)
                    log.info("removed %s from the %s room of %s", user_id, kind, person.centre_id)
            except MatrixError as e:
                log.warning("membership of %s in %s unchanged: %s", user_id, room_id, e)

    @staticmethod
    async def _membership(owner: IntentAPI, room_id: RoomID, user_id: UserID) -> Membership | None:
        try:
            content = await owner.get_state_event(room_id, EventType.ROOM_MEMBER, user_id)
        except MNotFound:
            return None
        membership = getattr(content, "membership", None)
        return Membership(membership) if membership else None

    async def members(self, centre_id: str, kind: str) -> dict[str, Membership]:
        """Who is joined or invited in one of the centre's rooms, from the homeserver."""
        room = await self.rows.CentreRoom.get(centre_id, kind)
        if room is None:
            return {}
        events = await self._owner(kind).get_members(RoomID(room))
        found: dict[str, Membership] = {}
        for evt in events:
            membership = getattr(evt.content, "membership", None)
            if membership in (Membership.JOIN, Membership.INVITE):
                found[str(evt.state_key)] = Membership(membership)
        return found

    @staticmethod
    async def admin_room_centre(rows: Rows, room_id: str) -> str | None:
        """The centre whose admin control room ``room_id`` is, else None."""
        row = await rows.CentreRoom.by_room(room_id)
        return row.centre_id if row is not None and row.kind == "admin" else None
