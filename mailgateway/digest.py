"""New-message mails without content: the steward's view of rooms, read receipts, digests.

The steward is in every counselling and group room but has no encryption device, so all it
learns of a message is sender, room, event id and time; that is all this module uses. A
room counts when the steward is joined and the assistant is not (the assistant's rooms are
service rooms; it is never in counselling rooms). Each other joined human gets the event
marked unread (:class:`RoomNotices`); a read receipt, or a message of their own, ends it.
A scheduler job (:meth:`RoomNotifier.send_due`) mails each person whose delay has passed
one ``new_message`` per room per digest window through :mod:`mailgateway.notices`.

Read receipts are applied directly by the transaction receiver, before Synapse gets its
200, rather than through the event inbox: they carry no event id to deduplicate by, are
idempotent (a replay changes nothing), are the most frequent thing Synapse sends, and must
not queue behind a room whose events wait for a late room key. Applying them before the
200 keeps them durable all the same (a database error means no 200 and a resend).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from mautrix.types import Event, EventType, Membership, RoomID, StateEvent, UserID

from appservice.clock import now_ms

from .notices import QUEUED, MailNotices, decide, facts_of
from .room_notices import DueNotice

log = logging.getLogger("lotse.mail.digest")

# What counts as a message: encrypted events (all content in counselling rooms), and the
# unencrypted message types in case a client sends one anyway. Reactions, redactions and
# state do not mail anyone.
COUNTED = frozenset({EventType.ROOM_ENCRYPTED.t, EventType.ROOM_MESSAGE.t, EventType.STICKER.t})
RECEIPT_TYPES = ("m.read", "m.read.private")

# The label in the mail: fixed words, never the room's name (group names are chosen by
# people and could name someone).
ROOM_LABEL = {"de": "Ihr Beratungsraum", "en": "your counselling room"}


class MemberSource(Protocol):
    async def get_members(
        self, room_id: RoomID, memberships: tuple[Membership, ...] = ...
    ) -> list[UserID]: ...

    async def is_joined(self, room_id: RoomID, user_id: UserID) -> bool: ...


def receipts_in(ephemeral: Iterable[Any]) -> list[tuple[str, str, str, int]]:
    """(room, user, event id, ts) for each read receipt in a transaction's ephemeral list.

    Anything malformed is skipped: Synapse's ephemeral events are best-effort anyway.
    """
    found: list[tuple[str, str, str, int]] = []
    for item in ephemeral:
        if not isinstance(item, dict) or item.get("type") != "m.receipt":
            continue
        room_id, content = item.get("room_id"), item.get("content")
        if not isinstance(room_id, str) or not isinstance(content, dict):
            continue
        for event_id, kinds in content.items():
            if not isinstance(event_id, str) or not isinstance(kinds, dict):
                continue
            for receipt_type in RECEIPT_TYPES:
                readers = kinds.get(receipt_type)
                if not isinstance(readers, dict):
                    continue
                for user_id, data in readers.items():
                    ts = data.get("ts") if isinstance(data, dict) else None
                    if isinstance(user_id, str) and isinstance(ts, int) and ts >= 0:
                        found.append((room_id, user_id, event_id, ts))
    return found


class RoomNotifier:
    """Room observer, receipt sink and the due-mail job, wired by the composition root."""

    def __init__(
        self,
        members: MemberSource,
        *,
        steward: str,
        assistant: str,
        own_users: Iterable[str],
        notices: MailNotices,
        window_minutes: int,
    ) -> None:
        self.rows = notices.rows
        self.members = members
        self.steward = UserID(steward)
        self.assistant = assistant
        self.own_users = frozenset(own_users)
        self.notices = notices
        self.window_ms = window_minutes * 60_000

    async def _counted_members(self, room_id: str) -> list[UserID] | None:
        """Joined members of a counselling or group room, or None for any other room."""
        if await self.rows.CentreRoom.by_room(room_id) is not None:
            # A centre's staff room (steward-owned too) is the team's own chat: no mails.
            return None
        joined = await self.members.get_members(RoomID(room_id), (Membership.JOIN,))
        if self.steward not in joined or self.assistant in joined:
            return None
        return joined

    async def observe(self, evt: Event) -> None:
        """The room observer: note who has not read this event yet. No content is touched."""
        if isinstance(evt, StateEvent) or evt.type.t not in COUNTED:
            return
        if evt.sender in self.own_users:
            return
        joined = await self._counted_members(evt.room_id)
        if joined is None:
            return
        ts = int(evt.timestamp)
        recipients = [u for u in joined if u != evt.sender and u not in self.own_users]
        # Whoever writes has read the room up to here.
        await self.rows.RoomNotices.observe(
            evt.room_id, evt.event_id, ts, recipients, sender=evt.sender
        )

    async def receive_ephemeral(self, ephemeral: list[Any]) -> None:
        """Apply the read receipts of one transaction (see the module docstring)."""
        checked: dict[str, bool] = {}
        for room_id, user_id, event_id, ts in receipts_in(ephemeral):
            if user_id in self.own_users:
                continue
            if room_id not in checked:
                checked[room_id] = await self.members.is_joined(RoomID(room_id), self.steward)
            if checked[room_id]:
                await self.rows.RoomNotices.read(user_id, room_id, event_id, ts)

    async def run_due(self) -> None:
        """:meth:`send_due` as a scheduler job."""
        queued = await self.send_due()
        if queued:
            log.info("%d new-message mail(s) queued", queued)

    async def send_due(self) -> int:
        """The scheduler job: one mail per due person and room; returns how many were queued."""
        now = now_ms()
        queued = 0
        for notice in await self.rows.RoomNotices.due(now, self.window_ms):
            queued += await self._send(notice, now)
        return queued

    async def _send(self, notice: DueNotice, now: int) -> int:
        person = await self.rows.Person.get(notice.user_id)
        if person is None:
            await self.rows.RoomNotices.claim(notice, now, mailed=False)
            return 0
        outcome = decide(
            "new_message", await facts_of(self.rows, person), self.notices.cfg.mail.enabled
        )
        if not await self.rows.RoomNotices.claim(notice, now, mailed=outcome == QUEUED):
            return 0  # another run took it
        if outcome != QUEUED:
            log.debug("unread room for %s, no mail: %s", notice.user_id, outcome)
            return 0
        lang = self.notices.language_of(person)
        outcome = await self.notices.notify(person, "new_message", room_label=ROOM_LABEL[lang])
        return 1 if outcome == QUEUED else 0
