"""mautrix's state store, minus the people being erased.

The deletion routine removes a person from mautrix's tables (appservice/db/scrub.py), but
Synapse keeps sending and serving their membership: the leave events of the deactivation
arrive after the erasure, and member lists fetched later still list them as having left.
This store records nothing about anyone with a tombstone (from the moment the routine claims
them), so their id and name do not come back into Lotse's database.
"""

from __future__ import annotations

from typing import Any

from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.types import (
    Member,
    Membership,
    MemberStateEventContent,
    PowerLevelStateEventContent,
    RoomID,
    StateEvent,
    UserID,
)
from mautrix.util.async_db import Database

from .db import ErasedPerson


class LotseStateStore(PgASStateStore):
    """mautrix's state store that keeps nothing about erased people (``erased``: the
    tombstone table of the same database)."""

    def __init__(self, db: Database, erased: type[ErasedPerson]) -> None:
        super().__init__(db)
        self.erased = erased

    async def set_member(
        self, room_id: RoomID, user_id: UserID, member: Member | MemberStateEventContent
    ) -> None:
        if not await self.erased.among([user_id]):
            await super().set_member(room_id, user_id, member)

    async def set_membership(
        self, room_id: RoomID, user_id: UserID, membership: Membership
    ) -> None:
        if not await self.erased.among([user_id]):
            await super().set_membership(room_id, user_id, membership)

    async def set_members(
        self,
        room_id: RoomID,
        members: dict[UserID, Member | MemberStateEventContent],
        only_membership: Membership | None = None,
    ) -> None:
        erased = await self.erased.among(list(members))
        kept = {user_id: m for user_id, m in members.items() if user_id not in erased}
        await super().set_members(room_id, kept, only_membership)

    async def set_power_levels(
        self, room_id: RoomID, content: PowerLevelStateEventContent | dict[str, Any]
    ) -> None:
        users = content.users if isinstance(content, PowerLevelStateEventContent) else {}
        if isinstance(content, dict):
            users = content.get("users") or {}
        if await self.erased.among(list(users)):
            return  # not cached: mautrix asks Synapse when it needs the levels
        await super().set_power_levels(room_id, content)

    async def set_create(self, event: StateEvent) -> None:
        extra = getattr(event.content, "additional_creators", None) or []
        creators = [event.sender, *extra]
        if await self.erased.among([str(c) for c in creators if c]):
            return
        await super().set_create(event)
