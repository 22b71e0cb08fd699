"""The assistant (``@lotse``): answers people in their encrypted service rooms.

It talks only in rooms it created and manages itself (bridge/private_rooms.py): a chat a
person opens with it is answered with an invitation to their own service room, strangers are
politely refused. It greets each person once and turns decrypted messages of a room's owner
(or, in the admin control room, of the centre's admins) into command replies (m.notice,
encrypted); nobody else's message is ever decrypted. Which rooms it joins, leaves and answers
in is decided by bridge/service_room_policy.py; here messages are routed to the commands and
the replies, greetings and refusals are worded and sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mautrix.appservice import IntentAPI
from mautrix.errors import DecryptionError, MatrixError, MatrixRequestError
from mautrix.types import (
    ContentURI,
    EncryptedEvent,
    Event,
    EventID,
    EventType,
    Format,
    InReplyTo,
    Membership,
    MessageEvent,
    MessageEventContent,
    MessageType,
    RelatesTo,
    RoomID,
    Serializable,
    StateEvent,
    TextMessageEventContent,
    UserID,
)

from appservice import once
from appservice.admin_api import SynapseAdmin
from appservice.db import Person, Rows
from appservice.e2ee import AssistantDevice, RoomNotPrivate
from appservice.i18n import Renderer
from appservice.metrics import DECRYPTION_FAILURES
from appservice.once import OUTCOME_PURPOSE, Outgoing, Scope, run_once
from appservice.sealing import sealer
from bots.booking.shell.commands import book_key
from bots.booking.shell.polls import POLL_SENT as BOOKING_POLL_SENT
from bots.booking.shell.polls import is_slot_vote, slot_vote
from bots.booking.shell.polls import poll_sent as booking_poll_sent
from bots.centre.control_room import addressed_to_bot
from bots.framework.commands import CommandRegistry
from bots.framework.dispatch import ROLE_BY_NAME, CommandContext, run_command
from bots.framework.formatting import markdown_to_html
from bots.framework.services import BotServices
from bots.monitoring.commands import monitoring_vote
from bots.monitoring.polls import POLL_SENT as MONITORING_POLL_SENT
from bots.monitoring.polls import poll_sent as monitoring_poll_sent
from bots.records.documents import FILE_TYPES, receive_file
from bots.requests.poll_events import RESPONSE_TYPES
from bots.requests.requests import POOL_ROOM, pool_room
from bots.requests.triage import triage_vote
from bots.requests.triage_polls import POLL_SENT, poll_sent
from bridge.centre_rooms import CentreRooms
from bridge.counselling_rooms import CounsellingRooms
from bridge.people import Directory
from bridge.private_rooms import PrivateRooms
from bridge.service_room_policy import (
    ADMIN_JOINED_CONTROL_ROOM,
    ANONYMOUS,
    GO_TO_SERVICE_ROOM,
    OWNER_JOINED,
    STRANGER,
    Invited,
    ServiceRoomPolicy,
)
from bridge.service_rooms import ServiceRooms
from mailgateway.notices import MailNotices
from mailgateway.rows import MailRows

# A step run once its command is committed (see appservice/once.py ``Outgoing.hook``).
Step = Callable[[BotServices, dict[str, str]], Awaitable[None]]

log = logging.getLogger("lotse.assistant")

TEXT_TYPES = (MessageType.TEXT, MessageType.NOTICE, MessageType.EMOTE)


class Assistant:
    def __init__(
        self,
        *,
        rows: Rows,
        mail_rows: MailRows,
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
        mail: MailNotices | None = None,
    ) -> None:
        self.intent = intent
        self.device = device
        self.directory = directory
        self.service_rooms = service_rooms
        self.registry = registry
        self.renderer = renderer
        self.own_users = own_users
        self.centre_rooms = centre_rooms
        self.private_rooms = PrivateRooms(intent, service_rooms)
        self.policy = ServiceRoomPolicy(
            self.user_id, own_users, directory, service_rooms, self.private_rooms
        )
        enc = directory.cfg.encryption
        self._outcome_sealer = sealer(enc.sealing_key, OUTCOME_PURPOSE, enc.previous_sealing_keys)
        # Steps that run after a command is committed (see send_event and run_step).
        self.steps: dict[str, Step] = {
            POLL_SENT: poll_sent,
            POOL_ROOM: pool_room,
            MONITORING_POLL_SENT: monitoring_poll_sent,
            BOOKING_POLL_SENT: booking_poll_sent,
        }
        self.services = BotServices(
            rows=rows,
            mail_rows=mail_rows,
            directory=directory,
            counselling_rooms=counselling_rooms,
            renderer=renderer,
            send_notice=self.send_notice,
            admin=admin,
            send_content=self.send_content,
            download_media=self.intent.download_media,
            upload_media=self._upload_media,
            centre_rooms=centre_rooms,
            service_rooms=service_rooms,
            send_event=self.send_event,
            run_step=self.run_step,
            identity=device.identity,
            mail=mail,
        )

    async def _upload_media(self, data: bytes, mime_type: str, filename: str) -> ContentURI:
        return await self.intent.upload_media(data, mime_type=mime_type, filename=filename)

    @property
    def user_id(self) -> str:
        return str(self.intent.mxid)

    async def handle_event(self, evt: Event) -> None:
        try:
            if evt.type == EventType.ROOM_MEMBER:
                assert isinstance(evt, StateEvent)
                await self._on_member(evt)
            elif evt.type == EventType.ROOM_ENCRYPTED and evt.sender not in self.own_users:
                assert isinstance(evt, EncryptedEvent)
                await self._on_encrypted(evt)
        except RoomNotPrivate as e:
            # Somebody else turned up while we were answering: the answer is dropped, not
            # retried (the person hears why in their new room).
            log.info("not answering %s: %s", evt.event_id, e)

    # --- membership ---------------------------------------------------------------------

    async def _on_member(self, evt: StateEvent) -> None:
        """The room side is the policy's (bridge/service_room_policy.py); here it is worded."""
        await self.device.handle_member_event(evt)
        outcome = await self.policy.member_changed(evt)
        if isinstance(outcome, Invited):
            await self._answer_invite(evt, outcome)
        elif outcome is not None and outcome.kind == OWNER_JOINED:
            await self._tell_why_moved(outcome.person, evt)
            await self._welcome(outcome.person)
        elif outcome is not None and outcome.kind == ADMIN_JOINED_CONTROL_ROOM:
            await self._welcome_to_control_room(evt, outcome.person)

    async def _answer_invite(self, evt: StateEvent, invited: Invited) -> None:
        """Somebody opened a chat with the assistant: a stranger hears why not, a person of a
        centre where their own service room is (the policy has just made sure it exists)."""
        if invited.kind == STRANGER:
            lang = self.directory.cfg.centres[0].language
            await self._explain_and_leave(evt, self.renderer.render(lang, "not_a_member"))
        elif invited.kind == ANONYMOUS and invited.person is not None:
            text = self.renderer.render(
                self.directory.language_of(invited.person), "anonymous_not_served"
            )
            await self._explain_and_leave(evt, text)
        elif invited.kind == GO_TO_SERVICE_ROOM and invited.person is not None:
            text = self.renderer.render(
                self.directory.language_of(invited.person),
                "dm_refused",
                room_name=self.service_rooms.name_for(invited.person),
            )
            await self._explain_and_leave(evt, text)

    async def _welcome_to_control_room(self, evt: StateEvent, person: Person) -> None:
        """An admin who joins their centre's admin control room learns what it is for."""
        text = self.renderer.render(
            self.directory.language_of(person),
            "control_room_welcome",
            centre_name=self.directory.centre_of(person).name,
            display_name=person.name,
        )
        await self.send_notice(evt.room_id, text, f"control-welcome-{evt.event_id}")

    async def _explain_and_leave(self, evt: StateEvent, text: str) -> None:
        """Join a chat somebody opened just long enough to say why not, then leave it for good.

        Said only while the room holds nobody but them: nothing is encrypted for anyone else.
        """
        only = frozenset({str(evt.sender), self.user_id})
        try:
            await self.intent.join_room(evt.room_id)
            await self.intent.get_state(evt.room_id)
            await self.send_notice(evt.room_id, text, f"refuse-{evt.event_id}", only=only)
        except (MatrixError, DecryptionError) as e:
            log.info("could not explain the refusal in %s: %s", evt.room_id, type(e).__name__)
        finally:
            await self.service_rooms.leave(evt.room_id)

    async def _tell_why_moved(self, person: Person, evt: StateEvent) -> None:
        """In a room that replaced the person's old one, say why (once)."""
        notice = person.service_room_notice
        if notice is None or getattr(evt.prev_content, "membership", None) == Membership.JOIN:
            return
        text = self.renderer.render(
            self.directory.language_of(person), "service_room_moved", reason=notice
        )
        await self.send_notice(evt.room_id, text, f"moved-{evt.event_id}")
        await person.notice_told(notice)

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

    async def _on_encrypted(self, evt: EncryptedEvent) -> None:
        speaker = await self.policy.speaker(evt)
        if speaker is None:
            return
        person, control_room = speaker.person, speaker.control_room
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
            # A vote on a triage (client) or monitoring (staff) poll (MSC3381) in the
            # person's own service room.
            ctx = self._context(person, lang, evt, control_room)
            vote = decrypted.content.serialize()
            if is_slot_vote(vote):  # a vote on the free slots (bots/booking)
                await self._exactly_once(evt, lambda: slot_vote(ctx, vote, book_key))
            else:
                on_vote = triage_vote if person.role == "client" else monitoring_vote
                await self._exactly_once(evt, lambda: on_vote(ctx, vote))
            return
        if not isinstance(decrypted, MessageEvent) or decrypted.type != EventType.ROOM_MESSAGE:
            return
        content = decrypted.content
        is_file = content.msgtype in FILE_TYPES  # a document after `doc CLIENT`
        if not is_file and (content.msgtype not in TEXT_TYPES or not isinstance(content.body, str)):
            return
        if control_room and not addressed_to_bot(content.body, self.registry):
            return  # admins talking to each other
        ctx = self._context(person, lang, evt, control_room)

        async def command() -> tuple[str | None, EventID | None]:
            reply = await (
                receive_file(ctx, content) if is_file else run_command(content.body, ctx)
            )
            return reply, evt.event_id

        await self._exactly_once(evt, command)

    async def _exactly_once(
        self, evt: EncryptedEvent, work: Callable[[], Awaitable[tuple[str | None, EventID | None]]]
    ) -> None:
        """Run a command and send what it says, so that handling its event again (after a
        failed send or a crash) sends the same and changes nothing (appservice/once.py)."""

        async def run(scope: Scope) -> None:
            reply, reply_to = await work()
            if reply:
                scope.outgoing.append(_notice(evt.room_id, reply, _txn(evt.event_id), reply_to))

        def failed(reply: str) -> list[Outgoing]:
            return [_notice(evt.room_id, reply, _txn(evt.event_id), evt.event_id)]

        for item in await run_once(
            self.services.rows.CommandOutcome, self._outcome_sealer, evt.event_id, run, failed
        ):
            await self._post(item)

    def _context(
        self, person: Person, lang: str, evt: EncryptedEvent, control_room: bool
    ) -> CommandContext:
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
            shared_room=control_room,
            extra={"services": self.services},
        )

    async def send_notice(
        self,
        room_id: RoomID,
        text: str,
        txn_key: str,
        reply_to: EventID | None = None,
        fallback: Sequence[tuple[RoomID, str, str]] = (),
        only: frozenset[str] | None = None,
    ) -> None:
        """Send an m.notice, encrypted where the room is; inside a command, once it is done.

        The transaction id comes from what we answer to, so handling an event twice after a
        crash makes Synapse return the first reply instead of posting a second one. If the
        room refuses it, each ``(room, text, key)`` of ``fallback`` is sent instead. ``only``
        as for ``send_event``.
        """
        item = _notice(room_id, text, txn_key, reply_to)
        item.fallback = [_notice(r, t, k, None) for r, t, k in fallback]
        item.only = sorted(only) if only is not None else None
        await self._post_or_queue(item)

    async def send_content(
        self, room_id: RoomID, content: MessageEventContent, txn_key: str
    ) -> None:
        """Send any m.room.message content, encrypted where the room is; idempotent per key."""
        await self.send_event(room_id, EventType.ROOM_MESSAGE, content, txn_key)

    async def send_event(
        self,
        room_id: RoomID,
        event_type: EventType,
        content: Any,
        txn_key: str,
        hook: str = "",
        hook_arg: dict[str, str] | None = None,
    ) -> EventID | None:
        """Send an event of any type (e.g. a poll), encrypted where the room is; idempotent.

        Inside a command it is queued and sent once the command's changes are committed
        (None is returned then); the step named ``hook`` learns the event's id. It goes only
        into a room that holds nobody but those allowed there (bridge/private_rooms.py; see
        ``_send_now``).
        """
        serialized = content.serialize() if isinstance(content, Serializable) else content
        item = Outgoing(str(room_id), event_type.t, serialized, txn_key, [], hook, hook_arg or {})
        return await self._post_or_queue(item)

    async def run_step(self, name: str, arg: dict[str, str]) -> None:
        """Run the step ``name``; inside a command, once its changes are committed."""
        await self._post_or_queue(Outgoing("", "", {}, "", [], name, arg))

    async def _post_or_queue(self, item: Outgoing) -> EventID | None:
        scope = once.current()
        if scope is not None:
            scope.outgoing.append(item)
            return None
        return await self._post(item)

    async def _post(self, item: Outgoing) -> EventID | None:
        """Send one queued event (or its fallback), then run its step."""
        room_id = RoomID(item.room_id)
        event_id: EventID | None = None
        if item.event_type:
            event_type = EventType.find(item.event_type, EventType.Class.MESSAGE)
            only = frozenset(item.only) if item.only is not None else None
            try:
                event_id = await self._send_now(
                    room_id, event_type, item.content, item.txn_key, only
                )
            except MatrixError as e:
                if item.fallback:
                    log.warning(
                        "%s refused a notice (%s); sending it to %d others",
                        room_id,
                        e,
                        len(item.fallback),
                    )
                    for other in item.fallback:
                        await self._post(other)
                    return None
                if not _for_good(e):
                    raise  # the inbox tries the event again; this send keeps its id
                # Somebody turned up who does not belong (the room is being replaced; the
                # person hears why in the new one), or Synapse refuses this very event (e.g. a
                # poll end that relates to a poll of the room being replaced): trying again
                # would change nothing, and the command's other messages still go out.
                log.warning("not sent into %s: %s", room_id, e)
                return None
        if item.hook:
            sent = {"room_id": item.room_id, "event_id": event_id or ""}
            await self.steps[item.hook](self.services, {**item.hook_arg, **sent})
        return event_id

    async def _send_now(
        self,
        room_id: RoomID,
        event_type: EventType,
        content: dict[str, Any],
        txn_key: str,
        only: frozenset[str] | None = None,
    ) -> EventID:
        """Send at once, only into a room that holds nobody but those allowed there: the
        assistant's own rooms (bridge/private_rooms.py), or ``only`` for a chat somebody opened
        with it. Otherwise RoomNotPrivate, and nothing is sent or encrypted."""
        allowed = await self.private_rooms.check(room_id, only)
        txn_id = "lotse-" + hashlib.sha256(txn_key.encode()).hexdigest()[:32]
        encrypted_room = await self.intent.state_store.is_encrypted(room_id)
        if encrypted_room is None:
            # Unknown state must never mean "send in clear": look it up first.
            await self.intent.get_state(room_id)
            encrypted_room = await self.intent.state_store.is_encrypted(room_id)
        if encrypted_room:
            encrypted = await self.device.encrypt(room_id, event_type, content, allowed=allowed)
            return await self.intent.send_message_event(
                room_id,
                EventType.ROOM_ENCRYPTED,
                encrypted,  # type: ignore[arg-type]  # mautrix's union omits encrypted content
                txn_id=txn_id,
            )
        return await self.intent.send_message_event(
            room_id,
            event_type,
            content,  # type: ignore[arg-type]  # serialized content: mautrix sends it as is
            txn_id=txn_id,
        )


def _notice(room_id: str, text: str, txn_key: str, reply_to: str | None) -> Outgoing:
    """An m.notice as the assistant writes it: Markdown, shown as an answer if ``reply_to``."""
    content = TextMessageEventContent(
        msgtype=MessageType.NOTICE,
        body=text,
        format=Format.HTML,
        formatted_body=markdown_to_html(text),
    )
    if reply_to is not None:
        # Shown as an answer to the person's command in Element.
        content.relates_to = RelatesTo(in_reply_to=InReplyTo(event_id=EventID(reply_to)))
    return Outgoing(str(room_id), EventType.ROOM_MESSAGE.t, content.serialize(), txn_key)


def _for_good(error: MatrixError) -> bool:
    """A refusal that a second try would meet again: a room that is not private, or a client
    error other than rate limiting."""
    if isinstance(error, RoomNotPrivate):
        return True
    status = getattr(error, "http_status", 0)
    return isinstance(error, MatrixRequestError) and 400 <= status < 500 and status != 429


def _txn(event_id: str) -> str:
    return f"reply-{event_id}"
