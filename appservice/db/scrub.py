"""What erasing a person does to every table of Lotse's database (DESIGN.md privacy point 5).

Afterwards no row holds the person's Matrix id, pseudonym, address or phone, except the
tombstone (``erased_person``: Matrix id, centre, role, times). Three kinds of rows:

* **their own rows** (account, requests, triage, transfers and messages addressed to them,
  registrations, invitations, mail settings, bookmarks, master data, absences …) are deleted;
* **rows of others that name them** as who did something (a note's author, a group's
  creator, the sender of a centre message, who invited someone or changed a setting, the
  audit log's actor, target and detail) stay, but name the tombstone by the opaque reference
  ``erased:N``; the audit shows it as "erased counsellor #N". Only the tombstone maps N back
  to the Matrix id, for the centre's legal duties;
* **mautrix's stores** forget them: their member rows (with the display name) in every room,
  the state of the purged service room and of any room whose stored state names them, their
  devices, cross-signing keys, and the olm and megolm sessions with those devices.

Addresses: every address the person had (current, confirmed, waiting for confirmation,
invited at, registered with) goes with its bounce record, its mails (queued or sent) and
pending registrations — unless another person still uses it, whose data it is as well.
A registration under their pseudonym that was never confirmed goes too.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

REFERENCE_PREFIX = "erased:"

# $1 = the person's Matrix id. Order matters only where a row is read before it is deleted.
OWN_ROWS = (
    "DELETE FROM client_master_data WHERE user_id=$1",
    "DELETE FROM bookmark WHERE counsellor_id=$1 OR client_id=$1",
    "DELETE FROM counselling_request WHERE client_id=$1",
    "DELETE FROM absence WHERE user_id=$1",
    "DELETE FROM pending_document WHERE uploader_id=$1 OR client_id=$1",
    "DELETE FROM client_document WHERE uploader_id=$1 OR client_id=$1",
    "DELETE FROM client_note WHERE client_id=$1",
    "DELETE FROM client_group_member WHERE client_id=$1",
    "DELETE FROM triage_dialogue WHERE client_id=$1",
    "DELETE FROM transfer WHERE client_id=$1",
    "DELETE FROM centre_message WHERE client_id=$1",
    "DELETE FROM invitation WHERE user_id=$1",
    "DELETE FROM registration WHERE user_id=$1",
    "DELETE FROM mail_preference WHERE user_id=$1",
    "DELETE FROM mail_confirmation WHERE user_id=$1",
    "DELETE FROM room_notice WHERE user_id=$1",
    # The admins' choice of fallback: the config's default applies again.
    "DELETE FROM centre_setting WHERE value=$1",
    # A client whose home counsellor is gone gets a new one with their next request.
    "UPDATE person SET home_counsellor_id=NULL WHERE home_counsellor_id=$1",
    # Open requests should have been handed back already (bots/accounts/departure.py); if one was
    # not, it waits in the pool instead of staying assigned to nobody.
    "UPDATE counselling_request SET status='new', counsellor_id=NULL, assigned_at=NULL "
    "WHERE counsellor_id=$1 AND status IN ('assigned', 'answered')",
    "UPDATE transfer SET status='withdrawn' WHERE status='proposed' AND (from_id=$1 OR to_id=$1)",
    "DELETE FROM person WHERE user_id=$1",
)

# Like OWN_ROWS, for tables added after v16 (which runs this scrub before they exist).
LATER_ROWS = (
    ("account_code", "DELETE FROM account_code WHERE user_id=$1"),
    ("inactivity_notice", "DELETE FROM inactivity_notice WHERE user_id=$1"),
    ("booking_blocker", "DELETE FROM booking_blocker WHERE counsellor=$1"),
    ("booking_poll", "DELETE FROM booking_poll WHERE client=$1"),
    ("topic_chat_participant", "DELETE FROM topic_chat_participant WHERE user_id=$1"),
    ("counsellor_video_link", "DELETE FROM counsellor_video_link WHERE counsellor=$1"),
    (
        "monitoring_dialogue",
        "DELETE FROM monitoring_dialogue WHERE counsellor_id=$1 OR client_id=$1",
    ),
    ("live_chat", "DELETE FROM live_chat WHERE user_id=$1"),
    ("live_chat_staff", "DELETE FROM live_chat_staff WHERE counsellor_id=$1"),
)

# Monitorings (v24) stay: they are the centre's statistics (the values are sealed). The
# client and the counsellor they name become the tombstone ($2), like other references.
MONITORING_REFERENCES = (
    "UPDATE monitoring SET client_id=$2 WHERE client_id=$1",
    "UPDATE monitoring SET counsellor_id=$2 WHERE counsellor_id=$1",
)

# $1 = the Matrix id, $2 = the tombstone's reference.
REFERENCES = (
    "UPDATE counselling_request SET counsellor_id=$2 WHERE counsellor_id=$1",
    "UPDATE client_note SET author_id=$2 WHERE author_id=$1",
    "UPDATE client_group SET creator_id=$2 WHERE creator_id=$1",
    "UPDATE centre_message SET sender_id=$2 WHERE sender_id=$1",
    "UPDATE invitation SET created_by=$2 WHERE created_by=$1",
    "UPDATE transfer SET from_id=$2 WHERE from_id=$1",
    "UPDATE transfer SET to_id=$2 WHERE to_id=$1",
    "UPDATE transfer SET proposed_by=$2 WHERE proposed_by=$1",
    "UPDATE centre_setting SET changed_by=$2 WHERE changed_by=$1",
    "UPDATE audit_log SET actor_id=$2 WHERE actor_id=$1",
    "UPDATE audit_log SET target=$2 WHERE target=$1",
)

# Booking (v25; the v16 upgrade runs this module before those tables exist): $1 = the
# Matrix id; a client's appointments go, a counsellor's stay with the reference ($2).
BOOKING_ROWS = (
    "DELETE FROM booking_job WHERE subject='appointment' AND subject_id IN "
    "(SELECT id FROM appointment WHERE client=$1)",
    "DELETE FROM appointment WHERE client=$1",
    "DELETE FROM booking_offer WHERE client=$1",
    "UPDATE group_appointment SET places_taken=places_taken - 1 WHERE id IN "
    "(SELECT group_appointment_id FROM group_participant WHERE client=$1)",
    "DELETE FROM group_participant WHERE client=$1",
    "DELETE FROM booking_window WHERE counsellor=$1",
    "DELETE FROM booking_lock WHERE counsellor=$1",
    "DELETE FROM calendar_feed WHERE counsellor=$1",
    "UPDATE appointment SET counsellor=$2 WHERE counsellor=$1",
    "UPDATE group_appointment SET counsellor=$2 WHERE counsellor=$1",
    "UPDATE booking_service SET created_by=$2 WHERE created_by=$1",
)

# mautrix's state store (mx_*) and crypto store (crypto_*), $1 = the Matrix id.
STORE_ROWS = (
    "DELETE FROM mx_user_profile WHERE user_id=$1",
    "DELETE FROM crypto_tracked_user WHERE user_id=$1",
    "DELETE FROM crypto_device WHERE user_id=$1",
    "DELETE FROM crypto_cross_signing_keys WHERE user_id=$1",
    "DELETE FROM crypto_cross_signing_signatures WHERE signed_user_id=$1 OR signer_user_id=$1",
)
# $1 = the curve25519 identity key of one of their devices.
DEVICE_SESSIONS = (
    "DELETE FROM crypto_olm_session WHERE sender_key=$1",
    "DELETE FROM crypto_megolm_inbound_session WHERE sender_key=$1",
    "DELETE FROM crypto_message_index WHERE sender_key=$1",
)
# $1 = their (purged) service room.
ROOM_ROWS = (
    "DELETE FROM mx_room_state WHERE room_id=$1",
    "DELETE FROM mx_user_profile WHERE room_id=$1",
    "DELETE FROM crypto_megolm_inbound_session WHERE room_id=$1",
    "DELETE FROM crypto_megolm_outbound_session WHERE room_id=$1",
)


def reference(number: int) -> str:
    """How rows that stay name the erased person with tombstone number ``number``."""
    return f"{REFERENCE_PREFIX}{number}"


def reference_number(text: str) -> int | None:
    """The tombstone number of an ``erased:N`` reference; None for anything else."""
    number = text.removeprefix(REFERENCE_PREFIX)
    if number == text or not number.isdigit():
        return None
    return int(number)


def _contains(scheme: Scheme, column: str) -> str:
    """SQL: ``column`` contains the text $1 (no LIKE, so ``_`` in a Matrix id is no wildcard)."""
    if scheme == Scheme.SQLITE:
        return f"instr({column}, $1) > 0"
    return f"strpos({column}, $1) > 0"


async def _has_table(conn: Connection, scheme: Scheme, name: str) -> bool:
    if scheme == Scheme.SQLITE:
        q = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=$1"
    else:
        q = "SELECT 1 FROM information_schema.tables WHERE table_name=$1"
    return bool(await conn.fetchval(q, name))


async def _has_column(conn: Connection, scheme: Scheme, table: str, column: str) -> bool:
    if scheme == Scheme.SQLITE:
        q = "SELECT 1 FROM pragma_table_info($1) WHERE name=$2"
    else:
        q = "SELECT 1 FROM information_schema.columns WHERE table_name=$1 AND column_name=$2"
    return bool(await conn.fetchval(q, table, column))


# From v22 on, addresses are sealed and rows are found by their keyed hash (contact_data.py);
# the v16 upgrade runs this scrub on the older schema, which held them in the clear.
_HASHED_ADDRESSES = (
    "SELECT email_hash AS a FROM person WHERE user_id=$1 "
    "UNION SELECT confirmed_hash FROM mail_preference WHERE user_id=$1 "
    "UNION SELECT address_hash FROM mail_confirmation WHERE user_id=$1 "
    "UNION SELECT sent_to_hash FROM invitation WHERE user_id=$1 "
    "UNION SELECT email_hash FROM registration WHERE user_id=$1"
)
_HASHED_USED_BY_OTHERS = (
    "SELECT 1 FROM person WHERE user_id<>$2 AND email_hash=$1 "
    "UNION ALL SELECT 1 FROM mail_preference WHERE user_id<>$2 AND confirmed_hash=$1 "
    "UNION ALL SELECT 1 FROM mail_confirmation WHERE user_id<>$2 AND address_hash=$1"
)
_HASHED_ADDRESS_ROWS = (
    "DELETE FROM mail_address WHERE address=$1",
    "DELETE FROM mail_outbox WHERE recipient_hash=$1",
    "DELETE FROM registration WHERE email_hash=$1",
)
_PLAIN_ADDRESS_ROWS = (
    "DELETE FROM mail_address WHERE address=$1",
    "DELETE FROM mail_outbox WHERE lower(trim(recipient))=$1",
    "DELETE FROM registration WHERE lower(trim(email))=$1",
)


async def _hashed(conn: Connection, scheme: Scheme) -> bool:
    return await _has_column(conn, scheme, "person", "email_hash")


async def addresses_of(conn: Connection, scheme: Scheme, user_id: str) -> set[str]:
    """Every address the person had, as ``mail_address`` keys them (the keyed hash; before
    v22 the address trimmed and lower-cased)."""
    if await _hashed(conn, scheme):
        return {row["a"] for row in await conn.fetch(_HASHED_ADDRESSES, user_id) if row["a"]}
    rows = await conn.fetch(
        "SELECT email AS a FROM person WHERE user_id=$1 "
        "UNION SELECT confirmed_address FROM mail_preference WHERE user_id=$1 "
        "UNION SELECT address FROM mail_confirmation WHERE user_id=$1 "
        "UNION SELECT sent_to FROM invitation WHERE user_id=$1 "
        "UNION SELECT email FROM registration WHERE user_id=$1",
        user_id,
    )
    return {row["a"].strip().lower() for row in rows if row["a"] and row["a"].strip()}


async def _used_by_others(conn: Connection, hashed: bool, address: str, user_id: str) -> bool:
    if hashed:
        return bool(await conn.fetchval(_HASHED_USED_BY_OTHERS, address, user_id))
    used = await conn.fetchval(
        "SELECT 1 FROM person WHERE user_id<>$2 AND lower(trim(email))=$1 "
        "UNION ALL SELECT 1 FROM mail_preference WHERE user_id<>$2 AND confirmed_address=$1 "
        "UNION ALL SELECT 1 FROM mail_confirmation WHERE user_id<>$2 AND address=$1",
        address,
        user_id,
    )
    return bool(used)


async def scrub(conn: Connection, scheme: Scheme, user_id: str, ref: str) -> None:
    """Remove ``user_id`` from every table but the tombstone; run inside one transaction."""
    stores = await _has_table(conn, scheme, "mx_user_profile")
    me = await conn.fetchrow(
        "SELECT service_room_id, centre_id, display_name FROM person WHERE user_id=$1", user_id
    )
    room = me["service_room_id"] if me is not None else None
    if me is not None and me["display_name"]:
        # A registration under their pseudonym never confirmed (another address, say).
        await conn.execute(
            "DELETE FROM registration WHERE user_id IS NULL AND centre_id=$1 "
            "AND lower(pseudonym)=lower($2)",
            me["centre_id"],
            me["display_name"],
        )
    hashed = await _hashed(conn, scheme)
    addresses = await addresses_of(conn, scheme, user_id)
    keys: list[str] = []
    if stores:
        rows = await conn.fetch("SELECT identity_key FROM crypto_device WHERE user_id=$1", user_id)
        keys = [row["identity_key"] for row in rows]
    for statement in OWN_ROWS:
        await conn.execute(statement, user_id)
    # Tables newer than v16, whose upgrade scrubs older erasures with this very function.
    for table, statement in LATER_ROWS:
        if await _has_table(conn, scheme, table):
            await conn.execute(statement, user_id)
    for statement in REFERENCES:
        await conn.execute(statement, user_id, ref)
    if await _has_table(conn, scheme, "appointment"):
        for statement in BOOKING_ROWS:
            await conn.execute(statement, *((user_id, ref) if "$2" in statement else (user_id,)))
    if await _has_table(conn, scheme, "monitoring"):
        for statement in MONITORING_REFERENCES:
            await conn.execute(statement, user_id, ref)
    if await _has_table(conn, scheme, "topic_chat"):
        # A counsellor's topic chats stay (their counts are statistics) and name the tombstone.
        await conn.execute("UPDATE topic_chat SET counsellor=$2 WHERE counsellor=$1", user_id, ref)
    await conn.execute(
        f"UPDATE audit_log SET detail=replace(detail, $1, $2) WHERE {_contains(scheme, 'detail')}",
        user_id,
        ref,
    )
    # An event not yet handled may carry their id (a handled one keeps no payload).
    await conn.execute(f"DELETE FROM event_inbox WHERE {_contains(scheme, 'payload')}", user_id)
    for address in sorted(addresses):
        if await _used_by_others(conn, hashed, address, user_id):
            continue
        for statement in _HASHED_ADDRESS_ROWS if hashed else _PLAIN_ADDRESS_ROWS:
            await conn.execute(statement, address)
    if room:
        await conn.execute("DELETE FROM event_inbox WHERE room_id=$1", room)
    if not stores:
        return
    for key in keys:
        for statement in DEVICE_SESSIONS:
            await conn.execute(statement, key)
    if room:
        for statement in ROOM_ROWS:
            await conn.execute(statement, room)
    for statement in STORE_ROWS:
        await conn.execute(statement, user_id)
    # Stored state of other rooms that names them (a creator, a power level): mautrix reads
    # it again from Synapse when it needs it.
    await conn.execute(
        "DELETE FROM mx_room_state WHERE "
        f"{_contains(scheme, 'power_levels')} OR {_contains(scheme, 'create_event')}",
        user_id,
    )
