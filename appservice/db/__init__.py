"""Lotse's database: its own tables plus mautrix's crypto and state stores, on one pool.

One URL (``sqlite:`` or ``postgres://``) serves all three; each keeps its own version
table, so mautrix upgrades and ours never step on each other.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.crypto import PgCryptoStore
from mautrix.util.async_db import Database, Scheme

from .absence import Absence, AbsenceNotice
from .account_code import AccountCode
from .booking import (
    Appointment,
    BookingBlocker,
    BookingJob,
    BookingOffer,
    BookingService,
    BookingWindowRow,
    CalendarFeed,
    CounsellorVideoLink,
    GroupAppointmentRow,
)
from .bound import Rows, bind
from .centre import AuditEntry, CentreSettingRow
from .centre_room import CentreMessage, CentreRoom
from .client_data import Bookmark, MasterDataValue
from .client_groups import ClientGroup
from .client_records import ClientDocument, ClientNote
from .erasure import ErasedPerson
from .inactivity import InactivityNotice
from .inbox import Inbox, InboxEvent
from .invitation import Invitation
from .live_chat import LiveChat, LiveChatCount, LiveChatStaff
from .monitoring import Monitoring, MonitoringDialogue
from .outcome import CommandOutcome
from .pending_document import PendingDocument
from .person import Person
from .personal_data import PersonalData
from .pool import open_database
from .registration import Registration
from .request import CounsellingRequest
from .room_avatar import RoomAvatar
from .rows import rows_changed
from .topic_chat import TopicChat
from .transfer import Transfer
from .triage import TriageDialogue
from .upgrade import upgrade_table

__all__ = [
    "Absence",
    "AbsenceNotice",
    "AccountCode",
    "Appointment",
    "BookingBlocker",
    "BookingJob",
    "BookingOffer",
    "BookingService",
    "BookingWindowRow",
    "CalendarFeed",
    "CounsellorVideoLink",
    "GroupAppointmentRow",
    "AuditEntry",
    "Bookmark",
    "CentreMessage",
    "CentreRoom",
    "CentreSettingRow",
    "ClientDocument",
    "ClientGroup",
    "ClientNote",
    "CommandOutcome",
    "CounsellingRequest",
    "ErasedPerson",
    "InactivityNotice",
    "LotseDatabase",
    "Inbox",
    "InboxEvent",
    "LiveChat",
    "LiveChatCount",
    "LiveChatStaff",
    "Invitation",
    "MasterDataValue",
    "Monitoring",
    "MonitoringDialogue",
    "PendingDocument",
    "PersonalData",
    "Person",
    "Registration",
    "RoomAvatar",
    "register_rows",
    "Rows",
    "bind",
    "rows_changed",
    "Transfer",
    "TopicChat",
    "TriageDialogue",
    "upgrade_table",
]

log = logging.getLogger("lotse.db")

R = TypeVar("R")
_row_classes: list[Any] = [
    Person,
    Inbox,
    CounsellingRequest,
    Absence,
    CentreSettingRow,
    AuditEntry,
    ClientNote,
    ClientDocument,
    ClientGroup,
    Invitation,
    Registration,
    MasterDataValue,
    Bookmark,
    ErasedPerson,
    TriageDialogue,
    Transfer,
    AbsenceNotice,
    CentreRoom,
    CentreMessage,
    PendingDocument,
    CommandOutcome,
    RoomAvatar,
    AccountCode,
    PersonalData,
    InactivityNotice,
    Monitoring,
    MonitoringDialogue,
    BookingService,
    BookingWindowRow,
    Appointment,
    CalendarFeed,
    BookingJob,
    BookingOffer,
    GroupAppointmentRow,
    BookingBlocker,
    CounsellorVideoLink,
]
# Started databases, newest last: row classes use the newest; stopping one hands them back
# to the one before (tests open extra databases beside the running app).
_open: list[Database] = []


def register_rows(cls: R) -> R:
    """Bind a row class (ClassVar ``db``) to the running database, now or at start.

    Other packages (the mail gateway) keep their SQL in their own row classes and register
    them here, so this package never imports them (DESIGN.md: imports run one way).
    """
    _row_classes.append(cls)
    if _open:
        cls.db = _open[-1]  # type: ignore[attr-defined]
    return cls


def _bind_rows() -> None:
    for cls in _row_classes:
        if _open:
            cls.db = _open[-1]


class LotseDatabase:
    """Opens the pool, runs every upgrade table and binds the row classes to it."""

    def __init__(
        self, url: str, db_args: dict[str, Any] | None = None, max_connections: int = 40
    ) -> None:
        self.url = url
        self.main = open_database(
            url,
            upgrade_table,
            log,
            db_args=db_args,
            owner_name="lotse",
            max_connections=max_connections,
        )
        self.crypto_db = open_database(url, PgCryptoStore.upgrade_table, log.getChild("crypto"))
        self.state_db = open_database(url, PgASStateStore.upgrade_table, log.getChild("state"))
        # The row classes bound to this database: pass these on, never a class's global ``db``.
        self.rows = Rows(self.main)

    async def start(self) -> None:
        """Open and upgrade; on failure (e.g. a database newer than the code) close again.

        The row classes are bound to this database: one LotseDatabase per process.
        """
        try:
            await self.main.start()
            # asyncpg copies the pool at this call, so it must follow the main start.
            self.crypto_db.override_pool(self.main)
            self.state_db.override_pool(self.main)
            await self.crypto_db.start()
            await self.state_db.start()
            if self.main.scheme == Scheme.SQLITE:
                # Older page versions (e.g. contact data before the v22 upgrade sealed it)
                # leave the write-ahead log.
                await self.main.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException:
            await self.main.stop()
            raise
        _open.append(self.main)
        _bind_rows()

    async def stop(self) -> None:
        if self.main in _open:
            _open.remove(self.main)
            _bind_rows()
        await self.main.stop()

    async def get_state(self, key: str) -> str | None:
        return await self.main.fetchval("SELECT value FROM bot_state WHERE key=$1", key)

    async def set_state(self, key: str, value: str) -> None:
        await self.main.execute(
            "INSERT INTO bot_state (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            key,
            value,
        )
