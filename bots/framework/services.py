"""What command handlers may use beyond their reply: tell other people, run rooms."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mautrix.types import ContentURI, EventID, EventType, MessageEventContent, RoomID

from appservice import once
from appservice.admin_api import SynapseAdmin
from appservice.centre_settings import CentreSettings, apply_overrides
from appservice.config import Config
from appservice.db import Person, Rows
from appservice.i18n import Renderer
from bridge.centre_rooms import CentreRooms
from bridge.counselling_rooms import CounsellingRooms
from bridge.people import Directory
from bridge.service_rooms import ServiceRooms
from mailgateway.notices import MailNotices, notify
from mailgateway.rows import MailRows

from .dispatch import CommandContext


async def centre_settings(cfg: Config, rows: Rows, centre_id: str) -> CentreSettings:
    """A centre's effective settings: config defaults with the admins' changes on top.

    A plain function too, for the web listener, which runs without a command's services."""
    centre = cfg.centre(centre_id)
    base = centre.settings if centre is not None else CentreSettings()
    return apply_overrides(base, await rows.CentreSettingRow.overrides(centre_id))


class SendNotice(Protocol):
    """As the assistant: a notice; ``fallback`` (room, text, key) stands in if the room fails."""

    async def __call__(
        self,
        room_id: RoomID,
        text: str,
        txn_key: str,
        reply_to: EventID | None = None,
        fallback: Sequence[tuple[RoomID, str, str]] = (),
        only: frozenset[str] | None = None,
    ) -> None: ...


class SendEvent(Protocol):
    """As the assistant: any event; None while a command runs (queued until it is done)."""

    async def __call__(
        self,
        room_id: RoomID,
        event_type: EventType,
        content: Any,
        txn_key: str,
        hook: str = "",
        hook_arg: dict[str, str] | None = None,
    ) -> EventID | None: ...


SendContent = Callable[[RoomID, MessageEventContent, str], Awaitable[None]]
RunStep = Callable[[str, dict[str, str]], Awaitable[None]]
DownloadMedia = Callable[[ContentURI], Awaitable[bytes]]
UploadMedia = Callable[[bytes, str, str], Awaitable[ContentURI]]

log = logging.getLogger("lotse.services")


@dataclass
class BotServices:
    # This app's tables (row classes bound to its database and contact key): every handler
    # reads and writes here, never through a bare row class (it has no database).
    rows: Rows
    # The mail gateway's tables on the same database (also when mail is off: settings and
    # addresses are kept).
    mail_rows: MailRows
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
    # As the assistant: put (already encrypted) bytes into the media repository: data, mime
    # type, file name.
    upload_media: UploadMedia | None = None
    # Each centre's Space, admin control room and staff room (membership follows roles).
    centre_rooms: CentreRooms | None = None
    # Service rooms: a person created by a command is invited to theirs at once.
    service_rooms: ServiceRooms | None = None
    # As the assistant: send an event of any type (a poll), encrypted where the room is.
    send_event: SendEvent | None = None
    # As the assistant: run a named step once the running command is committed (now if none).
    run_step: RunStep | None = None
    # The assistant's master-key fingerprint, shown in `help` so people can compare it.
    identity: str = ""
    # The mail gateway's notices; None when mail is off (then nothing is mailed).
    mail: MailNotices | None = None

    async def notify(
        self, person: Person, kind: str, /, *, to: str | None = None, **variables: Any
    ) -> str:
        """A notification mail if the rules allow (mailgateway/notices.py): ``queued`` or
        why not, ``mail_disabled`` when mail is off."""
        return await notify(self.mail, person, kind, to=to, **variables)

    async def tell(
        self, person: Person, template: str, /, cause: str = "", **variables: Any
    ) -> bool:
        """A notice in the person's service room, in their language; False if they have none.

        Inside a command it goes out once the command is done, keyed by its event id; other
        callers name the ``cause`` (e.g. ``overdue-12``) so a repeated run sends it once.
        A room that holds somebody else just now (it is being replaced) gets nothing.
        """
        if not person.service_room_id:
            return False
        room, text = self._notice_for(person, template, variables)
        await self.send_notice(room, text, _key("tell", cause, person.user_id))
        return True

    async def tell_admins(
        self, centre_id: str, template: str, /, cause: str = "", **variables: Any
    ) -> int:
        """Tell the centre's admins (metadata only, never content); returns how many were told.

        One notice in the centre's admin control room; before that room exists, or if posting
        fails (also while somebody who is no admin is in it), each admin hears it in their own
        service room. ``cause`` as for ``tell``.
        """
        admins = [
            p
            for p in await self.rows.Person.all_in_centre(centre_id, roles=("admin",))
            if p.deleted_at is None
        ]
        own = [
            (*self._notice_for(p, template, variables), _key("tell", cause, p.user_id))
            for p in admins
            if p.service_room_id
        ]
        room = await self.rows.CentreRoom.get(centre_id, "admin")
        centre = self.directory.cfg.centre(centre_id)
        if room is not None and centre is not None:
            text = self.renderer.render(centre.language, template, **variables)
            await self.send_notice(RoomID(room), text, _key("admins", cause), fallback=own)
            return len(admins)
        for room_id, text, key in own:
            await self.send_notice(room_id, text, key)
        return len(own)

    def _notice_for(
        self, person: Person, template: str, variables: dict[str, Any]
    ) -> tuple[RoomID, str]:
        text = self.renderer.render(self.directory.language_of(person), template, **variables)
        return RoomID(str(person.service_room_id)), text

    async def settings(self, centre_id: str) -> CentreSettings:
        """The centre's effective settings: config defaults with the admins' changes on top."""
        return await centre_settings(self.directory.cfg, self.rows, centre_id)

    async def audit(
        self, centre_id: str, actor_id: str, action: str, target: str = "", detail: str = ""
    ) -> None:
        """Record an admin action: who, what, to whom. ``detail`` is a short fact, never content."""
        await self.rows.AuditEntry.record(centre_id, actor_id, action, target, detail)


@dataclass
class PageParts:
    """What the bots' web pages use (invitation, registration, password reset).

    The pages are routed before the web listener starts, the assistant only after it: the
    composition root fills in ``services`` once the assistant runs. Until then a page
    answers without what it would do through them (a notice, an account call).
    """

    cfg: Config
    # The app's tables: the pages read and write them before the assistant runs too.
    rows: Rows
    mail_rows: MailRows
    services: BotServices | None = None


def _key(kind: str, cause: str, *parts: str) -> str:
    """A transaction key from what caused the message: the running command's event, else
    ``cause``; random only when a caller names neither (then a repeat may post twice)."""
    scope = once.current()
    if scope is not None:
        return scope.key(kind)
    if cause:
        return "-".join((kind, cause, *parts))
    log.warning("a %s notice without a cause; its transaction id is random", kind)
    return f"{kind}-{secrets.token_hex(8)}"


def services_of(ctx: CommandContext) -> BotServices:
    """The services the assistant put into the command context."""
    services = ctx.extra["services"]
    assert isinstance(services, BotServices)
    return services


def rows_of(ctx: CommandContext) -> Rows:
    """The tables of the app the command runs in (``services_of(ctx).rows``)."""
    return services_of(ctx).rows
