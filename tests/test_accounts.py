"""Centres in Matrix and counsellor accounts, through real E2EE clients on real Synapse.

The admin control room (assistant, encrypted) answers its centre's admins; the staff room
(steward, encrypted) and the Space follow roles; admins create, list, promote, deactivate
and delete counsellors with the result checked on Synapse; clients see only public profiles;
messages from the centre arrive encrypted and only their metadata is kept. Centres never
see each other's staff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import pytest
from mautrix.types import Membership, RoomID, RoomType

from appservice.app import LotseApp
from appservice.dev.client import Human, ask
from bots.framework.commands import Role
from bots.framework.dispatch import CommandContext, run_command
from tests.conftest import MakeHuman, opened, services_on
from tests.test_privacy import _database_dump

pytestmark = pytest.mark.synapse


async def _service_room(human: Human, bot: str) -> str:
    """The person's service room, joined, once the assistant's welcome arrived there."""
    room_id = await human.service_room(bot)
    await human.next_notice(room_id, bot, 0)  # the welcome
    return room_id


async def _join(human: Human, room_id: str) -> None:
    """Accept the invitation to one particular room (others may be waiting too)."""
    await human.wait_until(lambda: room_id in human.invites, 30, f"an invite to {room_id}")
    human.invites.discard(room_id)
    await human.client.join(room_id)
    await human.sync()


async def _admin_in_control_room(
    make_human: MakeHuman, running: LotseApp, centre: str
) -> tuple[Human, str]:
    """A new admin of ``centre``, invited (membership follows the role) and joined."""
    admin = await make_human("leitung", centre=centre, role="admin")
    person = await running.rows.Person.get(admin.user_id)
    assert person is not None
    await running.assistant.centre_rooms.follow(person)
    room_id = await running.rows.CentreRoom.get(centre, "admin")
    assert room_id is not None
    await _join(admin, room_id)
    await admin.wait_member(room_id, running.cfg.assistant_mxid)
    welcome = await admin.wait_until(
        lambda: next(
            (
                s
                for s in admin.notices(room_id, running.cfg.assistant_mxid)
                if "Verwaltungsraum von" in s.body
            ),
            None,
        ),
        30,
        "the welcome to the control room",
    )
    assert welcome.encrypted and admin.user_id in welcome.body
    return admin, room_id


async def _members(running: LotseApp, centre: str, kind: str) -> dict[str, Membership]:
    return await running.assistant.centre_rooms.members(centre, kind)


async def test_each_centre_has_space_admin_room_and_staff_room(running: LotseApp) -> None:
    """Created once at start: the Space lists both rooms; both rooms are encrypted; the
    assistant owns the admin room, the device-less steward the staff room and the Space."""
    assistant, steward = running.cfg.assistant_mxid, running.cfg.steward_mxid
    for centre in ("nord", "south"):
        rooms = {
            k: await running.rows.CentreRoom.get(centre, k) for k in ("space", "admin", "staff")
        }
        assert all(rooms.values()), rooms
        again = await running.assistant.centre_rooms.ensure(running.cfg.centre(centre))
        assert dict(again) == rooms  # idempotent: no second set of rooms
        intent = running.steward_intent
        create = await intent.get_state_event(rooms["space"], "m.room.create", format="event")
        assert create.content.type == RoomType.SPACE and create.sender == steward
        children = await intent.get_state(rooms["space"])
        child_keys = {e.state_key for e in children if str(e.type) == "m.space.child"}
        assert {rooms["admin"], rooms["staff"]} <= child_keys
        for kind, owner, owner_intent in (
            ("admin", assistant, running.assistant_intent),
            ("staff", steward, running.steward_intent),
        ):
            room = rooms[kind]
            assert await running.state_store.is_encrypted(room), kind
            state = await owner_intent.get_state_event(room, "m.room.create", format="event")
            assert state.sender == owner, kind
    # The config admin of nord is invited to all three of nord's rooms.
    for kind in ("space", "admin", "staff"):
        assert "@admin-nord:lotse.test" in await _members(running, "nord", kind), kind


async def test_admin_control_room_answers_admins_and_tells_admins(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A command typed in the control room is answered there as that admin; talk between
    admins is left alone; tell_admins posts there; a counsellor is not answered there."""
    bot = running.cfg.assistant_mxid
    admin, room = await _admin_in_control_room(make_human, running, "nord")
    assert admin.client.rooms[room].encrypted
    reply = await ask(admin, room, bot, "counsellors")
    assert reply.encrypted and "Berater:innen und Admins" in reply.body
    assert "Zeiten in der Zeitzone Europe/Berlin" in reply.body and "UTC" not in reply.body
    assert admin.user_id in reply.body

    # A sentence to colleagues gets no answer; the next command is answered as usual.
    before = len(admin.notices(room, bot))
    await admin.send(room, "Hallo zusammen, wer übernimmt heute die Anfragen?")
    help_reply = await ask(admin, room, bot, "hilfe")
    assert "Verwaltung" in help_reply.body
    assert len(admin.notices(room, bot)) == before + 1

    told = await running.assistant.services.tell_admins("nord", "new_request_for_staff", id=4711)
    assert told >= 1
    notice = await admin.next_notice(room, bot, before + 1, contains="4711")
    assert notice.encrypted


