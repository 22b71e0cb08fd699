"""Erasure in the database, on SQLite and PostgreSQL: afterwards no table but the tombstone
holds the person's Matrix id, pseudonym, address or phone (found by searching every text and
bytes column the catalogue lists); rows of others name them as ``erased:N``; a database from
before this version loses what older erasures left behind.

The flows through Synapse and real clients that fill these rows are in tests/test_erasure.py.
"""

from __future__ import annotations

import time

from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.crypto import PgCryptoStore
from mautrix.types import (
    CrossSigningUsage,
    DeviceID,
    DeviceIdentity,
    IdentityKey,
    Member,
    Membership,
    PowerLevelStateEventContent,
    RoomID,
    SigningKey,
    TrustState,
    UserID,
)
from mautrix.util.async_db import Database, UpgradeTable

from appservice.contact_data import ContactData
from appservice.db import (
    ErasedPerson,
    LotseDatabase,
    upgrade_table,
)
from appservice.state_store import LotseStateStore
from mailgateway.outbox import outbox_sealer
from mailgateway.rows import MailRows
from tests.conftest import TEST_CONTACT_KEY, opened
from tests.leftovers import beyond_tombstone, needles_of, traces

CENTRE = "nord"
CLIENT = "@wolke-3f9a:lotse.test"
PSEUDONYM = "Wolkenmeer Blau"
ADDRESS = "Wolke.Meer@Example.ORG"
NEW_ADDRESS = "neue.wolke@example.org"
PHONE = "0170 4242424"
COUNSELLOR = "@berta-7c1d:lotse.test"
COUNSELLOR_NAME = "Berta Beispielhaft"
SHARED = "team-postfach@example.org"  # the counsellor's address, also a colleague's
COLLEAGUE = "@carl-55aa:lotse.test"
STAYS = "@anna-0b0b:lotse.test"
SERVICE_ROOM = "!dienst-wolke:lotse.test"
COUNSELLING_ROOM = "!beratung:lotse.test"
DAY_MS = 24 * 3600 * 1000


async def _people(rows: MailRows) -> None:
    client = await rows.Person.upsert(CLIENT, CENTRE, "client")
    assert await client.set_display_name(PSEUDONYM)
    await client.set_account(email=ADDRESS, phone=PHONE)
    await client.set_service_room(SERVICE_ROOM)
    counsellor = await rows.Person.upsert(COUNSELLOR, CENTRE, "counsellor")
    await counsellor.set_profile(display_name=COUNSELLOR_NAME)
    await counsellor.set_account(email=SHARED)
    colleague = await rows.Person.upsert(COLLEAGUE, CENTRE, "counsellor")
    await colleague.set_account(email=SHARED.upper())
    stays = await rows.Person.upsert(STAYS, CENTRE, "client")
    await stays.set_home_counsellor(COUNSELLOR)
    await client.set_home_counsellor(COUNSELLOR)


