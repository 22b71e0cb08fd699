"""What command handlers may use beyond their reply: tell other people, run rooms."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mautrix.errors import MatrixError
from mautrix.types import ContentURI, EventID, EventType, MessageEventContent, RoomID

from appservice.admin_api import SynapseAdmin
from appservice.centre_settings import CentreSettings, apply_overrides
from appservice.db import AuditEntry, CentreRoom, CentreSettingRow, Person
from appservice.i18n import Renderer
from bridge.centre_rooms import CentreRooms
from bridge.counselling_rooms import CounsellingRooms
from bridge.people import Directory
from bridge.service_rooms import ServiceRooms

from .dispatch import CommandContext

SendNotice = Callable[[RoomID, str, str], Awaitable[None]]
SendContent = Callable[[RoomID, MessageEventContent, str], Awaitable[None]]
DownloadMedia = Callable[[ContentURI], Awaitable[bytes]]
SendEvent = Callable[[RoomID, EventType, Any, str], Awaitable[EventID]]

log = logging.getLogger("lotse.services")


@dataclass
class BotServices:
    directory: Directory
    counselling_rooms: CounsellingRooms
    renderer: Renderer
    send_notice: SendNotice
    # Synapse admin API as the assistant (create accounts, passwords, lock, erase).
    admin: SynapseAdmin
    # As the assistant: send any message content (e.g. a document as m.file), encrypted where
    # the room is, and fetch a file from the media repository.
    send_content: SendContent | None = None
    download_media: DownloadMedia | None = None
    # Each centre's Space, admin control room and staff room (membership follows roles).
    centre_rooms: CentreRooms | None = None
    # Service rooms: a person created by a command is invited to theirs at once.
    service_rooms: ServiceRooms | None = None
    # As the assistant: send an event of any type (a poll), encrypted where the room is.
    send_event: SendEvent | None = None
    # The assistant's master-key fingerprint, shown in `help` so people can compare it.
    identity: str = ""

    async def tell(self, person: Person, template: str, **variables: Any) -> bool:
        """A notice in the person's service room, in their language; False if they have none."""
        if not person.service_room_id:
            return False
        text = self.renderer.render(self.directory.language_of(person), template, **variables)
        await self.send_notice(RoomID(person.service_room_id), text, f"tell-{secrets.token_hex(8)}")
        return True

    async def tell_admins(self, centre_id: str, template: str, **variables: Any) -> int:
        """Tell the centre's admins (metadata only, never content); returns how many were told.

        One notice in the centre's admin control room; before that room exists (or if posting
        fails) each admin hears it in their own service room.
        """
        admins = [
            p
            for p in await Person.all_in_centre(centre_id)
            if p.role == "admin" and p.deleted_at is None
        ]
        room = await CentreRoom.get(centre_id, "admin")
        centre = self.directory.cfg.centre(centre_id)
        if room is not None and centre is not None:
            text = self.renderer.render(centre.language, template, **variables)
            try:
                await self.send_notice(RoomID(room), text, f"admins-{secrets.token_hex(8)}")
                return len(admins)
            except MatrixError as e:
                log.warning("admin control room %s unreachable (%s); using service rooms", room, e)
        told = 0
        for person in admins:
            told += await self.tell(person, template, **variables)
        return told

    async def settings(self, centre_id: str) -> CentreSettings:
        """The centre's effective settings: config defaults with the admins' changes on top."""
        centre = self.directory.cfg.centre(centre_id)
        base = centre.settings if centre is not None else CentreSettings()
        return apply_overrides(base, await CentreSettingRow.overrides(centre_id))

    @staticmethod
    async def audit(
        centre_id: str, actor_id: str, action: str, target: str = "", detail: str = ""
    ) -> None:
        """Record an admin action: who, what, to whom. ``detail`` is a short fact, never content."""
        await AuditEntry.record(centre_id, actor_id, action, target, detail)


def services_of(ctx: CommandContext) -> BotServices:
    """The services the assistant put into the command context."""
    services = ctx.extra["services"]
    assert isinstance(services, BotServices)
    return services
