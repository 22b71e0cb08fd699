"""Versioned schema of Lotse's own tables; mautrix's crypto and state stores keep theirs."""

from __future__ import annotations

from mautrix.util.async_db import Scheme, UpgradeTable

upgrade_table = UpgradeTable(version_table_name="lotse_version", database_name="Lotse")


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
from .v28_live_chat import upgrade_v28  # noqa: E402,F401
from .v29_topic_chats import upgrade_v29  # noqa: E402,F401