async def _client_rows(rows: MailRows) -> None:
    """What the client did and what was kept about them."""
    registration = await rows.Registration.create("h-reg", CENTRE, PSEUDONYM, ADDRESS, 10**13)
    stored = await rows.Registration.by_hash("h-reg")
    assert stored is not None and registration
    await stored.set_user(CLIENT)
    await rows.Registration.create("h-reg-2", CENTRE, "Anderer Name", ADDRESS.lower(), 10**13)
    await rows.Registration.create("h-reg-3", CENTRE, PSEUDONYM.upper(), "nie@example.org", 10**13)
    await rows.Invitation.create("h-inv", CLIENT, CENTRE, COUNSELLOR, 10**13, ADDRESS)
    await rows.Preferences.mark_confirmed(CLIENT, ADDRESS)
    await rows.Preferences.start_confirmation(CLIENT, NEW_ADDRESS)
    await rows.Preferences.set_delay(CLIENT, 60)
    now = int(time.time() * 1000)
    await rows.RoomNotices.observe(COUNSELLING_ROOM, "$msg", now, [CLIENT], COUNSELLOR)
    # The pseudonym in plain variables (a queued notice) and a sealed invitation link.
    await rows.Outbox.enqueue(ADDRESS, "new_request", "de", {"display_name": PSEUDONYM})
    link = {"display_name": PSEUDONYM, "link": "x"}
    await rows.Outbox.enqueue(ADDRESS, "invitation", "de", link, sealer=outbox_sealer("k"))
    sent = await rows.Outbox.enqueue(ADDRESS.lower(), "centre_message", "de", {"centre_name": "N"})
    await rows.Outbox.mark_sent(sent)
    await rows.MailAddress.record_hard_bounce(ADDRESS)
    await rows.MasterDataValue.apply(CLIENT, {"postcode": "20095"})
    await rows.AccountCode.issue(b"k", CLIENT, "delete-account", "ABC234", 10**13)
    await rows.InactivityNotice.record(CLIENT, 1, 2)
    await rows.TriageDialogue.start(CLIENT, CENTRE, "channel")
    request = await rows.CounsellingRequest.create(CENTRE, CLIENT)
    assert request is not None
    await rows.CounsellingRequest.claim(request.id, CENTRE, COUNSELLOR)
    await rows.Transfer.propose(CENTRE, CLIENT, COUNSELLOR, COLLEAGUE, COUNSELLOR)
    await rows.CentreMessage.record(CENTRE, CLIENT, COLLEAGUE, f"Termin für {PSEUDONYM}")
    await rows.ClientNote.add(CENTRE, CLIENT, COLLEAGUE, "sealed")
    await rows.ClientDocument.add(CENTRE, CLIENT, COLLEAGUE, "pdf", 10, "sealed")
    await rows.PendingDocument.announce(COLLEAGUE, CENTRE, CLIENT, 10**13)
    await rows.Bookmark.toggle(COLLEAGUE, CLIENT)
    group = await rows.ClientGroup.create(CENTRE, "Gruppe Mittwoch", "", COUNSELLOR)
    assert group is not None
    await group.add_member(CLIENT)
    await rows.AuditEntry.record(CENTRE, "@admin-nord:lotse.test", "client_set", CLIENT, "phone")
    await rows.Inbox.add_many(
        [{"event_id": "$pending", "room_id": COUNSELLING_ROOM, "sender": CLIENT, "type": "x"}]
    )


async def _counsellor_rows(rows: MailRows) -> None:
    """What the counsellor did: some of it stays (notes, groups, the audit), naming them."""
    await rows.Absence.add(COUNSELLOR, 0, 10**13, "Urlaub")
    done = await rows.CounsellingRequest.create(CENTRE, STAYS)
    assert done is not None
    await rows.CounsellingRequest.claim(done.id, CENTRE, COUNSELLOR)
    await rows.CounsellingRequest.close(done.id, CENTRE, COUNSELLOR, False)
    await rows.Transfer.propose(CENTRE, STAYS, COUNSELLOR, COLLEAGUE, COUNSELLOR)
    await rows.ClientNote.add(CENTRE, STAYS, COUNSELLOR, "sealed")
    await rows.ClientDocument.add(CENTRE, STAYS, COUNSELLOR, "pdf", 10, "sealed")
    await rows.CentreMessage.record(CENTRE, STAYS, COUNSELLOR, "Termin")
    await rows.Bookmark.toggle(COUNSELLOR, STAYS)
    await rows.Invitation.create("h-inv-anna", STAYS, CENTRE, COUNSELLOR, 10**13)
    await rows.CentreSettingRow.set(CENTRE, "fallback_counsellor", COUNSELLOR, COUNSELLOR)
    await rows.CentreSettingRow.set(CENTRE, "overdue_hours", "48", COUNSELLOR)
    await rows.AuditEntry.record(CENTRE, COUNSELLOR, "settings", "fallback_counsellor", COUNSELLOR)
    await rows.AuditEntry.record(CENTRE, COLLEAGUE, "transfer", STAYS, f"to {COUNSELLOR}")
    await rows.MailAddress.record_hard_bounce(SHARED)
    await rows.Outbox.enqueue(SHARED, "new_request", "de", {"request_id": 1})


