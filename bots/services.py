"""What command handlers may use beyond their reply: tell other people, run rooms."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mautrix.types import RoomID

from appservice.db import Person
from appservice.i18n import Renderer
from bridge.counselling_rooms import CounsellingRooms
from bridge.people import Directory

SendNotice = Callable[[RoomID, str, str], Awaitable[None]]


@dataclass
class BotServices:
    directory: Directory
    counselling_rooms: CounsellingRooms
    renderer: Renderer
    send_notice: SendNotice

    async def tell(self, person: Person, template: str, **variables: Any) -> bool:
        """A notice in the person's service room, in their language; False if they have none."""
        if not person.service_room_id:
            return False
        text = self.renderer.render(self.directory.language_of(person), template, **variables)
        await self.send_notice(RoomID(person.service_room_id), text, f"tell-{secrets.token_hex(8)}")
        return True
