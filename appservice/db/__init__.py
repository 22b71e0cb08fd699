"""Lotse's database: its own tables plus mautrix's crypto and state stores, on one pool.

One URL (``sqlite:`` or ``postgres://``) serves all three; each keeps its own version
table, so mautrix upgrades and ours never step on each other.
"""

from __future__ import annotations

import logging
from typing import Any

from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.crypto import PgCryptoStore
from mautrix.util.async_db import Scheme

from appservice.contact_data import ContactData

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
from .upgrade import upgrade_table, upgrade_table_for

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
    "Rows",
    "bind",
    "rows_changed",
    "Transfer",
    "TopicChat",
    "TriageDialogue",
    "upgrade_table",
]

log = logging.getLogger("lotse.db")


class LotseDatabase:
    """Opens the pool, runs every upgrade table; ``rows`` are the row classes bound to it.

    ``contact`` holds the keys contact data is sealed with (the app's ``encryption``
    settings): the upgrade that seals old rows and every row class use it."""

    def __init__(
        self,
        url: str,
        contact: ContactData,
        db_args: dict[str, Any] | None = None,
        max_connections: int = 40,
    ) -> None:
        self.url = url
        self.contact = contact
        self.main = open_database(
            url,
            upgrade_table_for(contact),
            log,
            db_args=db_args,
            owner_name="lotse",
            max_connections=max_connections,
        )
        self.crypto_db = open_database(url, PgCryptoStore.upgrade_table, log.getChild("crypto"))
        self.state_db = open_database(url, PgASStateStore.upgrade_table, log.getChild("state"))
        # The row classes bound to this database and key: parts get their tables from here.
        self.rows = Rows(self.main, contact)

    async def start(self) -> None:
        """Open and upgrade; on failure (e.g. a database newer than the code) close again."""
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

    async def stop(self) -> None:
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