async def _monitoring_rows(db: LotseDatabase) -> None:
    """A monitoring and a half-filled one (v24), naming both."""
    sql = db.main.execute
    await sql(
        "INSERT INTO monitoring (centre_id, client_id, counsellor_id, contact_date, "
        "sealed_values, created_at) VALUES ($1, $2, $3, '2026-11-02', 'sealed', 1)",
        CENTRE,
        CLIENT,
        COUNSELLOR,
    )
    await sql(
        "INSERT INTO monitoring_dialogue (counsellor_id, centre_id, client_id, sealed_state, "
        "step, started_at) VALUES ($1, $2, $3, 'sealed', 'topic', 1)",
        COUNSELLOR,
        CENTRE,
        CLIENT,
    )


async def _later_rows(db: LotseDatabase) -> None:
    """Booking, live chat and topic chats (v25 and later): rows naming both."""
    sql = db.main.execute
    service = await db.main.fetchval(
        "INSERT INTO booking_service (centre_id, created_by, title, duration_min, "
        "follow_up_min, channel, created_at) VALUES ($1, $2, 'Erstgespräch', 50, 10, 'chat', 1) "
        "RETURNING id",
        CENTRE,
        COUNSELLOR,
    )
    await sql(
        "INSERT INTO booking_window (counsellor, weekday, starts_min, ends_min, service_id, "
        "horizon_weeks, created_at) VALUES ($1, 0, 540, 720, $2, 4, 1)",
        COUNSELLOR,
        service,
    )
    appointment = await db.main.fetchval(
        "INSERT INTO appointment (centre_id, counsellor, client, service_id, title, starts_at, "
        "ends_at, busy_until, state, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, 'Erstgespräch', 10, 20, 30, 'confirmed', 1, 1) RETURNING id",
        CENTRE,
        COUNSELLOR,
        CLIENT,
        service,
    )
    await sql(
        "INSERT INTO booking_job (key, kind, subject, subject_id, starts_at, due_at) "
        "VALUES ('reminder-1', 'reminder', 'appointment', $1, 10, 5)",
        appointment,
    )
    group = await db.main.fetchval(
        "INSERT INTO group_appointment (centre_id, counsellor, title, starts_at, ends_at, "
        "busy_until, max_participants, places_taken, created_at) "
        "VALUES ($1, $2, 'Elterngruppe', 40, 50, 50, 6, 1, 1) RETURNING id",
        CENTRE,
        COUNSELLOR,
    )
    await sql(
        "INSERT INTO group_participant (group_appointment_id, client, joined_at) "
        "VALUES ($1, $2, 1)",
        group,
        CLIENT,
    )
    await sql("INSERT INTO booking_lock (counsellor, version) VALUES ($1, 1)", COUNSELLOR)
    await sql(
        "INSERT INTO calendar_feed (counsellor, token, created_at) VALUES ($1, 'feed', 1)",
        COUNSELLOR,
    )
    await sql(
        "INSERT INTO booking_offer (client, number, slot_key, created_at) VALUES ($1, 1, 'k', 1)",
        CLIENT,
    )
    await sql(
        "INSERT INTO booking_blocker (centre_id, counsellor, starts_at, ends_at, label, "
        "created_at) VALUES ($1, $2, 60, 70, 'Team', 1)",
        CENTRE,
        COUNSELLOR,
    )
    await sql(
        "INSERT INTO booking_poll (client, room_id, event_id, created_at) "
        "VALUES ($1, $2, '$poll', 1)",
        CLIENT,
        SERVICE_ROOM,
    )
    await sql(
        "INSERT INTO counsellor_video_link (counsellor, url, set_at) "
        "VALUES ($1, 'https://video.example/raum', 1)",
        COUNSELLOR,
    )
    await db.rows.LiveChatStaff.set(COUNSELLOR, CENTRE, True, 1)
    await db.rows.LiveChat.begin(CLIENT, CENTRE, 1)
    chat = await db.rows.TopicChat.create(CENTRE, COUNSELLOR, "Prüfungsangst", "", 100, 200, 1)
    await chat.join(CLIENT, 150)


