"""Which rooms the assistant joins, leaves and answers in: the membership policy of its rooms.

Beside bridge/service_rooms.py (which makes, replaces and forgets service rooms) and
bridge/private_rooms.py (who may be in them). The assistant (bots/assistant.py) asks here
what a membership change or a message means and only words and sends the outcome:

* an invite to a chat somebody opened: never joined as a service room (whoever creates a room
  can invite others into it, and in room version 12 a creator can never be demoted). A room
  that is no direct chat is left at once (it could be a counselling room: the assistant's
  device must not receive keys there); a stranger hears why not, a person of a centre is
  given their own service room and told to go there;
* somebody who must not be in one of the assistant's rooms: the room is secured at once;
* the owner joining or leaving their service room, an admin joining the control room;
* a message: answered only from a service room's owner, or from a centre's admin in its
  control room, and only while nobody else is in the room.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mautrix.types import EncryptedEvent, Membership, MemberStateEventContent, StateEvent

from appservice.db import Person

from .anonymous_accounts import is_anonymous
from .centre_rooms import CentreRooms
from .people import Directory
from .private_rooms import PRESENT, PrivateRooms
from .service_rooms import ServiceRooms

log = logging.getLogger("lotse.service_room_policy")

# What an invite of the assistant means (see the module docstring).
NOT_DIRECT = "not_direct"
STRANGER = "stranger"
# A throwaway account of the anonymous live chat or a topic chat that has not registered: a
# client only for its chat, so no service room and no client commands (docs/live-chat.md).
ANONYMOUS = "anonymous"
GO_TO_SERVICE_ROOM = "go_to_service_room"
# What a membership change in one of the assistant's rooms means.
OWNER_JOINED = "owner_joined"
ADMIN_JOINED_CONTROL_ROOM = "admin_joined_control_room"


@dataclass(frozen=True)
class Invited:
    """The assistant was invited by somebody: ``kind`` says what to do, ``person`` is theirs."""

    kind: str
    person: Person | None = None


@dataclass(frozen=True)
class Joined:
    """Somebody the assistant greets joined one of its rooms (``kind``)."""

    kind: str
    person: Person


@dataclass(frozen=True)
class Speaker:
    """Who the assistant answers: ``control_room`` if an admin speaks in the control room."""

    person: Person
    control_room: bool


class ServiceRoomPolicy:
    def __init__(
        self,
        user_id: str,
        own_users: set[str],
        directory: Directory,
        service_rooms: ServiceRooms,
        private_rooms: PrivateRooms,
    ) -> None:
        self.user_id = user_id
        self.own_users = own_users
        self.directory = directory
        self.service_rooms = service_rooms
        self.private_rooms = private_rooms

    async def member_changed(self, evt: StateEvent) -> Invited | Joined | None:
        """Act on a membership change as far as rooms go; say what the assistant must word."""
        assert isinstance(evt.content, MemberStateEventContent)
        membership = evt.content.membership
        if evt.state_key == self.user_id:
            if membership == Membership.INVITE and evt.sender not in self.own_users:
                return await self._invited(evt)
            return None
        if membership in PRESENT:
            allowed = await self.private_rooms.allowed(evt.room_id)
            if allowed is not None and evt.state_key not in allowed:
                # However it happened (a creator of an old room, a server admin): at once.
                log.warning("%s appeared in %s; securing the room", evt.state_key, evt.room_id)
                await self.private_rooms.secure(evt.room_id)
                return None
        person = await self.directory.rows.Person.by_service_room(evt.room_id)
        if person is None and membership == Membership.JOIN:
            return await self._control_room_join(evt)
        if person is None or evt.state_key != person.user_id:
            return None
        if membership == Membership.JOIN:
            return Joined(OWNER_JOINED, person)
        if membership in (Membership.LEAVE, Membership.BAN):
            log.info("%s left their service room %s", person.user_id, evt.room_id)
            await self.service_rooms.forget(person)
        return None

    async def _invited(self, evt: StateEvent) -> Invited:
        assert isinstance(evt.content, MemberStateEventContent)
        if not evt.content.is_direct:
            log.info("rejected a non-direct invite to %s", evt.room_id)
            await self.service_rooms.leave(evt.room_id, reason="Lotse works in direct chats only")
            return Invited(NOT_DIRECT)
        person = await self.directory.lookup(evt.sender)
        if person is None:
            log.info("refused invite to %s from a user of no centre", evt.room_id)
            return Invited(STRANGER)
        if self._throwaway(person):
            log.info("refused invite to %s from a throwaway account", evt.room_id)
            return Invited(ANONYMOUS, person)
        await self.service_rooms.ensure_for(person)
        log.info("sent %s from their chat %s to their service room", person.user_id, evt.room_id)
        return Invited(GO_TO_SERVICE_ROOM, person)

    def _throwaway(self, person: Person) -> bool:
        """An anonymous chat's account that has not registered (registering activates it)."""
        prefix = self.directory.cfg.appservice.namespace_prefix
        return is_anonymous(person.user_id, prefix) and person.activated_at is None

    async def _control_room_join(self, evt: StateEvent) -> Joined | None:
        """An admin who joins their centre's admin control room (not a profile change)."""
        if getattr(evt.prev_content, "membership", None) == Membership.JOIN:
            return None
        centre_id = await CentreRooms.admin_room_centre(self.directory.rows, evt.room_id)
        if centre_id is None:
            return None
        person = await self.directory.lookup(evt.state_key)
        if person is None or person.centre_id != centre_id or person.role != "admin":
            return None
        return Joined(ADMIN_JOINED_CONTROL_ROOM, person)

    async def speaker(self, evt: EncryptedEvent) -> Speaker | None:
        """Who speaks to the assistant: the owner of a service room, or an admin of the centre
        in its admin control room (commands there act as that admin). Anybody else, or
        anybody in a room that holds somebody who does not belong there, is not answered and
        their message never decrypted."""
        person = await self.directory.rows.Person.by_service_room(evt.room_id)
        if person is not None:
            if evt.sender != person.user_id:
                log.info("ignored %s in %s: not the room's owner", evt.event_id, evt.room_id)
                return None
            if self._throwaway(person):
                log.info("ignored %s in %s: a throwaway account", evt.event_id, evt.room_id)
                return None
            speaker = Speaker(person, False)
        else:
            centre_id = await CentreRooms.admin_room_centre(self.directory.rows, evt.room_id)
            if centre_id is None:
                return None
            sender = await self.directory.lookup(evt.sender)
            if (
                sender is None
                or sender.centre_id != centre_id
                or sender.role != "admin"
                or sender.deleted_at is not None
                or sender.locked_at is not None
            ):
                log.info("ignored %s in the admin room of %s: no admin", evt.event_id, centre_id)
                return None
            speaker = Speaker(sender, True)
        if not await self.private_rooms.is_private(evt.room_id):
            log.info("ignored %s: %s holds somebody who does not belong", evt.event_id, evt.room_id)
            return None
        return speaker
