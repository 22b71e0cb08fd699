"""Groups of clients, each with an encrypted group room run by the steward.

Any counsellor creates a group; its creator or an admin changes it (name, description,
members) or deletes it, as in the reference ("als Berater:in ausschließlich die selbst
angelegten Gruppen", admins all). Groups are named by number or by their name, which is
unique in the centre. Clients see a group as its room: name and description are the room's
name and topic.
"""

from __future__ import annotations

import logging

from mautrix.errors import MatrixError
from mautrix.types import RoomID, UserID

from appservice.db import ClientGroup, Person
from bots.framework.commands import STAFF, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.names import Names
from bots.framework.services import BotServices, rows_of, services_of
from bots.records.notes import CLIENT_ARG, find_client
from bridge.group_rooms import GroupRooms

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.groups")

MAX_NAME = 80
MAX_DESCRIPTION = 500

GROUP_ARG = Argument(
    "group",
    label={"de": "GRUPPE", "en": "GROUP"},
    help={"de": "Nummer oder Name der Gruppe", "en": "number or name of the group"},
)


def name_problem(name: str) -> str | None:
    """Why a group name cannot be used (``empty``, ``number``, ``too_long``), else None."""
    if not name.strip():
        return "empty"
    if name.strip().isdigit():
        return "number"  # numbers name groups by their id
    if len(name) > MAX_NAME:
        return "too_long"
    return None


def may_change(role: Role, user_id: str, group: ClientGroup) -> bool:
    """Only the creator or an admin of the centre changes or deletes a group."""
    return role is Role.ADMIN or group.creator_id == user_id


def _rooms(ctx: CommandContext) -> GroupRooms:
    return GroupRooms(services_of(ctx).counselling_rooms)


async def _changeable(ctx: CommandContext, text: str) -> ClientGroup | str:
    group = await rows_of(ctx).ClientGroup.find(ctx.centre_id, text)
    if group is None:
        return ctx.render("group_not_found", given=text)
    if not may_change(ctx.role, ctx.user_id, group):
        creator = await rows_of(ctx).Person.get(group.creator_id)
        return ctx.render(
            "group_not_allowed", group=group.name, creator=creator.name if creator else ""
        )
    return group


async def _audit(ctx: CommandContext, group: ClientGroup, action: str, target: str = "") -> None:
    """Admins' changes are admin actions: who, which group, whom. Never the description."""
    if ctx.role is Role.ADMIN:
        detail = f"group {group.id}"
        await services_of(ctx).audit(ctx.centre_id, ctx.user_id, action, target, detail)


@registry.command(
    "group new",
    aliases=("gruppe neu",),
    roles=STAFF,
    section="groups",
    args=(
        Argument("name", rest=True, label={"de": "NAME", "en": "NAME"}),
        Argument("description", required=False, keyword=True),
    ),
    help={
        "de": "Legt eine Gruppe mit verschlüsseltem Gruppenraum an; Name und Beschreibung "
        "sehen die Ratsuchenden",
        "en": "Creates a group with an encrypted group room; clients see name and description",
    },
)
async def group_new(ctx: CommandContext, name: str, description: str = "") -> str:
    name = " ".join(name.split())
    problem = name_problem(name)
    if problem:
        return ctx.render("group_bad_name", problem=problem, maximum=MAX_NAME)
    if len(description) > MAX_DESCRIPTION:
        return ctx.render("group_bad_description", maximum=MAX_DESCRIPTION)
    group = await rows_of(ctx).ClientGroup.create(
        ctx.centre_id, name, description.strip(), ctx.user_id
    )
    if group is None:
        return ctx.render("group_exists", title=name)
    try:
        room_id = await _rooms(ctx).create(
            name, group.description, UserID(ctx.user_id), ctx.centre_id
        )
    except MatrixError as e:
        log.warning("group room for group %d not created: %s", group.id, type(e).__name__)
        await group.delete()
        return ctx.render("group_room_failed")
    await group.set_room(room_id)
    await _audit(ctx, group, "group new")
    return ctx.render("group_created", id=group.id, title=name)


@registry.command(
    "groups",
    aliases=("gruppen",),
    roles=STAFF,
    section="groups",
    help={
        "de": "Zeigt die Gruppen Ihrer Beratungsstelle mit Anzahl der Teilnehmer:innen",
        "en": "Lists your centre's groups with their number of members",
    },
)
async def groups_list(ctx: CommandContext) -> str:
    counts = await rows_of(ctx).ClientGroup.member_counts(ctx.centre_id)
    names = Names(ctx)
    rows = []
    for group in await rows_of(ctx).ClientGroup.all_in_centre(ctx.centre_id):
        rows.append(
            {
                "id": group.id,
                "name": group.name,
                "description": group.description,
                "members": counts.get(group.id, 0),
                "creator": await names.of(group.creator_id),
                "mine": may_change(ctx.role, ctx.user_id, group),
            }
        )
    return ctx.render("groups_list", groups=rows)


async def _group_and_client(
    ctx: CommandContext, group: str, client: str
) -> tuple[ClientGroup, Person] | str:
    """The group the asker may change and a client of their centre, or the refusal to send."""
    found = await _changeable(ctx, group)
    if isinstance(found, str):
        return found
    person = await find_client(ctx, client)
    if person is None:
        return ctx.render("client_unknown_here", given=client)
    return found, person


