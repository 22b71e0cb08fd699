"""Versioned schema of Lotse's own tables; mautrix's crypto and state stores keep theirs."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mautrix.util.async_db import Connection, Scheme, UpgradeTable

if TYPE_CHECKING:
    from appservice.contact_data import ContactData

upgrade_table = UpgradeTable(version_table_name="lotse_version", database_name="Lotse")

ContactUpgrade = Callable[[Connection, Scheme, "ContactData | None"], Awaitable[Any]]


def with_contact(fn: ContactUpgrade) -> ContactUpgrade:
    """Marks an upgrade that seals contact data: it runs with its database's key."""
    fn.needs_contact = True  # type: ignore[attr-defined]
    return fn


def upgrade_table_for(contact: ContactData, base: UpgradeTable = upgrade_table) -> UpgradeTable:
    """The upgrades of one database: those that seal contact data seal with ``contact``.

    The key comes from the app that opens the database, never from a module global, so two
    databases in one process each seal with their own."""
    table = UpgradeTable(
        allow_unsupported=base.allow_unsupported,
        version_table_name=base.version_table_name,
        database_name=base.database_name,
        log=base.log,
    )
    table.upgrades = [_bound(fn, contact) for fn in base.upgrades]
    return table


def _bound(fn: Any, contact: ContactData) -> Any:
    if not getattr(fn, "needs_contact", False):
        return fn

    @functools.wraps(fn)  # keeps mautrix's description, transaction and destination marks
    async def run(conn: Connection, scheme: Scheme) -> Any:
        return await fn(conn, scheme, contact)

    return run


def serial_key(scheme: Scheme) -> str:
    """An auto-numbered primary key. SQLite has no BIGSERIAL; AUTOINCREMENT never reuses ids."""
    if scheme == Scheme.SQLITE:
        return "INTEGER PRIMARY KEY AUTOINCREMENT"
    return "BIGSERIAL PRIMARY KEY"


from . import v01_initial  # noqa: E402,F401  (registers the upgrades in order)
from .v02_mail_outbox import upgrade_v2  # noqa: E402,F401
from .v03_mail_addresses import upgrade_v3  # noqa: E402,F401
from .v04_requests import upgrade_v4  # noqa: E402,F401
from .v05_availability import upgrade_v5  # noqa: E402,F401
from .v06_absences import upgrade_v6  # noqa: E402,F401
from .v07_centre_foundation import upgrade_v7  # noqa: E402,F401
from .v08_notes_documents_groups import upgrade_v8  # noqa: E402,F401
from .v09_invitations import upgrade_v9  # noqa: E402,F401
from .v10_clients import upgrade_v10  # noqa: E402,F401
from .v11_triage import upgrade_v11  # noqa: E402,F401
from .v12_mail_notices import upgrade_v12  # noqa: E402,F401
from .v13_centre_rooms import upgrade_v13  # noqa: E402,F401
from .v14_triage_polls import upgrade_v14  # noqa: E402,F401
from .v15_pending_documents import upgrade_v15  # noqa: E402,F401
from .v16_erasure_references import upgrade_v16  # noqa: E402,F401
from .v17_account_links import upgrade_v17  # noqa: E402,F401
from .v18_private_service_rooms import upgrade_v18  # noqa: E402,F401
from .v19_command_outcomes import upgrade_v19  # noqa: E402,F401
from .v20_room_avatars import upgrade_v20  # noqa: E402,F401
from .v21_account_codes import upgrade_v21  # noqa: E402,F401
from .v22_sealed_contact_data import upgrade_v22  # noqa: E402,F401
from .v23_inactivity_notices import upgrade_v23  # noqa: E402,F401
from .v24_monitoring import upgrade_v24  # noqa: E402,F401
from .v25_booking import upgrade_v25  # noqa: E402,F401
from .v26_booking_blockers import upgrade_v26  # noqa: E402,F401
from .v27_counsellor_video_links import upgrade_v27  # noqa: E402,F401
from .v28_person_last_seen import upgrade_v28  # noqa: E402,F401
from .v29_live_chat import upgrade_v29  # noqa: E402,F401
from .v30_topic_chats import upgrade_v30  # noqa: E402,F401
