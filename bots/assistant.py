"""The assistant (``@lotse``): answers people in their encrypted service rooms.

It accepts DM invites from people of a configured centre, politely refuses strangers, greets
each person once, and turns decrypted messages into command replies (m.notice, encrypted).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from mautrix.appservice import IntentAPI
from mautrix.errors import DecryptionError, MatrixError
from mautrix.types import (
    EncryptedEvent,
    Event,
    EventID,
    EventType,
    Format,
    InReplyTo,
    Membership,
    MemberStateEventContent,
    MessageEvent,
    MessageEventContent,
    MessageType,
    RelatesTo,
    RoomID,
    StateEvent,
    TextMessageEventContent,
    UserID,
)

from appservice.admin_api import SynapseAdmin
from appservice.db import Person
from appservice.e2ee import AssistantDevice
from appservice.i18n import Renderer
from appservice.metrics import DECRYPTION_FAILURES
from bridge.centre_rooms import CentreRooms
from bridge.counselling_rooms import CounsellingRooms
from bridge.people import Directory
from bridge.service_rooms import ServiceRooms

from .commands import CommandRegistry
from .control_room import addressed_to_bot
from .dispatch import ROLE_BY_NAME, CommandContext, run_command
from .documents import FILE_TYPES, receive_file
from .formatting import markdown_to_html
from .poll_events import RESPONSE_TYPES, parse_vote
from .services import BotServices
from .triage import triage_vote

log = logging.getLogger("lotse.assistant")

TEXT_TYPES = (MessageType.TEXT, MessageType.NOTICE, MessageType.EMOTE)


class Assistant:
    def __init__(
        self,
        *,
        intent: IntentAPI,
        device: AssistantDevice,
        directory: Directory,
        service_rooms: ServiceRooms,
        registry: CommandRegistry,
        renderer: Renderer,
        own_users: set[str],
        counselling_rooms: CounsellingRooms,
        admin: SynapseAdmin,
        centre_rooms: CentreRooms | None = None,
    ) -> None:
        self.intent = intent
        self.device = device
        self.directory = directory
        self.service_rooms = service_rooms
        self.registry = registry
        self.renderer = renderer
        self.own_users = own_users
        self.centre_rooms = centre_rooms
        self.services = BotServices(
            directory=directory,
            counselling_rooms=counselling_rooms,
            renderer=renderer,
            send_notice=self.send_notice,
            admin=admin,
            send_content=self.send_content,
            download_media=self.intent.download_media,
            centre_rooms=centre_rooms,
            service_rooms=service_rooms,
            send_event=self.send_event,
            identity=device.identity,
        )

    @property
    def user_id(self) -> str:
        return str(self.intent.mxid)

    async def handle_event(self, evt: Event) -> None:
        if evt.type == EventType.ROOM_MEMBER:
            assert isinstance(evt, StateEvent)
            await self._on_member(evt)
        elif evt.type == EventType.ROOM_ENCRYPTED and evt.sender not in self.own_users:
            assert isinstance(evt, EncryptedEvent)
            await self._on_encrypted(evt)

    # --- membership ---------------------------------------------------------------------

    async def _on_member(self, evt: StateEvent) -> None:
        await self.device.handle_member_event(evt)
        assert isinstance(evt.content, MemberStateEventContent)
        membership = evt.content.membership
        if evt.state_key == self.user_id:
            if membership == Membership.INVITE and evt.sender not in self.own_users:
                await self._on_invite(evt)
            return
        person = await Person.by_service_room(evt.room_id)
        if person is None and membership == Membership.JOIN:
            await self._welcome_to_control_room(evt)
        if person is None or evt.state_key != person.user_id:
            return
        if membership == Membership.JOIN:
            await self._welcome(person)
        elif membership in (Membership.LEAVE, Membership.BAN):
            log.info("%s left their service room %s", person.user_id, evt.room_id)
            await self.service_rooms.forget(person)

    async def _on_invite(self, evt: StateEvent) -> None:
        assert isinstance(evt.content, MemberStateEventContent)
        if not evt.content.is_direct:
            # Never join a room that is not a direct chat: it could be a counselling room,
            # and the assistant's device must not receive keys there (privacy model).
            log.info("rejected a non-direct invite to %s", evt.room_id)
            await self.service_rooms.leave(evt.room_id, reason="Lotse works in direct chats only")
            return
        person = await self.directory.lookup(evt.sender)
        if person is None:
            await self._refuse(evt.room_id, "not_a_member", self.directory.cfg.centres[0].language)
            log.info("refused invite to %s from a user of no centre", evt.room_id)
            return
        lang = self.directory.language_of(person)
        problem = await self.service_rooms.accept_invite(person, evt.room_id)
        if problem == "room_not_encrypted":
            await self._refuse(evt.room_id, problem, lang)
        if problem is not None:
            return
        fresh = await Person.get(person.user_id)
        if fresh is not None:
            await self._welcome(fresh)

    async def _welcome_to_control_room(self, evt: StateEvent) -> None:
        """An admin who joins their centre's admin control room learns what it is for."""
        if getattr(evt.prev_content, "membership", None) == Membership.JOIN:
            return  # a profile change, not a join
        centre_id = await CentreRooms.admin_room_centre(evt.room_id)
        if centre_id is None:
            return
        person = await self.directory.lookup(evt.state_key)
        if person is None or person.centre_id != centre_id or person.role != "admin":
            return
        text = self.renderer.render(
            self.directory.language_of(person),
            "control_room_welcome",
            centre_name=self.directory.centre_of(person).name,
            display_name=person.name,
        )
        await self.send_notice(evt.room_id, text, f"control-welcome-{evt.event_id}")

    async def _refuse(self, room_id: RoomID, template: str, lang: str) -> None:
        """Join just long enough to say why, then leave."""
        try:
            await self.intent.join_room(room_id)
            await self.intent.get_state(room_id)
            text = self.renderer.render(lang, template)
            await self.send_notice(room_id, text, f"refuse-{room_id}")
        except (MatrixError, DecryptionError) as e:
            log.info("could not explain the refusal in %s: %s", room_id, type(e).__name__)
        finally:
            await self.service_rooms.leave(room_id)

    async def _welcome(self, person: Person) -> None:
        if not person.service_room_id or not await person.mark_welcomed():
            return
        centre = self.directory.centre_of(person)
        member = await self.intent.state_store.get_member(
            RoomID(person.service_room_id), UserID(person.user_id)
        )
        display_name = (member.displayname if member else None) or person.user_id
        text = self.renderer.render(
            self.directory.language_of(person),
            "welcome",
            centre_name=centre.name,
            display_name=display_name,
            role=person.role,
        )
        await self.send_notice(
            RoomID(person.service_room_id), text, f"welcome-{person.service_room_id}"
        )

    # --- messages -----------------------------------------------------------------------

    async def _speaker(self, evt: EncryptedEvent) -> tuple[Person, bool] | None:
        """Who speaks to us: the owner of a service room, or an admin of the centre in its
        admin control room (then True: commands there act as that admin)."""
        person = await Person.by_service_room(evt.room_id)
        if person is not None:
            return (person, False) if evt.sender == person.user_id else None
        centre_id = await CentreRooms.admin_room_centre(evt.room_id)
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
            log.info("ignored %s in the admin room of %s: not its admin", evt.event_id, centre_id)
            return None
        return sender, True

    async def _on_encrypted(self, evt: EncryptedEvent) -> None:
        speaker = await self._speaker(evt)
        if speaker is None:
            await self._foreign_vote(evt)
            return
        person, control_room = speaker
        lang = self.directory.language_of(person)
        try:
            decrypted = await self.device.decrypt(evt)
        except DecryptionError as e:
            DECRYPTION_FAILURES.inc()
            log.warning(
                "could not decrypt %s in %s: %s", evt.event_id, evt.room_id, type(e).__name__
            )
            await self.send_notice(
                evt.room_id, self.renderer.render(lang, "could_not_decrypt"), _txn(evt.event_id)
            )
            return
        if decrypted.type.t in RESPONSE_TYPES and not control_room:
            # A vote on a triage poll (MSC3381) in the person's own service room.
            ctx = self._context(person, lang, evt)
            answer, poll = await triage_vote(ctx, decrypted.content.serialize())
            if answer:
                await self.send_notice(evt.room_id, answer, _txn(evt.event_id), reply_to=poll)
            return
        if not isinstance(decrypted, MessageEvent) or decrypted.type != EventType.ROOM_MESSAGE:
            return
        content = decrypted.content
        is_file = content.msgtype in FILE_TYPES  # a document after `doc CLIENT`
        if not is_file and (content.msgtype not in TEXT_TYPES or not isinstance(content.body, str)):
            return
        if control_room and not addressed_to_bot(content.body, self.registry):
            return  # admins talking to each other
        ctx = self._context(person, lang, evt)
        reply = await (receive_file(ctx, content) if is_file else run_command(content.body, ctx))
        if reply:
            await self.send_notice(evt.room_id, reply, _txn(evt.event_id), reply_to=evt.event_id)

    async def _foreign_vote(self, evt: EncryptedEvent) -> None:
        """Someone other than its owner votes in a service room: nothing changes, they learn
        why. Their other events stay ignored, as before."""
        owner = await Person.by_service_room(evt.room_id)
        if owner is None:
            return
        try:
            decrypted = await self.device.decrypt(evt)
        except DecryptionError:
            return
        if decrypted.type.t not in RESPONSE_TYPES:
            return
        log.info("ignored vote %s in %s: not the room's owner", evt.event_id, evt.room_id)
        vote = parse_vote(decrypted.content.serialize())
        text = self.renderer.render(self.directory.language_of(owner), "triage_poll_not_yours")
        poll = EventID(vote.poll_event_id) if vote else None
        await self.send_notice(evt.room_id, text, _txn(evt.event_id), reply_to=poll)

    def _context(self, person: Person, lang: str, evt: EncryptedEvent) -> CommandContext:
        centre = self.directory.centre_of(person)
        return CommandContext(
            user_id=person.user_id,
            role=ROLE_BY_NAME[person.role],
            centre_id=centre.id,
            centre_name=centre.name,
            lang=lang,
            room_id=evt.room_id,
            event_id=evt.event_id,
            renderer=self.renderer,
            registry=self.registry,
            extra={"services": self.services},
        )

    async def send_notice(
        self, room_id: RoomID, text: str, txn_key: str, reply_to: EventID | None = None
    ) -> None:
        """Send an m.notice, encrypted where the room is.

        The transaction id comes from what we answer to, so handling an event twice after a
        crash makes Synapse return the first reply instead of posting a second one.
        """
        content = TextMessageEventContent(
            msgtype=MessageType.NOTICE,
            body=text,
            format=Format.HTML,
            formatted_body=markdown_to_html(text),
        )
        if reply_to is not None:
            # Shown as an answer to the person's command in Element.
            content.relates_to = RelatesTo(in_reply_to=InReplyTo(event_id=reply_to))
        await self.send_content(room_id, content, txn_key)

    async def send_content(
        self, room_id: RoomID, content: MessageEventContent, txn_key: str
    ) -> None:
        """Send any m.room.message content, encrypted where the room is; idempotent per key."""
        await self.send_event(room_id, EventType.ROOM_MESSAGE, content, txn_key)

    async def send_event(
        self, room_id: RoomID, event_type: EventType, content: Any, txn_key: str
    ) -> EventID:
        """Send an event of any type (e.g. a poll), encrypted where the room is; idempotent."""
        txn_id = "lotse-" + hashlib.sha256(txn_key.encode()).hexdigest()[:32]
        encrypted_room = await self.intent.state_store.is_encrypted(room_id)
        if encrypted_room is None:
            # Unknown state must never mean "send in clear": look it up first.
            await self.intent.get_state(room_id)
            encrypted_room = await self.intent.state_store.is_encrypted(room_id)
        if encrypted_room:
            encrypted = await self.device.encrypt(room_id, event_type, content)
            return await self.intent.send_message_event(
                room_id,
                EventType.ROOM_ENCRYPTED,
                encrypted,  # type: ignore[arg-type]  # mautrix's union omits encrypted content
                txn_id=txn_id,
            )
        return await self.intent.send_message_event(room_id, event_type, content, txn_id=txn_id)


def _txn(event_id: str) -> str:
    return f"reply-{event_id}"