async def test_admin_manages_a_counsellor(make_human: MakeHuman, running: LotseApp) -> None:
    """new → on Synapse with display name, in Space and staff room; list; promote (admin
    room) and demote; deactivate locks on Synapse; activate; delete locks and removes."""
    bot = running.cfg.assistant_mxid
    admin, room = await _admin_in_control_room(make_human, running, "nord")
    admin_api = running.assistant.services.admin
    login = f"m.weber-{secrets.token_hex(3)}"
    user_id = f"@{login}:lotse.test"

    created = await ask(
        admin, room, bot, f"berater neu {login} Maria Weber email=m.weber@example.org"
    )
    assert "Maria Weber" in created.body and f"counsellor invite {login}" in created.body
    info = await admin_api.get_user(user_id)
    assert info is not None and info.displayname == "Maria Weber" and not info.locked
    person = await running.rows.Person.get(user_id)
    assert person is not None and person.role == "counsellor" and person.centre_id == "nord"
    assert person.email == "m.weber@example.org" and person.service_room_id
    assert user_id in await _members(running, "nord", "staff")
    assert user_id in await _members(running, "nord", "space")
    assert user_id not in await _members(running, "nord", "admin")

    # Bad input: each refused with a hint, nothing created.
    taken = await ask(admin, room, bot, f"berater neu {login} Maria W email=m@example.org")
    assert "schon vergeben" in taken.body
    for text, snippet in (
        ("berater neu lotse-maria Maria email=m@example.org", "reserviert"),
        ("berater neu Maria Maria email=m@example.org", "`maria`"),
        ("berater neu maria.x Maria email=maria@", "keine gültige E-Mail"),
        ("berater neu maria.y Maria email=m@example.org role=chefin", "Rolle `chefin`"),
    ):
        assert snippet in (await ask(admin, room, bot, text)).body, text
    for missing in ("@lotse-maria:lotse.test", "@maria.x:lotse.test", "@maria.y:lotse.test"):
        assert await running.rows.Person.get(missing) is None
        assert await admin_api.get_user(missing) is None

    listing = await ask(admin, room, bot, "counsellors")
    line = f"Maria Weber – `{user_id}` – m.weber@example.org – Berater:in – kein Zugang – "
    assert line + "letzter Login: noch nie" in listing.body

    promoted = await ask(admin, room, bot, f"berater rolle {login} admin")
    assert "jetzt Admin" in promoted.body
    assert user_id in await _members(running, "nord", "admin")
    demoted = await ask(admin, room, bot, f"counsellor role {login} counsellor")
    assert "Berater:in" in demoted.body
    assert user_id not in await _members(running, "nord", "admin")
    same = await ask(admin, room, bot, f"counsellor role {login} counsellor")
    assert "bereits" in same.body

    off = await ask(admin, room, bot, f"berater deaktivieren {login}")
    assert "deaktiviert" in off.body
    info = await admin_api.get_user(user_id)
    assert info is not None and info.locked
    assert "deaktiviert" in (await ask(admin, room, bot, "counsellors")).body
    person = await running.rows.Person.get(user_id)
    assert person is not None and person.status == "unavailable"  # no requests for them
    on = await ask(admin, room, bot, f"counsellor activate {login}")
    assert "wieder aktiv" in on.body
    info = await admin_api.get_user(user_id)
    assert info is not None and not info.locked

    # A home client: the deletion reply counts them and leaves reassignment to admins.
    client = await running.rows.Person.upsert(
        f"@kl-{secrets.token_hex(3)}:lotse.test", "nord", "client"
    )
    await client.set_home_counsellor(user_id)
    deleted = await ask(admin, room, bot, f"berater löschen {login}")
    assert "zum Löschen vorgemerkt" in deleted.body and "von 1 Ratsuchenden" in deleted.body
    info = await admin_api.get_user(user_id)
    assert info is not None and info.locked
    person = await running.rows.Person.get(user_id)
    assert person is not None and person.deleted_at is not None
    assert user_id not in await _members(running, "nord", "staff")
    assert user_id not in await _members(running, "nord", "space")
    assert f"~~Maria Weber~~ – `{user_id}`" in (await ask(admin, room, bot, "counsellors")).body
    again = await ask(admin, room, bot, f"berater löschen {login}")
    assert "bereits gelöscht" in again.body

    actions = [
        (e.action, e.target)
        for e in await running.rows.AuditEntry.recent("nord", 50)
        if e.target == user_id
    ]
    for action in ("new", "role", "deactivate", "activate", "delete"):
        assert (f"counsellor.{action}", user_id) in actions, action


