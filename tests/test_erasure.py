"""Erasure is complete (issue 9, point 3), through real Synapse, real E2EE clients, real SMTP.

A client who registered through /register and used every feature, and a counsellor who was
invited and used theirs (for a while as admin), are deleted and erased by the deletion
routine. Then every table and every text or bytes column of Lotse's database — its own
tables, mautrix's state and crypto stores, the event inbox, the audit log; found in the
database's catalogue — is searched for their Matrix id, localpart, pseudonym or name,
addresses and phone: only the tombstone may hold the Matrix id. The same on SQLite (the
session's stack) and on PostgreSQL (a second Synapse with a Lotse on a fresh database).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from appservice.app import LotseApp
from appservice.config import WebConfig
from appservice.dev.client import Human, ask
from appservice.dev.stack import start_synapse, write_stack_config
from appservice.dev.synapse_runner import SynapseProcess, free_port
from bots.framework.services import PageParts
from bots.records.client_rules import DAY_MS
from bots.web.invitation_page import add_invitation_routes
from mailgateway.rows import MailRows
from tests.conftest import DOMAIN, TEST_CENTRES, Lotse, MailSink, Stack, fresh_postgres
from tests.invitation_support import LINK_RE, mail_to, text_of
from tests.leftovers import beyond_tombstone, needles_of, traces
from tests.test_documents import PDF, send_file

pytestmark = pytest.mark.synapse

PASSWORD = "Leucht-Turm!2026"
REGISTER_LINK_RE = LINK_RE.pattern.replace("/invite/", "/register/")


@dataclass
class Env:
    """One running Lotse with its Synapse, and the people a test made there."""

    app: LotseApp
    synapse: SynapseProcess
    sink: MailSink
    tmp: Path
    humans: list[Human] = field(default_factory=list)

    @property
    def bot(self) -> str:
        return self.app.cfg.assistant_mxid

    async def human(self, name: str, role: str, centre: str = "nord") -> tuple[Human, str]:
        """A person with a password and a device, registered in Lotse, in their service room."""
        localpart = f"{name}-{secrets.token_hex(3)}"
        human = await Human.create(
            self.synapse.base_url,
            self.synapse.shared_secret,
            DOMAIN,
            localpart,
            self.tmp / localpart,
        )
        self.humans.append(human)
        await self.app.assistant.directory.register(human.user_id, centre, role)
        room = await human.service_room(self.bot)
        await human.next_notice(room, self.bot, 0)
        return human, room

    async def login(self, user_id: str) -> tuple[Human, str]:
        """Log in as a person Lotse created and join the service room waiting for them."""
        human = await Human.login(
            self.synapse.base_url, user_id, PASSWORD, self.tmp / user_id.split(":")[0][1:]
        )
        self.humans.append(human)
        person = await self.app.mail_rows.Person.get(user_id)
        assert person is not None and person.service_room_id
        await join(human, person.service_room_id)
        await human.next_notice(person.service_room_id, self.bot, 0, contains="Willkommen")
        return human, person.service_room_id

    async def close(self) -> None:
        for human in self.humans:
            await human.close()


async def join(human: Human, room_id: str) -> None:
    await human.wait_until(lambda: room_id in human.invites, 30, f"an invite to {room_id}")
    human.invites.discard(room_id)
    await human.client.join(room_id)
    await human.sync()


async def _post(url: str, form: dict[str, str]) -> tuple[int, str, str | None]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location")


@asynccontextmanager
async def registration_site(app: LotseApp, centre: str) -> AsyncIterator[str]:
    """The /register pages for ``centre`` on a listener of their own (as in
    tests/test_registration.py); everything behind them is the running app's."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = dataclasses.replace(
        app.cfg, self_registration_centre=centre, web=WebConfig(public_url=base)
    )
    web_app = web.Application()
    services = app.assistant.services
    add_invitation_routes(web_app, PageParts(cfg, services.rows, services.mail_rows, services))
    server = TestServer(web_app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield base
    finally:
        await server.close()


@dataclass
class Departed:
    """Someone the test erases: what must be gone afterwards."""

    user_id: str
    name: str
    addresses: list[str]
    phone: str | None = None

    @property
    def needles(self) -> dict[str, str]:
        return needles_of(self.user_id, self.name, self.addresses, self.phone)


async def _self_registered_client(env: Env) -> Departed:
    """A client who registered at /register with an address in mixed case."""
    suffix = secrets.token_hex(3)
    pseudonym, address = f"Moewe{suffix}", f"Moewe.{suffix}@Example.ORG"
    async with registration_site(env.app, "nord") as site:
        status, _, _ = await _post(f"{site}/register", {"pseudonym": pseudonym, "email": address})
        assert status == 200
        mail = await mail_to(env.sink, env.app, address)
        match = re.search(REGISTER_LINK_RE, text_of(mail))
        assert match
        status, _, location = await _post(match.group(0), {})
        assert status == 303 and location is not None
        status, _, _ = await _post(location, {"password": PASSWORD, "password_repeat": PASSWORD})
        assert status == 200
    person = await env.app.mail_rows.Person.find_in_centre("nord", pseudonym, roles=("client",))
    assert person is not None
    phone = f"0170 {secrets.randbelow(10**7):07d}"
    return Departed(person.user_id, pseudonym, [address], phone)


async def _invited_counsellor(env: Env, admin: Human, admin_room: str) -> Departed:
    """A counsellor an admin created and invited by mail."""
    login = f"dora-{secrets.token_hex(3)}"
    name = f"Dora Leuchtfeuer {secrets.token_hex(2)}"
    address = f"dora-{secrets.token_hex(3)}@beratung.example"
    created = await ask(admin, admin_room, env.bot, f'berater neu {login} "{name}" email={address}')
    assert login in created.body, created.body
    invited = await ask(admin, admin_room, env.bot, f"berater einladen {login}")
    assert "E-Mail" in invited.body, invited.body
    link = LINK_RE.search(text_of(await mail_to(env.sink, env.app, address)))
    assert link
    status, _, _ = await _post(link.group(0), {"password": PASSWORD, "password_repeat": PASSWORD})
    assert status == 200
    return Departed(f"@{login}:{DOMAIN}", name, [address])


async def _counselling(
    rows: MailRows, env: Env, client: Human, client_room: str, staff: Human, staff_room: str
) -> str:
    """The client asks, ``staff`` accepts; both write in the encrypted counselling room."""
    question = await ask(client, client_room, env.bot, "anfrage")
    assert "1." in question.body, question.body
    await ask(client, client_room, env.bot, "2")
    request = await rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and request.room_id
    accepted = await ask(staff, staff_room, env.bot, f"annehmen {request.id}")
    assert "angenommen" in accepted.body, accepted.body
    await join(client, request.room_id)
    await join(staff, request.room_id)
    await client.send(request.room_id, "Hallo, ich brauche Rat.")
    await staff.send(request.room_id, "Gern, erzählen Sie.")
    closed = await ask(staff, staff_room, env.bot, f"close {request.id}")
    assert "abgeschlossen" in closed.body, closed.body
    return request.room_id


@dataclass
class Used:
    """A client and a counsellor who used every feature, logged in, with their rooms; the
    client who stays; the admin with their room."""

    client: Departed
    counsellor: Departed
    stays: str
    admin: Human
    admin_room: str
    client_human: Human
    client_room: str
    counsellor_human: Human
    counsellor_room: str


async def use_everything(env: Env) -> tuple[Departed, Departed, str, Human, str]:
    """A client and a counsellor who used every feature, both deleted by an admin.

    Returns them, the client who stays, and the admin with their room."""
    used = await used_everything(env)
    admin, admin_room, bot = used.admin, used.admin_room, env.bot
    deleted = await ask(admin, admin_room, bot, f"client delete {used.client.name}")
    assert "gelöscht" in deleted.body, deleted.body
    dora_login = used.counsellor.user_id[1:].split(":")[0]
    gone = await ask(admin, admin_room, bot, f"berater loeschen {dora_login}")
    assert "Löschen vorgemerkt" in gone.body, gone.body
    return used.client, used.counsellor, used.stays, admin, admin_room


async def used_everything(env: Env) -> Used:
    """A client and a counsellor who used every feature (nobody deleted yet)."""
    bot = env.bot
    admin, admin_room = await env.human("leitung", "admin")
    colleague, colleague_room = await env.human("kollegin", "counsellor")

    dora = await _invited_counsellor(env, admin, admin_room)
    counsellor, counsellor_room = await env.login(dora.user_id)
    for text in (
        "capacity 5",
        'profile description="Systemische Beratung" languages=de',
        "notifications delay 30",
    ):
        await ask(counsellor, counsellor_room, bot, text)
    start = time.strftime("%d.%m.%Y", time.localtime(time.time() + 10 * 86400))
    end = time.strftime("%d.%m.%Y", time.localtime(time.time() + 12 * 86400))
    added = await ask(counsellor, counsellor_room, bot, f"absence add {start} {end} Urlaub")
    assert "Urlaub" in added.body, added.body

    # A client who stays: the counsellor's notes, documents, group and transfer about them.
    stays = f"Bleibt{secrets.token_hex(3)}"
    created = await ask(counsellor, counsellor_room, bot, f"client new {stays}")
    assert "angelegt" in created.body, created.body
    await ask(counsellor, counsellor_room, bot, f"note {stays} Erstgespräch vereinbart")
    await ask(counsellor, counsellor_room, bot, f"bookmark {stays}")
    await ask(counsellor, counsellor_room, bot, f"doc {stays}")
    attached = await send_file(counsellor, counsellor_room, bot, PDF, "plan.pdf", "application/pdf")
    assert "plan.pdf" in attached.body, attached.body
    group = f"Gruppe{secrets.token_hex(3)}"
    await ask(counsellor, counsellor_room, bot, f"group new {group}")
    await ask(counsellor, counsellor_room, bot, f"group add {group} {stays}")
    colleague_login = colleague.user_id[1:].split(":")[0]
    proposed = await ask(counsellor, counsellor_room, bot, f"transfer {stays} {colleague_login}")
    assert "Nr." in proposed.body, proposed.body

    # For a while the counsellor was an admin: settings and a message to a client.
    dora_login = dora.user_id[1:].split(":")[0]
    await ask(admin, admin_room, bot, f"berater rolle {dora_login} admin")
    changed = await ask(
        counsellor,
        counsellor_room,
        bot,
        f"einstellungen inactive_account_months=18 fallback_counsellor={dora_login}",
    )
    assert "Gespeichert" in changed.body, changed.body
    await ask(
        counsellor, counsellor_room, bot, f'nachricht {stays} "Willkommen" Schön, dass Sie da sind.'
    )
    await ask(admin, admin_room, bot, f"berater rolle {dora_login} counsellor")

    # The client: registered themselves, counselled by the counsellor, noted, grouped …
    moewe = await _self_registered_client(env)
    client, client_room = await env.login(moewe.user_id)
    await _counselling(env.app.mail_rows, env, client, client_room, counsellor, counsellor_room)
    await ask(
        admin, admin_room, bot, f'client set {moewe.name} postcode=20095 phone="{moewe.phone}"'
    )
    await ask(colleague, colleague_room, bot, f"note {moewe.name} Rückruf erbeten")
    await ask(colleague, colleague_room, bot, f"bookmark {moewe.name}")
    await ask(colleague, colleague_room, bot, f"doc {moewe.name}")
    await send_file(colleague, colleague_room, bot, PDF, "brief.pdf", "application/pdf")
    await ask(counsellor, counsellor_room, bot, f"group add {group} {moewe.name}")
    await ask(counsellor, counsellor_room, bot, f"doc {moewe.name}")  # announced, never sent
    moved = await ask(admin, admin_room, bot, f"transfer {moewe.name} {colleague_login}")
    assert "Nr." in moved.body, moved.body
    sent = await ask(
        admin, admin_room, bot, f'nachricht {moewe.name} "Rückfrage {moewe.name}" Bitte melden.'
    )
    assert "zugestellt" in sent.body, sent.body
    await ask(client, client_room, bot, "notifications delay 60")
    second = f"moewe-neu-{secrets.token_hex(3)}@example.org"
    await ask(client, client_room, bot, f"email {second}")
    moewe.addresses.append(second)
    question = await ask(client, client_room, bot, "anfrage")  # left unanswered: triage waits
    assert "1." in question.body
    # The mailbox bounced once, and a notice waits for a later send.
    await env.app.mail_rows.MailAddress.record_hard_bounce(moewe.addresses[0])
    later = int(time.time() * 1000) + DAY_MS
    await env.app.mail_rows.Outbox.enqueue(
        moewe.addresses[0], "new_request", "de", {"request_id": 1}, later
    )
    await mail_to(env.sink, env.app, second)  # its confirmation went out
    return Used(
        moewe, dora, stays, admin, admin_room, client, client_room, counsellor, counsellor_room
    )


async def _erase_now(app: LotseApp, *people: Departed) -> None:
    """Move the deletions past the grace period and run the routine."""
    for departed in people:
        person = await app.rows.Person.get(departed.user_id)
        assert person is not None and person.deleted_at is not None
        await person.set_account(deleted_at=person.deleted_at - 31 * DAY_MS)
    await app.scheduler.run_now("deletion_routine")
    for departed in people:
        tomb = await app.rows.ErasedPerson.get(departed.user_id)
        assert tomb is not None and tomb.erased_at is not None, departed.user_id


async def _settled(env: Env, admin: Human, admin_room: str) -> None:
    """Wait until Synapse has parted the erased accounts from their rooms and Lotse has
    handled those events: a marker command answered after them, then an empty inbox."""
    answer = await ask(admin, admin_room, env.bot, "hilfe")
    assert answer.body
    db = env.app.db.main
    deadline = time.monotonic() + 30
    while await db.fetchval("SELECT COUNT(*) FROM event_inbox WHERE state='pending'"):
        assert time.monotonic() < deadline, "the inbox did not empty"
        await admin.sync(timeout_ms=200)


async def _address_rows(env: Env, departed: Departed) -> int:
    """Rows found by the keyed hash of one of the person's addresses."""
    count = 0
    for address in departed.addresses:
        key = env.app.db.contact.lookup(address)
        for table, column in (("mail_address", "address"), ("mail_outbox", "recipient_hash")):
            q = f"SELECT COUNT(*) FROM {table} WHERE {column}=$1"
            count += int(await env.app.db.main.fetchval(q, key))
    return count


async def check_erasure(env: Env) -> None:
    client, counsellor, stays, admin, admin_room = await use_everything(env)
    db = env.app.db.main
    # The search sees them everywhere they left traces — in both mautrix stores too.
    before = {t.table for t in await traces(db, client.needles)}
    # Addresses are sealed, and found only by their keyed hash (mail_address, mail_outbox).
    assert await _address_rows(env, client) > 0
    assert {
        "person", "registration", "invitation",
        "mail_preference", "mail_confirmation", "triage_dialogue", "transfer",
        "centre_message", "client_note", "client_document", "client_group_member",
        "client_master_data", "bookmark", "pending_document", "counselling_request",
        "room_notice", "audit_log", "mx_user_profile", "crypto_device",
    } <= before, before  # fmt: skip
    before = {t.table for t in await traces(db, counsellor.needles)}
    assert {
        "person", "invitation", "absence", "client_note", "client_group", "transfer",
        "centre_message", "centre_setting", "audit_log", "mx_user_profile", "crypto_device",
    } <= before, before  # fmt: skip

    await _erase_now(env.app, client, counsellor)
    await _settled(env, admin, admin_room)
    for departed in (client, counsellor):
        left = beyond_tombstone(await traces(db, departed.needles))
        assert left == [], f"{departed.user_id} still in {left}"
        assert await _address_rows(env, departed) == 0

    # What stays reads without the Matrix id: the audit, the notes, the groups.
    tomb = await env.app.mail_rows.ErasedPerson.get(counsellor.user_id)
    assert tomb is not None
    label = f"gelöschte:r Berater:in #{tomb.id}"
    audit = await ask(admin, admin_room, env.bot, "protokoll 200")
    assert label in audit.body and counsellor.user_id not in audit.body
    client_tomb = await env.app.mail_rows.ErasedPerson.get(client.user_id)
    assert client_tomb is not None
    assert f"gelöschte:r Ratsuchende:r #{client_tomb.id}" in audit.body
    notes = await ask(admin, admin_room, env.bot, f"notes {stays}")
    assert label in notes.body and "Erstgespräch" in notes.body
    groups = await ask(admin, admin_room, env.bot, "gruppen")
    assert label in groups.body
    staying = await env.app.mail_rows.Person.find_in_centre("nord", stays, roles=("client",))
    assert staying is not None and staying.home_counsellor_id is None
    assert await env.app.mail_rows.ClientDocument.of_client(staying.user_id) == []


async def test_erasure_leaves_no_trace_sqlite(
    stack: Stack, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    """On SQLite (the session's Lotse): after the routine, a client and a counsellor who used
    every feature are in no table and no column but the tombstone's Matrix id."""
    env = Env(running, stack.synapse, mail_sink, tmp_path)
    try:
        await check_erasure(env)
    finally:
        await env.close()


@asynccontextmanager
async def postgres_env(lotse: Lotse, mail_sink: MailSink, tmp_path: Path) -> AsyncIterator[Env]:
    """A second Synapse and a Lotse on a fresh PostgreSQL database (the session's Lotse pauses
    meanwhile: row classes bind to one database per process)."""
    async with fresh_postgres() as url:
        directory = tmp_path / "pgstack"
        cfg = write_stack_config(
            directory,
            hs_port=free_port(),
            as_port=free_port(),
            domain=DOMAIN,
            database_url=url,
            centres_yaml=TEST_CENTRES,
            mail_port=mail_sink.port,
        )
        synapse = await start_synapse(directory, cfg)
        await lotse.stop()
        app = LotseApp(cfg)
        env = Env(app, synapse, mail_sink, tmp_path)
        try:
            await app.start()
            yield env
        finally:
            await env.close()
            if app.started:
                await app.stop()
            await synapse.stop()


async def test_erasure_leaves_no_trace_postgres(
    lotse: Lotse, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    """The same on PostgreSQL: a second Synapse and a Lotse on a fresh PostgreSQL database."""
    async with postgres_env(lotse, mail_sink, tmp_path) as env:
        await check_erasure(env)