async def _store_rows(db: LotseDatabase) -> None:
    """What mautrix's stores hold after the assistant shared rooms with both."""
    state = PgASStateStore(db.state_db)
    for user_id, name in ((CLIENT, PSEUDONYM), (COUNSELLOR, COUNSELLOR_NAME)):
        for room in (SERVICE_ROOM, COUNSELLING_ROOM):
            member = Member(membership=Membership.JOIN, displayname=name)
            await state.set_member(RoomID(room), UserID(user_id), member)
    levels = PowerLevelStateEventContent(users={UserID(CLIENT): 100})
    await state.set_power_levels(RoomID(SERVICE_ROOM), levels)
    crypto = PgCryptoStore("", "pickle", db.crypto_db)
    for n, user_id in enumerate((CLIENT, COUNSELLOR)):
        key = IdentityKey(f"{n}" * 43)
        device = DeviceIdentity(
            UserID(user_id), DeviceID(f"DEV{n}"), key, SigningKey("s" * 43),
            TrustState.UNVERIFIED, False, f"Element von {user_id}",
        )  # fmt: skip
        await crypto.put_devices(UserID(user_id), {DeviceID(f"DEV{n}"): device})
        await crypto.put_cross_signing_key(
            UserID(user_id), CrossSigningUsage.MASTER, SigningKey("m" * 43)
        )


async def fill_every_table(db: LotseDatabase, monitoring: bool = True) -> None:
    """The client and the counsellor with rows in every table (also for the export test);
    the rotation tests add their own monitorings, sealed under their old key."""
    await _people(MailRows(db))
    await _client_rows(MailRows(db))
    await _counsellor_rows(MailRows(db))
    if monitoring:
        await _monitoring_rows(db)
    await _later_rows(db)
    await _store_rows(db)


async def _erase(rows: MailRows, user_id: str) -> ErasedPerson:
    person = await rows.Person.get(user_id)
    assert person is not None
    await person.set_account(deleted_at=1000)
    claim = await rows.ErasedPerson.claim(user_id, 1000)
    assert claim is not None
    await claim.finish()
    return claim


