"""Groups through real E2EE clients: the steward's group room follows the group."""

from __future__ import annotations

import secrets

import pytest
from mautrix.types import Membership, RoomID
from nio import JoinedRoomsResponse

from appservice.app import LotseApp
from appservice.dev.client import ask
from bots.groups.groups import remove_client_from_groups
from tests.conftest import MakeHuman
from tests.test_notes import make_client
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse


async def test_group_room_follows_the_group(make_human: MakeHuman, running: LotseApp) -> None:
    """Created by the steward (encrypted, assistant absent), clients invited and removed as
    the group changes, renamed by an admin, closed on deletion; others may not change it."""
    bot, steward = running.cfg.assistant_mxid, running.cfg.steward_mxid
    anna_human, anna = await make_client(running.mail_rows, make_human)
    ben_human, ben = await make_client(running.mail_rows, make_human)
    _, south_client = await make_client(running.mail_rows, make_human, centre="south")
    creator = await make_human("gruppenleiterin", centre="nord", role="counsellor")
    colleague = await make_human("gruppenkollege", centre="nord", role="counsellor")
    admin = await make_human("gruppenadmin", centre="nord", role="admin")
    outsider = await make_human("southgroups", centre="south", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (creator, colleague, admin, outsider)}
    room = rooms[creator.user_id]
    name = f"Eltern-{secrets.token_hex(2)}"

    created = await ask(creator, room, bot, f'group new {name} description="Für Eltern"')
    group = await running.rows.ClientGroup.find("nord", name)
    assert group is not None and f"Nr. {group.id}" in created.body and group.room_id
    group_room = await creator.join_invite()
    assert group_room == group.room_id
    assert creator.client.rooms[group_room].encrypted
    assert steward in creator.members(group_room) and bot not in creator.members(group_room)
    assert creator.client.rooms[group_room].topic == "Für Eltern"
    assert creator.client.rooms[group_room].name == name

    added = await ask(creator, room, bot, f"group add {group.id} {anna}")
    assert anna in added.body
    assert await anna_human.join_invite() == group_room
    await ask(creator, room, bot, f"group add {name.upper()} {ben}")
    assert await ben_human.join_invite() == group_room
    again = await ask(creator, room, bot, f"group add {group.id} {anna}")
    assert "schon in der Gruppe" in again.body

    listing = await ask(colleague, rooms[colleague.user_id], bot, "groups")
    assert (
        name in listing.body
        and "2 Teilnehmer" in listing.body
        and "gruppenleiterin" in listing.body
    )

    # Neither a colleague nor another centre may change it; nothing changes.
    for text in (
        f"group remove {group.id} {anna}",
        f"group edit {group.id} name=X",
        f"group delete {group.id}",
    ):
        refused = await ask(colleague, rooms[colleague.user_id], bot, text)
        assert "nur" in refused.body and "Es wurde nichts geändert" in refused.body
    foreign = await ask(outsider, rooms[outsider.user_id], bot, f"group delete {group.id}")
    assert "no group" in foreign.body
    south = await ask(creator, room, bot, f"group add {group.id} {south_client}")
    assert "gibt es in Ihrer Beratungsstelle nicht" in south.body
    assert sorted(await group.members()) == sorted([anna_human.user_id, ben_human.user_id])
    outside_list = await ask(outsider, rooms[outsider.user_id], bot, "groups")
    assert name not in outside_list.body

    removed = await ask(creator, room, bot, f"group remove {group.id} {anna}")
    assert "nicht mehr in der Gruppe" in removed.body
    await creator.wait_left(group_room, anna_human.user_id)
    assert await group.members() == [ben_human.user_id]

    # Added again (a fresh invitation after the kick), then erased by the deletion routine.
    await ask(creator, room, bot, f"group add {group.id} {anna}")
    assert anna_human.user_id in await group.members()
    assert await remove_client_from_groups(running.assistant.services, anna_human.user_id) == 1
    assert await group.members() == [ben_human.user_id]
    states = {
        m.state_key: m.content.membership
        for m in await running.steward_intent.get_members(RoomID(group_room))
    }
    assert states[anna_human.user_id] == Membership.LEAVE

    new_name = f"Familie-{secrets.token_hex(2)}"
    edited = await ask(
        admin, rooms[admin.user_id], bot, f'group edit {name} name={new_name} description="Neu"'
    )
    assert new_name in edited.body
    await creator.wait_until(
        lambda: creator.client.rooms[group_room].name == new_name, 30, "the new room name"
    )
    assert creator.client.rooms[group_room].topic == "Neu"
    audit = await running.rows.AuditEntry.recent("nord", 5)
    assert any(e.actor_id == admin.user_id and e.action == "group edit" for e in audit)

    bad = await ask(creator, room, bot, "group new 123")
    assert "Ziffern" in bad.body
    taken = await ask(creator, room, bot, f"group new {new_name.lower()}")
    assert "gibt es schon" in taken.body

    # A client who left the group room by themselves is still taken out of the group.
    await ben_human.client.room_leave(group_room)
    await creator.wait_left(group_room, ben_human.user_id)
    gone = await ask(creator, room, bot, f"group remove {group.id} {ben}")
    assert "nicht mehr in der Gruppe" in gone.body
    assert await group.members() == []

    deleted = await ask(creator, room, bot, f"group delete {new_name}")
    assert new_name in deleted.body
    for human in (ben_human, creator):
        joined = await human.client.joined_rooms()
        assert isinstance(joined, JoinedRoomsResponse) and group_room not in joined.rooms
    assert await running.rows.ClientGroup.find("nord", str(group.id)) is None
    assert group_room not in await running.steward_intent.get_joined_rooms()
