"""Scripted Matrix people: matrix-nio clients with E2EE (vodozemac).

Used by the tests and by ``lotse dev --demo``. They log in with a password, create and join
encrypted rooms and exchange encrypted messages with the assistant exactly as Element would,
so the bot's crypto is checked against a second, independent implementation. Needs the
``dev`` extra (matrix-nio).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    Api,
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomMemberEvent,
    RoomMessageNotice,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
    UnknownEvent,
)
from nio.event_builders import EnableEncryptionBuilder

from .synapse_runner import UserExists, register_user

PASSWORD = "Correct-horse-1!"

# Matrix polls (MSC3381) as Element sends and shows them.
POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
POLL_KINDS = {POLL_START: "poll", POLL_END: "poll_end"}


@dataclass
class Seen:
    """One timeline event as the person's client saw it."""

    room_id: str
    event_id: str
    sender: str
    kind: str  # "notice", "text", "undecryptable", "member", "poll", "poll_end"
    body: str
    encrypted: bool
    membership: str = ""
    state_key: str = ""
    html: str = ""
    reply_to: str = ""
    # The whole content of a poll or poll end event (what Element reads to draw it).
    content: dict[str, Any] = field(default_factory=dict)


class Human:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.seen: list[Seen] = []
        self.invites: set[str] = set()
        # The service room once ``service_room`` joined it.
        self.own_room: str | None = None

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @classmethod
    async def create(
        cls, base_url: str, shared_secret: str, server_name: str, localpart: str, store: Path
    ) -> Human:
        """Register (or reuse) the account and log in with a fresh E2EE device."""
        user_id = f"@{localpart}:{server_name}"
        try:
            await register_user(base_url, shared_secret, localpart, PASSWORD)
        except UserExists:
            pass
        return await cls.login(base_url, user_id, PASSWORD, store)

    @classmethod
    async def login(cls, base_url: str, user_id: str, password: str, store: Path) -> Human:
        """Log in with a fresh E2EE device whose keys live in ``store``."""
        store.mkdir(parents=True, exist_ok=True)
        client = AsyncClient(
            base_url,
            user_id,
            store_path=str(store),
            # Fail after a few timed-out requests instead of nio's default of retrying forever,
            # so a stuck server shows up as an error, not a hang.
            config=AsyncClientConfig(
                encryption_enabled=True, store_sync_tokens=True, max_timeouts=3
            ),
        )
        resp = await client.login(password, device_name="lotse-scripted")
        assert isinstance(resp, LoginResponse), resp
        human = cls(client)
        await human.sync()
        return human

    async def close(self) -> None:
        await self.client.close()

    async def sync(self, timeout_ms: int = 0) -> None:
        client = self.client
        resp = await client.sync(timeout=timeout_ms, full_state=False)
        if isinstance(resp, SyncResponse):
            self._record(resp)
            for room_id in resp.rooms.invite:
                self.invites.add(room_id)
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    def _record(self, resp: SyncResponse) -> None:
        for room_id, room in resp.rooms.join.items():
            for evt in room.timeline.events:
                encrypted = bool(getattr(evt, "decrypted", False)) or isinstance(evt, MegolmEvent)
                if isinstance(evt, RoomMessageNotice):
                    kind, body = "notice", evt.body
                elif isinstance(evt, RoomMessageText):
                    kind, body = "text", evt.body
                elif isinstance(evt, MegolmEvent):
                    kind, body = "undecryptable", ""
                elif isinstance(evt, UnknownEvent) and evt.type in POLL_KINDS:
                    content = evt.source.get("content", {})
                    self.seen.append(
                        Seen(
                            room_id,
                            evt.event_id,
                            evt.sender,
                            POLL_KINDS[evt.type],
                            str(content.get("body", "")),
                            encrypted,
                            reply_to=content.get("m.relates_to", {}).get("event_id", ""),
                            content=content,
                        )
                    )
                    continue
                elif isinstance(evt, RoomMemberEvent):
                    self.seen.append(
                        Seen(
                            room_id,
                            evt.event_id,
                            evt.sender,
                            "member",
                            "",
                            False,
                            membership=evt.membership,
                            state_key=evt.state_key,
                        )
                    )
                    continue
                else:
                    continue
                html = getattr(evt, "formatted_body", None) or ""
                relates = (getattr(evt, "source", None) or {}).get("content", {})
                reply_to = (
                    relates.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id", "")
                )
                self.seen.append(
                    Seen(
                        room_id,
                        evt.event_id,
                        evt.sender,
                        kind,
                        body,
                        encrypted,
                        html=html,
                        reply_to=reply_to,
                    )
                )
        for room_id, room in resp.rooms.invite.items():
            for evt in room.invite_state:
                if isinstance(evt, InviteMemberEvent) and evt.state_key == self.user_id:
                    self.invites.add(room_id)

    async def wait_until(self, check: Any, timeout: float = 30, what: str = "event") -> Any:
        """Sync until ``check()`` returns something truthy; fail with ``what`` after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id}: timed out waiting for {what}")
            await self.sync(timeout_ms=500)

    async def open_dm(self, bot: str) -> str:
        """Create an encrypted DM with ``bot`` as Element does (trusted private chat).

        The assistant never talks in such a room (its creator could invite anybody): it
        invites the person to their own service room instead, see ``service_room``.
        """
        resp = await self.client.room_create(
            is_direct=True,
            invite=[bot],
            preset=RoomPreset.trusted_private_chat,
            initial_state=[EnableEncryptionBuilder().as_dict()],
        )
        assert isinstance(resp, RoomCreateResponse), resp
        await self.sync()
        return resp.room_id

    async def service_room(self, bot: str, timeout: float = 30) -> str:
        """Reach one's service room as a person new to Lotse does in Element: open a chat with
        the assistant, which invites them to their own room instead; join that one.

        Returns the room once joined (the assistant's welcome follows there); a second call
        returns the same room.
        """
        if self.own_room is not None:
            return self.own_room
        chat = await self.open_dm(bot)

        def invitation() -> str | None:
            for room_id, room in self.client.invited_rooms.items():
                if room_id in self.invites and room_id != chat and room.inviter == bot:
                    return str(room_id)
            return None

        room_id = await self.wait_until(invitation, timeout, "the assistant's invitation")
        self.invites.discard(room_id)
        await self.client.join(room_id)
        await self.sync()
        self.own_room = room_id
        return str(room_id)

    async def join_invite(self, timeout: float = 30) -> str:
        room_id = await self.wait_until(
            lambda: next(iter(self.invites), None), timeout, "an invitation"
        )
        self.invites.discard(room_id)
        await self.client.join(room_id)
        await self.sync()
        return str(room_id)

    def members(self, room_id: str) -> set[str]:
        room = self.client.rooms.get(room_id)
        return set(room.users) if room else set()

    async def wait_member(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        await self.wait_until(
            lambda: user_id in self.members(room_id), timeout, f"{user_id} in {room_id}"
        )

    async def wait_left(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        def left() -> bool:
            # After many membership changes a sync's timeline is cut short ("limited") and the
            # leave event may not be in it; the room's member state is then already updated.
            seen_leave = any(
                s.room_id == room_id
                and s.kind == "member"
                and s.state_key == user_id
                and s.membership == "leave"
                for s in self.seen
            )
            room = self.client.rooms.get(room_id)
            gone = (
                room is not None and user_id not in room.users and user_id not in room.invited_users
            )
            return seen_leave or gone

        await self.wait_until(left, timeout, f"{user_id} to leave {room_id}")

    async def send(self, room_id: str, text: str) -> str:
        await self.sync()
        resp = await self.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": text},
            ignore_unverified_devices=True,
        )
        event_id = getattr(resp, "event_id", None)
        assert event_id, resp
        return str(event_id)

    async def vote(
        self, room_id: str, poll_event_id: str, *answers: str, hidden_relation: bool = False
    ) -> str:
        """Answer a poll as Element does: an (encrypted) response referencing the poll.

        ``hidden_relation`` keeps the reference inside the encryption only, as a misbehaving
        client could, so Synapse cannot check it (it refuses relations across rooms).
        """
        await self.sync()
        content = {
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
            POLL_RESPONSE: {"answers": list(answers)},
        }
        if hidden_relation:
            event_type, encrypted = self.client.encrypt(room_id, POLL_RESPONSE, content)
            encrypted.pop("m.relates_to", None)
            method, path, data = Api.room_send(
                self.client.access_token, room_id, event_type, encrypted, uuid.uuid4()
            )
            resp = await self.client._send(RoomSendResponse, method, path, data, (room_id,))
        else:
            resp = await self.client.room_send(
                room_id, POLL_RESPONSE, content, ignore_unverified_devices=True
            )
        event_id = getattr(resp, "event_id", None)
        assert event_id, resp
        return str(event_id)

    def polls(self, room_id: str, sender: str, kind: str = "poll") -> list[Seen]:
        """Polls (or, with ``kind="poll_end"``, poll ends) from ``sender`` in the room."""
        return [
            s for s in self.seen if s.room_id == room_id and s.sender == sender and s.kind == kind
        ]

    def notices(self, room_id: str, sender: str) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.room_id == room_id and s.sender == sender and s.kind in ("notice", "undecryptable")
        ]

    async def next_notice(
        self, room_id: str, sender: str, after: int, timeout: float = 30, contains: str = ""
    ) -> Seen:
        """Wait for the first notice from ``sender`` beyond the ``after`` already seen."""

        def found() -> Seen | None:
            for s in self.notices(room_id, sender)[after:]:
                if contains in s.body or s.kind == "undecryptable":
                    return s
            return None

        seen = await self.wait_until(found, timeout, f"a notice from {sender}")
        assert seen.kind == "notice", f"the reply could not be decrypted: {seen}"
        return seen


async def ask(human: Human, room_id: str, bot: str, text: str, timeout: float = 30) -> Seen:
    """Send ``text`` and return the bot's answer to it (its reply to this very message)."""
    before = len(human.notices(room_id, bot))
    event_id = await human.send(room_id, text)

    def answer() -> Seen | None:
        for s in human.notices(room_id, bot)[before:]:
            if s.reply_to == event_id or s.kind == "undecryptable":
                return s
        return None

    seen = await human.wait_until(answer, timeout, f"the answer to {text!r}")
    assert seen.kind == "notice", f"the answer could not be decrypted: {seen}"
    return seen


async def notices_before_marker(
    human: Human, room_id: str, bot: str, after: int, marker: str = "hilfe"
) -> list[Seen]:
    """The bot's notices beyond the ``after`` already seen, up to the answer to ``marker``.

    Proves that nothing (else) came: send a command now and wait for its answer, so that
    whatever the bot had sent into the room before has arrived too.
    """
    answer = await ask(human, room_id, bot, marker)
    notices = human.notices(room_id, bot)
    return notices[after : notices.index(answer)]


async def gather_close(*humans: Human) -> None:
    await asyncio.gather(*(h.close() for h in humans))
