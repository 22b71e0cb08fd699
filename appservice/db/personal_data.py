"""Everything Lotse's tables hold about one person, for their data export (GDPR Art. 15/20).

Two lists, both table-driven so that a table added later has to be placed in one of them (the
export test finds every table that names the person and checks it is here):

* ``SECTIONS``: what goes into the export, one SELECT per table ($1 = the Matrix id);
* ``EXCLUDED``: what deliberately stays out, with the reason the export states.

Only reads; bots/accounts/data_export.py turns the rows into the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database, Scheme

from appservice import contact_data as cd
from appservice.contact_data import ContactData

from .scrub import addresses_of


@dataclass(frozen=True)
class Section:
    table: str
    query: str


SECTIONS = (
    Section(
        "person",
        "SELECT user_id, centre_id, role, language, display_name, email, phone, status, "
        "capacity, home_counsellor_id, description, languages, topics, team_page, "
        "crisis_contact, created_at, invited_at, activated_at, locked_at, deleted_at, "
        "last_seen_at "
        "FROM person WHERE user_id=$1",
    ),
    Section("client_master_data", "SELECT key, value FROM client_master_data WHERE user_id=$1"),
    Section(
        "counselling_request",
        "SELECT id, status, counsellor_id, topic, language, channel, created_at, assigned_at, "
        "answered_at, overdue_at FROM counselling_request WHERE client_id=$1 ORDER BY id",
    ),
    Section(
        "triage_dialogue",
        "SELECT step, topic, language, channel, started_at FROM triage_dialogue WHERE client_id=$1",
    ),
    Section(
        "transfer",
        "SELECT id, from_id, to_id, proposed_by, status, created_at, decided_at FROM transfer "
        "WHERE client_id=$1 ORDER BY id",
    ),
    Section(
        "centre_message",
        "SELECT id, sender_id, subject, sent_at FROM centre_message WHERE client_id=$1 ORDER BY id",
    ),
    Section(
        "client_group_member",
        "SELECT g.name AS group_name, m.added_at FROM client_group_member m "
        "JOIN client_group g ON g.id=m.group_id WHERE m.client_id=$1 ORDER BY m.added_at",
    ),
    Section(
        "client_group",
        "SELECT name, description, created_at FROM client_group WHERE creator_id=$1",
    ),
    Section(
        "absence",
        "SELECT starts_at, ends_at, label, created_at FROM absence WHERE user_id=$1 "
        "ORDER BY starts_at",
    ),
    Section("bookmark", "SELECT client_id, created_at FROM bookmark WHERE counsellor_id=$1"),
    Section(
        "invitation",
        "SELECT purpose, created_by, created_at, expires_at, sent_to, used_at, revoked_at, "
        "token_hash "
        "FROM invitation WHERE user_id=$1 ORDER BY created_at",
    ),
    Section(
        "registration",
        "SELECT pseudonym, email, created_at, expires_at, confirmed_at, token_hash "
        "FROM registration "
        "WHERE user_id=$1",
    ),
    Section(
        "mail_preference",
        "SELECT confirmed_address, confirmed_at, notifications, delay_minutes "
        "FROM mail_preference WHERE user_id=$1",
    ),
    Section(
        "mail_confirmation",
        "SELECT address, created_at, expires_at, used_at, token_hash FROM mail_confirmation "
        "WHERE user_id=$1 ORDER BY created_at",
    ),
    Section(
        "room_notice",
        "SELECT room_id, pending_since, last_event_ts, read_at, mailed_at FROM room_notice "
        "WHERE user_id=$1",
    ),
    Section(
        "inactivity_notice",
        "SELECT last_active, notified_at FROM inactivity_notice WHERE user_id=$1",
    ),
    Section(
        "centre_setting",
        "SELECT key, value, changed_at FROM centre_setting WHERE changed_by=$1 OR value=$1",
    ),
    # Booking (v25–v27): a client's appointments and group places; a counsellor's own
    # booking times, blockers, video link and that a calendar feed exists (not its secret).
    Section(
        "appointment",
        "SELECT id, counsellor, title, channel, starts_at, ends_at, state, video_url, "
        "created_at FROM appointment WHERE client=$1 ORDER BY starts_at",
    ),
    Section(
        "group_participant",
        "SELECT g.title AS group_title, g.starts_at, g.ends_at, p.joined_at "
        "FROM group_participant p JOIN group_appointment g ON g.id=p.group_appointment_id "
        "WHERE p.client=$1 ORDER BY g.starts_at",
    ),
    Section(
        "booking_window",
        "SELECT weekday, starts_min, ends_min, service_id, horizon_weeks, created_at "
        "FROM booking_window WHERE counsellor=$1 ORDER BY weekday, starts_min",
    ),
    Section(
        "booking_blocker",
        "SELECT starts_at, ends_at, label, created_at FROM booking_blocker WHERE counsellor=$1 "
        "ORDER BY starts_at",
    ),
    Section("calendar_feed", "SELECT created_at FROM calendar_feed WHERE counsellor=$1"),
    Section(
        "counsellor_video_link", "SELECT url, set_at FROM counsellor_video_link WHERE counsellor=$1"
    ),
    # Live chat (v29) and topic chats (v30): when, never what was said.
    Section(
        "live_chat",
        "SELECT centre_id, started_at, ended_at, blocked FROM live_chat WHERE user_id=$1",
    ),
    Section(
        "live_chat_staff", "SELECT centre_id, since FROM live_chat_staff WHERE counsellor_id=$1"
    ),
    Section(
        "topic_chat",
        "SELECT id, title, description, starts_at, ends_at, participants, created_at, "
        "cancelled_at, closed_at FROM topic_chat WHERE counsellor=$1 ORDER BY starts_at",
    ),
    Section(
        "topic_chat_participant",
        "SELECT c.title, c.starts_at, c.ends_at, p.joined_at FROM topic_chat_participant p "
        "JOIN topic_chat c ON c.id=p.chat_id WHERE p.user_id=$1 ORDER BY p.joined_at",
    ),
)

# Per address the person had ($1 = its keyed hash, see appservice/contact_data.py).
ADDRESS_SECTIONS = (
    Section(
        "mail_address",
        "SELECT hard_bounces, status, last_bounce_at, auto_answered_at "
        "FROM mail_address WHERE address=$1",
    ),
    # Which notices went to the address and when; their variables (links) stay out.
    Section(
        "mail_outbox",
        "SELECT recipient, recipient_hash, kind, state, created_at, sent_at FROM mail_outbox "
        "WHERE recipient_hash=$1 ORDER BY created_at",
    ),
)

# Sealed columns: how to open them (row, the person's id) → the value's context.
_SEALED: dict[tuple[str, str], Any] = {
    ("person", "email"): lambda r, u: cd.person_context(u, "email"),
    ("person", "phone"): lambda r, u: cd.person_context(u, "phone"),
    ("client_master_data", "value"): lambda r, u: cd.master_context(u, r["key"]),
    ("mail_preference", "confirmed_address"): lambda r, u: cd.preference_context(u),
    ("invitation", "sent_to"): lambda r, u: cd.token_context("invitation", r["token_hash"]),
    ("registration", "email"): lambda r, u: cd.token_context("registration", r["token_hash"]),
    ("mail_confirmation", "address"): lambda r, u: cd.token_context(
        "mail_confirmation", r["token_hash"]
    ),
    ("mail_outbox", "recipient"): lambda r, u: cd.outbox_context(r["recipient_hash"]),
}
# Read only to open a sealed value; not part of the file.
_HELPERS = ("token_hash", "recipient_hash")


def _opened(contact: ContactData, table: str, row: Any, user_id: str) -> dict[str, Any]:
    values = dict(row)
    for column, value in values.items():
        context = _SEALED.get((table, column))
        if context is not None:
            values[column] = contact.open_value(value, context(values, user_id))
    return {c: v for c, v in values.items() if c not in _HELPERS}


@dataclass(frozen=True)
class Excluded:
    what: str
    tables: tuple[str, ...]
    reason: str
    # Counted for the person (``SELECT COUNT(*)``, $1 = Matrix id), so they know it exists.
    count: str = ""


EXCLUDED = (
    Excluded(
        "chat messages",
        (),
        "Lotse stores no message text; your Matrix client holds your conversations "
        "(end-to-end encrypted) and can export them itself.",
    ),
    Excluded(
        "notes by counsellors",
        ("client_note",),
        "Counsellors' working notes about you; ask your centre for access to them. "
        "They are erased with your account.",
        "SELECT COUNT(*) FROM client_note WHERE client_id=$1",
    ),
    Excluded(
        "documents by counsellors",
        ("client_document", "pending_document"),
        "Files a counsellor attached to your profile, visible only to them; ask your centre. "
        "They are erased with your account.",
        "SELECT COUNT(*) FROM client_document WHERE client_id=$1",
    ),
    Excluded(
        "monitorings by counsellors",
        ("monitoring", "monitoring_dialogue"),
        "The centre's statistical record of a counselling contact (sealed form values); ask "
        "your centre. After your account is erased they stay for statistics without your name.",
        "SELECT COUNT(*) FROM monitoring WHERE client_id=$1",
    ),
    Excluded(
        "booking offers shown",
        ("booking_offer", "booking_poll", "booking_lock"),
        "The numbered times and the poll you were last shown, kept only so that booking a "
        "number means what you saw; the next offer replaces them.",
    ),
    Excluded(
        "bookmarks of counsellors",
        ("bookmark",),
        "A counsellor's personal list of clients they keep in view.",
        "SELECT COUNT(*) FROM bookmark WHERE client_id=$1",
    ),
    Excluded(
        "work on other people's cases",
        (
            "counselling_request",
            "transfer",
            "centre_message",
            "invitation",
            "client_note",
            "monitoring",
            "monitoring_dialogue",
            "appointment",
            "group_appointment",
            "booking_service",
        ),
        "Requests, transfers, messages, invitations, notes, monitorings, appointments and "
        "booking services a staff member handled are the clients' data and the centre's "
        "records, not the staff member's.",
    ),
    Excluded(
        "confirmation codes",
        ("account_code",),
        "A code to confirm a step, valid for minutes and stored only as a keyed hash.",
    ),
    Excluded(
        "processing records",
        ("event_inbox", "command_outcome"),
        "Events and command answers kept only until they are handled (minutes), sealed.",
    ),
    Excluded(
        "Matrix copies",
        ("mx_*", "crypto_*"),
        "Lotse's copy of room membership, display names and device keys from the Matrix "
        "server, needed for encryption; your Matrix account shows them.",
    ),
)


class PersonalData:
    """Reads the rows of ``SECTIONS`` for one person."""

    db: ClassVar[Database]
    contact: ClassVar[ContactData]

    @classmethod
    async def collect(cls, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """Table → rows (column → value) about the person; empty tables are left out."""
        data: dict[str, list[dict[str, Any]]] = {}
        for section in SECTIONS:
            rows = await cls.db.fetch(section.query, user_id)
            if rows:
                data[section.table] = [
                    _opened(cls.contact, section.table, row, user_id) for row in rows
                ]
        conn: Connection
        async with cls.db.acquire() as conn:
            addresses = await addresses_of(conn, cls.db.scheme, user_id)
        for address in sorted(addresses):
            for section in ADDRESS_SECTIONS:
                rows = await cls.db.fetch(section.query, address)
                data.setdefault(section.table, []).extend(
                    _opened(cls.contact, section.table, row, user_id) for row in rows
                )
        audit = await cls.db.fetch(
            "SELECT actor_id, action, target, detail, created_at FROM audit_log "
            f"WHERE actor_id=$1 OR target=$1 OR {_contains(cls.db.scheme)} ORDER BY id",
            user_id,
        )
        if audit:
            data["audit_log"] = [dict(row) for row in audit]
        return {table: rows for table, rows in data.items() if rows}

    @classmethod
    async def counts(cls, user_id: str) -> dict[str, int]:
        """How many rows each counted exclusion holds about the person."""
        return {
            e.what: int(await cls.db.fetchval(e.count, user_id) or 0) for e in EXCLUDED if e.count
        }


def _contains(scheme: Scheme) -> str:
    return "instr(detail, $1) > 0" if scheme == Scheme.SQLITE else "strpos(detail, $1) > 0"