async def test_erasure_leaves_only_the_tombstone(database_url: str) -> None:
    """A client and a counsellor with rows in every table: after their erasure the search of
    every text/bytes column finds them only in the tombstone; what stays names them by the
    tombstone; an address a colleague still uses stays with the colleague."""
    async with opened(database_url) as db:
        await fill_every_table(db)
        client = needles_of(CLIENT, PSEUDONYM, [ADDRESS, NEW_ADDRESS], PHONE)
        counsellor = needles_of(COUNSELLOR, COUNSELLOR_NAME, [])
        both = {f"client {k}": v for k, v in client.items()} | {
            f"counsellor {k}": v for k, v in counsellor.items()
        }
        before = {t.table for t in await traces(db.main, both)}
        # The search sees real data in Lotse's tables and in both mautrix stores.
        # (mail_address holds only the keyed hash of an address: checked by lookups below.)
        assert {"registration", "mail_outbox", "audit_log"} <= before
        assert await MailRows(db).MailAddress.get(ADDRESS) is not None
        assert {"mx_user_profile", "mx_room_state", "crypto_device", "event_inbox"} <= before
        assert {"triage_dialogue", "client_group_member", "pending_document"} <= before

        client_tomb = await _erase(MailRows(db), CLIENT)
        counsellor_tomb = await _erase(MailRows(db), COUNSELLOR)
        await counsellor_tomb.finish()  # a resumed run changes nothing

        assert beyond_tombstone(await traces(db.main, client)) == []
        assert await MailRows(db).MailAddress.get(ADDRESS) is None
        assert beyond_tombstone(await traces(db.main, counsellor)) == []
        assert (client_tomb.id, counsellor_tomb.id) == (1, 2)
        ref = counsellor_tomb.ref
        assert ref == "erased:2"

        # Rows of others stay and name the counsellor by the tombstone.
        [note] = await db.rows.ClientNote.for_client(CENTRE, STAYS)
        assert note.author_id == ref
        [group] = await db.rows.ClientGroup.all_in_centre(CENTRE)
        assert group.creator_id == ref and await group.members() == []
        [message] = await db.rows.CentreMessage.recent(CENTRE, 10)
        assert message.sender_id == ref and message.client_id == STAYS
        entries = {
            (e.actor_id, e.target, e.detail) for e in await db.rows.AuditEntry.recent(CENTRE, 10)
        }
        assert (ref, "fallback_counsellor", ref) in entries
        assert (COLLEAGUE, STAYS, f"to {ref}") in entries
        assert ("@admin-nord:lotse.test", client_tomb.ref, "phone") in entries
        assert await db.rows.CentreSettingRow.overrides(CENTRE) == {"overdue_hours": "48"}
        # Monitorings are the centre's statistics: they stay, naming both tombstones.
        kept = await db.main.fetch("SELECT client_id, counsellor_id FROM monitoring")
        assert [tuple(r) for r in kept] == [(client_tomb.ref, ref)]
        chat = await db.rows.TopicChat.get(CENTRE, 1)
        assert chat is not None
        assert chat.counsellor == ref and chat.participants == 1
        done = await db.rows.CounsellingRequest.last_assigned(CENTRE)
        assert done == ref
        stays = await db.rows.Person.get(STAYS)
        assert stays is not None and stays.home_counsellor_id is None
        assert await db.rows.Bookmark.client_ids(COLLEAGUE) == []
        assert await db.rows.ClientDocument.of_client(STAYS) == []
        # The colleague's address (the same, in another case) keeps its bounce record and mail.
        shared = await MailRows(db).MailAddress.get(SHARED)
        assert shared is not None and shared.hard_bounces == 1
        assert await MailRows(db).Outbox.count("queued") == 1

        # What Synapse sends or serves about them later (the deactivation's leave events,
        # member lists) does not bring them back into mautrix's state store.
        store = LotseStateStore(db.state_db, db.rows.ErasedPerson)
        room = RoomID(COUNSELLING_ROOM)
        left = Member(membership=Membership.LEAVE, displayname=PSEUDONYM)
        await store.set_member(room, UserID(CLIENT), left)
        await store.set_membership(room, UserID(COUNSELLOR), Membership.LEAVE)
        joined = Member(membership=Membership.JOIN, displayname="Carl")
        await store.set_members(room, {UserID(CLIENT): left, UserID(COLLEAGUE): joined})
        levels = PowerLevelStateEventContent(users={UserID(CLIENT): 100})
        await store.set_power_levels(RoomID(SERVICE_ROOM), levels)
        assert beyond_tombstone(await traces(db.main, client)) == []
        assert beyond_tombstone(await traces(db.main, counsellor)) == []
        assert await store.get_members(room) == [COLLEAGUE]


async def test_open_work_of_an_erased_counsellor_is_not_left_assigned(database_url: str) -> None:
    """Should a counsellor be erased with work still open (the routine places it anew first,
    bots/accounts/departure.py), their open request waits in the pool and their transfer
    proposals are withdrawn, instead of staying with nobody."""
    async with opened(database_url) as db:
        await _people(MailRows(db))
        request = await db.rows.CounsellingRequest.create(CENTRE, STAYS)
        assert request is not None
        await db.rows.CounsellingRequest.claim(request.id, CENTRE, COUNSELLOR)
        transfer_id = await db.rows.Transfer.propose(
            CENTRE, STAYS, COLLEAGUE, COUNSELLOR, COLLEAGUE
        )
        tomb = await _erase(MailRows(db), COUNSELLOR)
        waiting = await db.rows.CounsellingRequest.open_for_client(STAYS)
        assert waiting is not None and waiting.status == "new" and waiting.counsellor_id is None
        transfer = await db.rows.Transfer.get(transfer_id)
        assert transfer is not None and transfer.status == "withdrawn"
        assert transfer.to_id == tomb.ref and transfer.from_id == COLLEAGUE