@registry.command(
    "group add",
    aliases=("gruppe hinzufügen",),
    roles=STAFF,
    section="groups",
    args=(GROUP_ARG, CLIENT_ARG),
    help={
        "de": "Nimmt eine:n Ratsuchende:n in die Gruppe auf (Einladung in den Gruppenraum)",
        "en": "Adds a client to the group (invited to the group room)",
    },
)
async def group_add(ctx: CommandContext, group: str, client: str) -> str:
    pair = await _group_and_client(ctx, group, client)
    if isinstance(pair, str):
        return pair
    found, person = pair
    if not await found.add_member(person.user_id):
        return ctx.render("group_already_member", group=found.name, client=person.name)
    if found.room_id:
        try:
            await _rooms(ctx).invite(RoomID(found.room_id), UserID(person.user_id))
        except MatrixError as e:
            log.warning("invite to group %d failed: %s", found.id, type(e).__name__)
            await found.remove_member(person.user_id)
            return ctx.render("group_room_failed")
    await _audit(ctx, found, "group add", person.user_id)
    return ctx.render("group_member_added", group=found.name, client=person.name)


@registry.command(
    "group remove",
    aliases=("gruppe entfernen",),
    roles=STAFF,
    section="groups",
    args=(GROUP_ARG, CLIENT_ARG),
    help={
        "de": "Nimmt eine:n Ratsuchende:n aus der Gruppe (und aus dem Gruppenraum)",
        "en": "Removes a client from the group (and from the group room)",
    },
)
async def group_remove(ctx: CommandContext, group: str, client: str) -> str:
    pair = await _group_and_client(ctx, group, client)
    if isinstance(pair, str):
        return pair
    found, person = pair
    if not await found.remove_member(person.user_id):
        return ctx.render("group_not_member", group=found.name, client=person.name)
    if found.room_id:
        try:
            await _rooms(ctx).remove(RoomID(found.room_id), UserID(person.user_id))
        except MatrixError as e:
            # Already gone from the room (left by themselves): the group change still stands.
            log.info("group %d: removing from the room failed: %s", found.id, type(e).__name__)
    await _audit(ctx, found, "group remove", person.user_id)
    return ctx.render("group_member_removed", group=found.name, client=person.name)


@registry.command(
    "group edit",
    aliases=("gruppe bearbeiten",),
    roles=STAFF,
    section="groups",
    args=(
        GROUP_ARG,
        Argument("name", required=False, keyword=True),
        Argument("description", required=False, keyword=True),
    ),
    help={
        "de": "Ändert Name und/oder Beschreibung einer Gruppe (`name=…`, `description=…`)",
        "en": "Changes a group's name and/or description (`name=…`, `description=…`)",
    },
)
async def group_edit(
    ctx: CommandContext, group: str, name: str | None = None, description: str | None = None
) -> str:
    found = await _changeable(ctx, group)
    if isinstance(found, str):
        return found
    if name is None and description is None:
        return ctx.render("group_edit_nothing", group=found.name)
    new_name = " ".join(name.split()) if name is not None else found.name
    problem = name_problem(new_name)
    if problem:
        return ctx.render("group_bad_name", problem=problem, maximum=MAX_NAME)
    new_description = description.strip() if description is not None else found.description
    if len(new_description) > MAX_DESCRIPTION:
        return ctx.render("group_bad_description", maximum=MAX_DESCRIPTION)
    old = (found.name, found.description)
    if not await found.update(new_name, new_description):
        return ctx.render("group_exists", title=new_name)
    if found.room_id:
        try:
            await _rooms(ctx).describe(
                RoomID(found.room_id), new_name, new_description, ctx.centre_id
            )
        except MatrixError as e:
            log.warning("group room %d not renamed: %s", found.id, type(e).__name__)
            await found.update(*old)
            return ctx.render("group_room_failed")
    await _audit(ctx, found, "group edit")
    return ctx.render("group_edited", id=found.id, title=found.name)


@registry.command(
    "group delete",
    aliases=("gruppe löschen", "gruppe loeschen"),
    roles=STAFF,
    section="groups",
    args=(GROUP_ARG,),
    help={
        "de": "Löscht eine Gruppe; der Gruppenraum wird geschlossen (alle werden entfernt)",
        "en": "Deletes a group; its room is closed (everyone is removed)",
    },
)
async def group_delete(ctx: CommandContext, group: str) -> str:
    found = await _changeable(ctx, group)
    if isinstance(found, str):
        return found
    if not await found.delete():
        return ctx.render("group_not_found", given=group)  # someone else was quicker
    if found.room_id:
        try:
            await _rooms(ctx).close(RoomID(found.room_id), reason="group deleted")
        except MatrixError as e:
            log.warning("group room of group %d not closed: %s", found.id, type(e).__name__)
    await _audit(ctx, found, "group delete")
    return ctx.render("group_deleted", title=found.name)


async def remove_client_from_groups(services: BotServices, client_id: str) -> int:
    """For the deletion routine: the client leaves every group and its room."""
    rooms = GroupRooms(services.counselling_rooms)
    groups = await services.rows.ClientGroup.of_client(client_id)
    for group in groups:
        await group.remove_member(client_id)
        if group.room_id:
            try:
                await rooms.remove(RoomID(group.room_id), UserID(client_id))
            except MatrixError as e:
                log.warning("group room %d kept a deleted client: %s", group.id, type(e).__name__)
    return len(groups)
