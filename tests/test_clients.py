"""Clients through real E2EE clients on real Synapse: create, log in, search, profile, edit,
home counsellor, bookmarks, and the separation of centres."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from appservice.app import LotseApp
from appservice.db import Person
from appservice.dev.client import Human, ask
from appservice.dev.synapse_runner import password_login
from bots.records import client_rules as rules
from bridge.client_accounts import ClientAccounts, PseudonymTaken
from mailgateway.rows import MailRows
from tests.conftest import MakeHuman
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

PASSWORD = "Neu-Start-2026!"


def unique(name: str) -> str:
    """Pseudonyms are unique per centre for the whole session's database."""
    return f"{name}{secrets.token_hex(3)}"


async def staff(
    make_human: MakeHuman, bot: str, name: str, role: str, centre: str = "nord"
) -> tuple[Human, str]:
    human = await make_human(name, centre=centre, role=role)
    return human, await _service_room(human, bot)


async def created(rows: MailRows, human: Human, room: str, bot: str, text: str) -> Person:
    """Run ``client new …``; return the new client (asserting it worked)."""
    reply = await ask(human, room, bot, text)
    login = reply.body.split("`")[1]
    person = await rows.Person.get(login)
    assert person is not None, reply.body
    return person


async def test_counsellor_creates_client_who_logs_in_and_finds_the_room(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """The account exists on Synapse without a password; once one is set, the client logs in,
    finds the invitation to their service room and the assistant answers there."""
    bot = running.cfg.assistant_mxid
    admin_api = running.assistant.services.admin
    counsellor, room = await staff(make_human, bot, "berta", "counsellor")
    name = unique("Jürgen Weiß ")
    reply = await ask(
        counsellor,
        room,
        bot,
        f'klient neu {name} email=j@example.org phone="040 123" age_group=20-29 postcode=20095',
    )
    assert "angelegt" in reply.body and "client invite" in reply.body
    login = reply.body.split("`")[1]
    assert login.startswith("@juergen-weiss-")
    person = await running.rows.Person.get(login)
    assert person is not None and person.role == "client" and person.centre_id == "nord"
    assert person.display_name == name and person.home_counsellor_id == counsellor.user_id
    assert person.email == "j@example.org" and person.phone == "040 123"
    assert person.account_status == "no_access" and person.service_room_id
    assert await running.rows.MasterDataValue.of(login) == {
        "age_group": "20-29",
        "postcode": "20095",
    }
    info = await admin_api.get_user(login)
    assert info is not None and info.displayname == name and not info.deactivated
    status, body = await password_login(running.cfg.homeserver.address, login, PASSWORD)
    assert status == 403, body  # no password yet

    await admin_api.set_password(login, PASSWORD)
    client = await Human.login(running.cfg.homeserver.address, login, PASSWORD, tmp_path / "c")
    try:
        joined = await client.join_invite()
        assert joined == person.service_room_id
        await client.next_notice(joined, bot, 0, contains="Willkommen")
        answer = await ask(client, joined, bot, "hilfe")
        assert "anfrage" in answer.body
    finally:
        await client.close()
    entries = await running.rows.AuditEntry.recent("nord", 50)
    assert any(e.action == "client_new" and e.target == login for e in entries)

    # The same pseudonym in another case is taken; a name starting like the bots gets "c-".
    again = await ask(counsellor, room, bot, f"client new {name.replace('J', 'j')}")
    assert "schon vergeben" in again.body and "nichts geändert" in again.body
    bot_like = await created(
        running.mail_rows, counsellor, room, bot, f"client new {unique('Lotse')}"
    )
    assert bot_like.user_id.startswith("@c-lotse")


async def test_bad_input_changes_nothing(make_human: MakeHuman, running: LotseApp) -> None:
    """Invalid e-mail, unknown field, bad pseudonym, unknown client: clear answers, no change."""
    bot = running.cfg.assistant_mxid
    counsellor, room = await staff(make_human, bot, "bad-input", "counsellor")
    before = len(await running.rows.Person.all_in_centre("nord"))
    name = unique("Fehler")
    cases = [
        (f"client new {name} email=kein-mail", "keine gültige E-Mail-Adresse"),
        (f"client new {name} hobby=Segeln", "age_group="),
        (f"client new {name} phone=abc", "keine Telefonnummer"),
        ("client new @anna", "geht als Pseudonym nicht"),
        (f"client new {'x' * 70}", "zu lang"),
        ("klient Niemand-Bekanntes", "finde keine"),
        ("client set Niemand-Bekanntes email=a@b.de", "finde keine"),
        ("clients sort=alter", "sort=login"),
        ("clients @niemand", "keine Beraterin"),
        ("client lock Niemand", "nur Admins"),
    ]
    for text, snippet in cases:
        reply = await ask(counsellor, room, bot, text)
        assert snippet in reply.body, (text, reply.body)
    assert len(await running.rows.Person.all_in_centre("nord")) == before


async def test_search_filter_sort_profile_edit_home_bookmarks(
    make_human: MakeHuman, running: LotseApp, tmp_path: Path
) -> None:
    """`clients` filters by home counsellor and text and sorts by last login; the profile
    shows e-mail and phone to admins only; `client set` (the address by admins only),
    `client home`, bookmarks work."""
    bot = running.cfg.assistant_mxid
    admin_api = running.assistant.services.admin
    berta, berta_room = await staff(make_human, bot, "berta", "counsellor")
    carl, carl_room = await staff(make_human, bot, "carl", "counsellor")
    admin, admin_room = await staff(make_human, bot, "chefin", "admin")
    tag = secrets.token_hex(3)
    anna = await created(
        running.mail_rows, berta, berta_room, bot, f"client new Anna{tag} email=anna@example.org"
    )
    zora = await created(
        running.mail_rows, berta, berta_room, bot, f"client new Zora{tag} age_group=30-39"
    )
    mia = await created(running.mail_rows, carl, carl_room, bot, f"client new Mia{tag}")

    mine = await ask(berta, berta_room, bot, f"klienten meine {tag}")
    assert anna.name in mine.body and zora.name in mine.body and mia.name not in mine.body
    assert mine.body.index(anna.name) < mine.body.index(zora.name)
    of_carl = await ask(berta, berta_room, bot, f"clients {carl.user_id} {tag}")
    assert mia.name in of_carl.body and anna.name not in of_carl.body
    search = await ask(berta, berta_room, bot, f"clients zora{tag}")
    assert zora.name in search.body and anna.name not in search.body
    assert "kein Zugang" in search.body

    # Zora logs in: sorted by last login she comes first and counts as activated.
    await admin_api.set_password(zora.user_id, PASSWORD)
    status, _ = await password_login(running.cfg.homeserver.address, zora.user_id, PASSWORD)
    assert status == 200
    zora_client = await Human.login(
        running.cfg.homeserver.address, zora.user_id, PASSWORD, tmp_path / "z"
    )
    await zora_client.close()

    async def seen() -> bool:
        info = await admin_api.get_user(zora.user_id)
        return info is not None and info.last_seen_ts is not None

    for _ in range(60):
        if await seen():
            break
        await asyncio.sleep(0.5)
    by_login = await ask(berta, berta_room, bot, f"clients all {tag} sort=login")
    assert by_login.body.index(zora.name) < by_login.body.index(anna.name)
    assert "letztes Login" in by_login.body and "aktiviert" in by_login.body
    assert "Zeiten in der Zeitzone Europe/Berlin" in by_login.body  # the centre's zone, said

    # Profile: contact data for admins only.
    profile = await ask(berta, berta_room, bot, f"klient {anna.name}")
    assert anna.user_id in profile.body and "Stammberatung" in profile.body
    assert "anna@example.org" not in profile.body and "E-Mail" not in profile.body
    admin_view = await ask(admin, admin_room, bot, f"klient {anna.name}")
    assert "anna@example.org" in admin_view.body and "Telefon" in admin_view.body
    zora_view = await ask(berta, berta_room, bot, f"klient {zora.name}")
    assert "Altersgruppe: 30-39" in zora_view.body and "PLZ: –" in zora_view.body

    # Edit pseudonym, e-mail, master data; a duplicate pseudonym is refused.
    new_name = f"Anne{tag}"
    edited = await ask(
        berta, berta_room, bot, f"client set {anna.user_id} pseudonym={new_name} postcode=20095"
    )
    assert "Gespeichert" in edited.body
    fresh = await running.rows.Person.get(anna.user_id)
    assert fresh is not None and fresh.display_name == new_name
    info = await admin_api.get_user(anna.user_id)
    assert info is not None and info.displayname == new_name
    assert await running.rows.MasterDataValue.of(anna.user_id) == {"postcode": "20095"}
    # The address is where a password is reset: counsellors cannot touch it, admins can.
    refused = await ask(berta, berta_room, bot, f"client set {new_name} email= postcode=")
    assert "nur Admins" in refused.body and "nichts geändert" in refused.body
    fresh = await running.rows.Person.get(anna.user_id)
    assert fresh is not None and fresh.email == "anna@example.org"
    assert await running.rows.MasterDataValue.of(anna.user_id) == {"postcode": "20095"}
    cleared = await ask(admin, admin_room, bot, f"client set {new_name} email= postcode=")
    assert "Gespeichert" in cleared.body and "entfernt" in cleared.body
    fresh = await running.rows.Person.get(anna.user_id)
    assert fresh is not None and fresh.email is None
    assert await running.rows.MasterDataValue.of(anna.user_id) == {}
    dup = await ask(berta, berta_room, bot, f"client set {new_name} pseudonym={zora.name.lower()}")
    assert "schon vergeben" in dup.body
    nothing = await ask(berta, berta_room, bot, f"client set {new_name}")
    assert "Was soll sich" in nothing.body

    # Home counsellor: a counsellor of the centre only; Anna has one (Berta, who created
    # her), so a change is a transfer proposal that waits for her consent (test_transfer.py).
    moved = await ask(berta, berta_room, bot, f"client home {new_name} {carl.user_id}")
    assert "vorgeschlagen" in moved.body and "zustimmt" in moved.body
    fresh = await running.rows.Person.get(anna.user_id)
    assert fresh is not None and fresh.home_counsellor_id == berta.user_id
    not_staff = await ask(berta, berta_room, bot, f"client home {new_name} {zora.user_id}")
    assert "keine Beraterin" in not_staff.body
    fresh = await running.rows.Person.get(anna.user_id)
    assert fresh is not None and fresh.home_counsellor_id == berta.user_id

    # Bookmarks are per counsellor and toggle.
    added = await ask(berta, berta_room, bot, f"merken {zora.name}")
    assert "auf Ihrer Merkliste" in added.body
    listing = await ask(berta, berta_room, bot, "merkliste")
    assert zora.name in listing.body
    assert await running.rows.Bookmark.client_ids(carl.user_id) == []
    removed = await ask(berta, berta_room, bot, f"bookmark {zora.name}")
    assert "nicht mehr" in removed.body
    assert zora.user_id not in await running.rows.Bookmark.client_ids(berta.user_id)


async def test_centres_never_see_each_others_clients(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Staff of another centre cannot list, show, change, bookmark, lock or delete a client."""
    bot = running.cfg.assistant_mxid
    nord, nord_room = await staff(make_human, bot, "nordberta", "counsellor")
    south, south_room = await staff(make_human, bot, "southadmin", "admin", centre="south")
    client = await created(
        running.mail_rows, nord, nord_room, bot, f"client new {unique('Geheim')}"
    )
    listing = await ask(south, south_room, bot, "clients all")
    assert client.name not in listing.body and client.user_id not in listing.body
    for text in (
        f"client {client.name}",
        f"client {client.user_id}",
        f"client set {client.user_id} email=x@example.org",
        f"client home {client.user_id} {south.user_id}",
        f"bookmark {client.user_id}",
        f"client lock {client.user_id}",
        f"client delete {client.user_id}",
    ):
        reply = await ask(south, south_room, bot, text)
        assert "cannot find a client" in reply.body and "Nothing was changed" in reply.body
    # The home-counsellor change across centres fails from the other side too.
    across = await ask(nord, nord_room, bot, f"client home {client.user_id} {south.user_id}")
    assert "keine Beraterin" in across.body
    fresh = await running.rows.Person.get(client.user_id)
    assert fresh is not None and fresh.email is None and fresh.locked_at is None
    assert fresh.deleted_at is None and fresh.home_counsellor_id == nord.user_id
    assert await running.rows.Bookmark.client_ids(south.user_id) == []


async def test_two_creations_of_one_pseudonym_one_wins(running: LotseApp) -> None:
    """Two counsellors create the same pseudonym at the same moment: exactly one client
    exists afterwards; the other gets PseudonymTaken and its half-made account is erased."""
    admin_api = running.assistant.services.admin
    accounts = ClientAccounts(running.rows, admin_api, None, running.cfg.homeserver.domain)
    name = unique("Zwilling")
    logins = rules.login_candidates(name, "lotse", ["a1", "b2", "c3"])
    results = await asyncio.gather(
        *(accounts.create("nord", name, logins, None) for _ in range(2)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, tuple)]
    assert len(winners) == 1 and isinstance(
        next(r for r in results if r not in winners), PseudonymTaken
    )
    winner = winners[0][0]
    same = [p for p in await running.rows.Person.all_in_centre("nord") if p.display_name == name]
    assert [p.user_id for p in same] == [winner.user_id]
    for login in logins[:2]:
        user_id = f"@{login}:{running.cfg.homeserver.domain}"
        info = await admin_api.get_user(user_id)
        assert info is not None and info.deactivated is (user_id != winner.user_id)