def _before_issue_9() -> UpgradeTable:
    """Lotse's migrations as main had them before this version (v1–v15)."""
    table = UpgradeTable(version_table_name="lotse_version", database_name="Lotse")
    table.upgrades = upgrade_table.upgrades[:15]
    return table


async def test_migration_cleans_up_after_older_erasures(database_url: str) -> None:
    """A database erased by the older routine (which kept registrations, mail, transfers,
    triage, centre messages, the audit's ids and the mautrix member rows) is clean after the
    upgrade; each tombstone gets its number, in the order the erasures started."""
    old = LotseDatabase(database_url, ContactData(TEST_CONTACT_KEY))
    old.main = Database.create(database_url, upgrade_table=_before_issue_9(), owner_name="lotse")
    await old.start()
    try:
        conn = old.main
        for user_id, started in ((COUNSELLOR, 5), (CLIENT, 7)):
            await conn.execute(
                "INSERT INTO erased_person (user_id, centre_id, role, deleted_at, started_at, "
                "erased_at) VALUES ($1, $2, 'client', 1, $3, 9)",
                user_id,
                CENTRE,
                started,
            )
        # What the older routine left behind.
        await conn.execute(
            "INSERT INTO registration (token_hash, centre_id, pseudonym, email, created_at, "
            "expires_at, user_id) VALUES ('h', $1, $2, $3, 1, 2, $4)",
            CENTRE,
            PSEUDONYM,
            ADDRESS,
            CLIENT,
        )
        await conn.execute(
            "INSERT INTO mail_outbox (recipient, kind, lang, variables, not_before, created_at) "
            "VALUES ($1, 'invitation', 'de', $2, 1, 1)",
            ADDRESS,
            f'{{"display_name": "{PSEUDONYM}"}}',
        )
        await conn.execute(
            "INSERT INTO triage_dialogue (client_id, centre_id, step, started_at) "
            "VALUES ($1, $2, 'channel', 1)",
            CLIENT,
            CENTRE,
        )
        await conn.execute(
            "INSERT INTO centre_message (centre_id, client_id, sender_id, subject, sent_at) "
            "VALUES ($1, $2, $3, $4, 1)",
            CENTRE,
            CLIENT,
            COUNSELLOR,
            f"Für {PSEUDONYM}",
        )
        await conn.execute(
            "INSERT INTO audit_log (centre_id, actor_id, action, target, detail, created_at) "
            "VALUES ($1, $2, 'erase', $3, $4, 1)",
            CENTRE,
            COUNSELLOR,
            CLIENT,
            f"to {COUNSELLOR}",
        )
        state = PgASStateStore(old.state_db)
        member = Member(membership=Membership.LEAVE, displayname=PSEUDONYM)
        await state.set_member(RoomID(COUNSELLING_ROOM), UserID(CLIENT), member)
    finally:
        await old.stop()

    async with opened(database_url) as db:
        client = needles_of(CLIENT, PSEUDONYM, [ADDRESS])
        assert beyond_tombstone(await traces(db.main, client)) == []
        assert beyond_tombstone(await traces(db.main, needles_of(COUNSELLOR, None, []))) == []
        client_tomb = await db.rows.ErasedPerson.get(CLIENT)
        counsellor_tomb = await db.rows.ErasedPerson.get(COUNSELLOR)
        assert client_tomb is not None and counsellor_tomb is not None
        assert (counsellor_tomb.id, client_tomb.id) == (1, 2)
        [entry] = await db.rows.AuditEntry.recent(CENTRE, 5)
        assert (entry.actor_id, entry.target, entry.detail) == (
            "erased:1",
            "erased:2",
            "to erased:1",
        )
        # The next tombstone continues the numbering.
        await db.rows.Person.upsert(STAYS, CENTRE, "client")
        assert (await _erase(MailRows(db), STAYS)).id == 3