async def test_admin_safeguards_and_counsellors_cannot(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Unknown people, deactivating oneself, demoting a config admin: refused, unchanged.
    A counsellor typing an admin command is told it is for admins only."""
    bot = running.cfg.assistant_mxid
    admin, room = await _admin_in_control_room(make_human, running, "nord")
    assert (
        "keine:n Berater:in `niemand`"
        in (await ask(admin, room, bot, "counsellor role niemand admin")).body
    )
    me = admin.user_id.split(":")[0][1:]
    assert "eigenes Konto" in (await ask(admin, room, bot, f"counsellor deactivate {me}")).body
    config_admin = await ask(admin, room, bot, "counsellor role admin-nord counsellor")
    assert "Konfigurationsdatei" in config_admin.body
    person = await running.rows.Person.get("@admin-nord:lotse.test")
    assert person is not None and person.role == "admin"
    me_person = await running.rows.Person.get(admin.user_id)
    assert me_person is not None and me_person.locked_at is None

    counsellor = await make_human("team", centre="nord", role="counsellor")
    own = await _service_room(counsellor, bot)
    denied = await ask(counsellor, own, bot, "counsellor new x.y X email=x@example.org")
    assert "nur Admins" in denied.body
    assert await running.rows.Person.get("@x.y:lotse.test") is None


async def test_centres_never_see_each_others_staff(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """An admin of south can neither list nor change nor message nord's people."""
    bot = running.cfg.assistant_mxid
    south_admin = await make_human("boss", centre="south", role="admin")
    room = await _service_room(south_admin, bot)
    nord_staff = await make_human("nordteam", centre="nord", role="counsellor")
    nord_client = await make_human("nordklient", centre="nord", role="client")
    login = nord_staff.user_id.split(":")[0][1:]

    listing = await ask(south_admin, room, bot, "counsellors")
    assert nord_staff.user_id not in listing.body and "admin-nord" not in listing.body
    staff_person = await running.rows.Person.get(nord_staff.user_id)
    assert staff_person is not None
    await staff_person.set_profile(display_name="Nordlicht", team_page=True)
    team = await ask(south_admin, room, bot, "team")
    assert "Nordlicht" not in team.body
    for text in (
        f"counsellor role {login} admin",
        f"counsellor deactivate {nord_staff.user_id}",
        f"counsellor delete {login}",
    ):
        assert "has no counsellor" in (await ask(south_admin, room, bot, text)).body, text
    sent = await ask(south_admin, room, bot, f'message {nord_client.user_id} "Hi" hello')
    assert "has no client" in sent.body
    person = await running.rows.Person.get(nord_staff.user_id)
    assert person is not None and person.role == "counsellor" and person.locked_at is None


async def test_profile_team_and_home_counsellor(make_human: MakeHuman, running: LotseApp) -> None:
    """A counsellor's profile reaches Synapse and the team page; clients see only name,
    description and languages; bad keys change nothing."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("profil", centre="nord", role="counsellor")
    croom = await _service_room(counsellor, bot)
    name = f"Jana {secrets.token_hex(2)}"
    await running.rows.Person.get(counsellor.user_id)
    person = await running.rows.Person.get(counsellor.user_id)
    assert person is not None
    await person.set_account(email="jana@example.org")

    for text, snippet in (
        ("profil farbe=blau", "`farbe=` gibt es im Profil nicht"),
        ("profil team=vielleicht", "`ja` oder `nein`"),
        ("profil sprachen=de,xx", "unbekannten Sprachcode"),
    ):
        assert snippet in (await ask(counsellor, croom, bot, text)).body, text
    unchanged = await running.rows.Person.get(counsellor.user_id)
    assert unchanged is not None and not unchanged.team_page and unchanged.languages is None

    saved = await ask(
        counsellor,
        croom,
        bot,
        f'profil name="{name}" beschreibung="Systemische Beratung" sprachen=de,tr team=ja',
    )
    assert "Gespeichert" in saved.body and "de, tr" in saved.body
    info = await running.assistant.services.admin.get_user(counsellor.user_id)
    assert info is not None and info.displayname == name
    shown = await ask(counsellor, croom, bot, "profil")
    assert "jana@example.org" in shown.body and "Krisenkontakt: nein" in shown.body

    client = await make_human("suchend", centre="nord", role="client")
    room = await _service_room(client, bot)
    none = await ask(client, room, bot, "berater")
    assert "noch keine feste" in none.body and "anfrage" in none.body
    team = await ask(client, room, bot, "team")
    assert f"**{name}** (de, tr): Systemische Beratung" in team.body
    assert "jana@example.org" not in team.body and counsellor.user_id not in team.body

    client_person = await running.rows.Person.get(client.user_id)
    assert client_person is not None
    await client_person.set_home_counsellor(counsellor.user_id)
    mine = await ask(client, room, bot, "berater")
    assert name in mine.body and "Systemische Beratung" in mine.body and "de, tr" in mine.body
    assert "jana@example.org" not in mine.body and counsellor.user_id not in mine.body

    await ask(counsellor, croom, bot, "profile team=no")
    assert name not in (await ask(client, room, bot, "team")).body


async def test_message_from_the_centre_arrives_encrypted_text_not_stored(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """`message` delivers into the client's service room (encrypted, from the assistant);
    `messages` lists the subject; the text is in no table; bad input sends nothing."""
    bot = running.cfg.assistant_mxid
    admin, room = await _admin_in_control_room(make_human, running, "nord")
    client = await make_human("empfang", centre="nord", role="client")
    client_room = await _service_room(client, bot)
    pseudonym = f"Wolke{secrets.token_hex(2)}"
    person = await running.rows.Person.get(client.user_id)
    assert person is not None and await person.set_display_name(pseudonym)

    secret = f"Ihr Termin ist verschoben {secrets.token_hex(4)}"
    before = len(client.notices(client_room, bot))
    sent = await ask(admin, room, bot, f'nachricht {pseudonym} "Neuer Termin" {secret}')
    assert "zugestellt" in sent.body and "keine bestätigte Adresse" in sent.body
    got = await client.next_notice(client_room, bot, before, contains=secret)
    assert got.encrypted and "Team von Beratungsstelle Nord: Neuer Termin" in got.body

    listing = await ask(admin, room, bot, "nachrichten")
    assert f"an {pseudonym}: „Neuer Termin“" in listing.body
    stored = await running.rows.CentreMessage.recent("nord", 5, client.user_id)
    assert [m.subject for m in stored] == ["Neuer Termin"]
    dump = await _database_dump(running)
    assert "Neuer Termin" in dump["centre_message"]
    assert not [t for t, text in dump.items() if secret in text]

    for text, snippet in (
        (f"nachricht niemand-{secrets.token_hex(2)} Betreff Text", "keine:n Ratsuchende:n"),
        (f'nachricht {pseudonym} "{"x" * 130}" Text', "höchstens 120 Zeichen"),
    ):
        assert snippet in (await ask(admin, room, bot, text)).body
    assert len(await running.rows.CentreMessage.recent("nord", 5, client.user_id)) == 1


def _ctx(running: LotseApp, user_id: str, centre: str, services: object) -> CommandContext:
    """What the assistant builds for an admin of ``centre`` (no Matrix room needed here)."""
    return CommandContext(
        user_id=user_id,
        role=Role.ADMIN,
        centre_id=centre,
        centre_name=centre,
        lang="en",
        room_id="!room:lotse.test",
        event_id=f"$evt{secrets.token_hex(4)}",
        renderer=running.renderer,
        registry=running.assistant.registry,
        extra={"services": services},
    )


async def test_last_admin_and_races_on_both_backends(running: LotseApp, database_url: str) -> None:
    """The last active admin cannot step down; two admins demoting each other at once leave
    one admin; two admins creating the same login at once: exactly one account."""
    async with opened(database_url) as db:
        services = dataclasses.replace(
            services_on(running.assistant.services, db), centre_rooms=None, service_rooms=None
        )

        def as_admin(user_id: str) -> CommandContext:
            return _ctx(running, user_id, "south", services)

        solo = await db.rows.Person.upsert("@solo:lotse.test", "south", "admin")
        reply = await run_command("counsellor role solo counsellor", as_admin(solo.user_id))
        assert reply is not None and "last active admin" in reply
        still = await db.rows.Person.get(solo.user_id)
        assert still is not None and still.role == "admin"

        other = await db.rows.Person.upsert("@other:lotse.test", "south", "admin")
        replies = await asyncio.gather(
            run_command("counsellor role other counsellor", as_admin(solo.user_id)),
            run_command("counsellor role solo counsellor", as_admin(other.user_id)),
        )
        assert sum("is now a counsellor" in str(r) for r in replies) == 1, replies
        assert sum("last active admin" in str(r) for r in replies) == 1, replies
        roles = {p.user_id: p.role for p in await db.rows.Person.all_in_centre("south")}
        assert sorted(roles.values()) == ["admin", "counsellor"]

        admin_id = next(u for u, r in roles.items() if r == "admin")
        login = f"race-{secrets.token_hex(3)}"
        text = f"counsellor new {login} Race Condition email=race@example.org"
        replies = await asyncio.gather(*(run_command(text, as_admin(admin_id)) for _ in range(2)))
        assert sum("has been created" in str(r) for r in replies) == 1, replies
        assert sum("already taken" in str(r) for r in replies) == 1, replies
        assert await services.admin.get_user(f"@{login}:lotse.test") is not None


async def test_tell_admins_uses_the_control_room_else_service_rooms(
    running: LotseApp, database_url: str
) -> None:
    """With a control room: one notice there. Before it exists: each admin who is not deleted
    hears it in their service room (both backends; the sent notices are recorded)."""
    sent: list[tuple[str, str]] = []

    async def record(room_id: RoomID, text: str, txn: str, **_: object) -> None:
        sent.append((room_id, text))

    async with opened(database_url) as db:
        services = dataclasses.replace(
            services_on(running.assistant.services, db), send_notice=record
        )
        for i, deleted in ((1, False), (2, False), (3, True)):
            admin = await db.rows.Person.upsert(f"@a{i}:lotse.test", "south", "admin")
            await admin.set_service_room(f"!service{i}:lotse.test")
            if deleted:
                await admin.set_account(deleted_at=1)
        assert await services.tell_admins("south", "new_request_for_staff", id=7) == 2
        assert sorted(r for r, _ in sent) == ["!service1:lotse.test", "!service2:lotse.test"]
        sent.clear()
        assert await db.rows.CentreRoom.add("south", "admin", "!control:lotse.test")
        assert await services.tell_admins("south", "new_request_for_staff", id=8) == 2
        assert [r for r, _ in sent] == ["!control:lotse.test"]
        assert "8" in sent[0][1]
