"""Transfer with consent (aygonet 3.4.1.5): a counselling moves only when the client agrees.

``transfer CLIENT COUNSELLOR`` (the client's counsellor or an admin) proposes; the client
answers ``consent ID`` or ``decline ID`` in their service room. On consent the steward
invites the new counsellor to the client's counselling rooms and removes the old one, and
the new counsellor becomes home counsellor. History visibility ``joined`` and E2EE keep
earlier messages unreadable to the new counsellor.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from mautrix.errors import MatrixError
from mautrix.types import RoomID, UserID

from appservice.db import Person, Transfer
from appservice.db.transfer import CONSENTED, DECLINED, PROPOSED
from appservice.once import Rollback
from bots.framework.commands import CLIENTS, STAFF, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, rows_of, services_of
from bridge.counselling_rooms import CounsellingRooms

from .requests import STAFF_ROLES, account_of, request_number

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.transfer")


@registry.command(
    "transfer",
    aliases=("uebergeben", "übergeben"),
    roles=STAFF,
    section="clients",
    args=(
        Argument("client", label={"de": "KLIENT", "en": "CLIENT"}),
        Argument("counsellor", label={"de": "BERATER", "en": "COUNSELLOR"}),
    ),
    help={
        "de": "Schlägt vor, eine:n Ratsuchende:n an eine Kollegin oder einen Kollegen zu "
        "übergeben; es geschieht erst mit Zustimmung",
        "en": "Proposes handing a client to a colleague; it happens only with their consent",
    },
)
async def transfer_command(ctx: CommandContext, client: str, counsellor: str) -> str:
    who = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, client, roles=("client",))
    if who is None:
        return ctx.render("request_client_not_found", given=client)
    to = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, counsellor, roles=STAFF_ROLES)
    if to is None:
        return ctx.render("request_counsellor_not_found", given=counsellor)
    return await propose_transfer(ctx, who, to)


async def propose_transfer(ctx: CommandContext, who: Person, to: Person) -> str:
    """Propose handing ``who`` to ``to`` (``transfer`` and ``client home``): it happens only
    when the client consents. Only their home counsellor or an admin proposes."""
    current = who.home_counsellor_id
    if current is None:
        return ctx.render("transfer_no_counsellor", client=who.name)
    if ctx.user_id != current and ctx.role != Role.ADMIN:
        return ctx.render("transfer_not_yours", client=who.name)
    if to.user_id == current:
        return ctx.render("transfer_same", client=who.name, counsellor=to.name)
    if account_of(to) != "active":
        return ctx.render("request_counsellor_not_found", given=to.name)
    # An older open proposal for the client is withdrawn in the same transaction.
    transfer_id = await rows_of(ctx).Transfer.propose(
        ctx.centre_id, who.user_id, current, to.user_id, ctx.user_id
    )
    services = services_of(ctx)
    await services.tell(who, "transfer_proposed_client", id=transfer_id, counsellor=to.name)
    await services.notify(who, "transfer_request")
    if ctx.role == Role.ADMIN:
        await services.audit(
            ctx.centre_id, ctx.user_id, "transfer", who.user_id, f"to {to.user_id}"
        )
    log.info("transfer %d proposed in %s", transfer_id, ctx.centre_id)
    return ctx.render("transfer_proposed", id=transfer_id, client=who.name, counsellor=to.name)


def consent_obstacle(
    transfer: Transfer, client: Person | None, target: Person | None
) -> str | None:
    """Why a consented transfer can no longer happen, judged on the present (pure).

    ``home_changed``: the proposing side is no longer the client's home counsellor;
    ``counsellor_gone``: the new counsellor is no longer active staff of the centre.
    """
    if client is None or client.home_counsellor_id != transfer.from_id:
        return "home_changed"
    if (
        target is None
        or target.role not in STAFF_ROLES
        or target.centre_id != transfer.centre_id
        or account_of(target) != "active"
    ):
        return "counsellor_gone"
    return None


async def _open_transfer(ctx: CommandContext, id: str) -> tuple[Transfer | None, str]:
    """The client's own transfer, still open; else the reply saying why not."""
    number = request_number(id)
    if number is None:
        return None, ctx.render("transfer_bad_id", given=id)
    transfer = await rows_of(ctx).Transfer.get(number)
    if transfer is None or transfer.client_id != ctx.user_id:
        return None, ctx.render("transfer_not_found", id=number)
    if transfer.status != PROPOSED:
        return None, ctx.render("transfer_decided", id=number)
    return transfer, ""


@registry.command(
    "consent",
    aliases=("zustimmen",),
    roles=CLIENTS,
    section="requests",
    args=(Argument("id", label={"de": "NR", "en": "ID"}),),
    help={
        "de": "Stimmt der vorgeschlagenen Übergabe an eine andere Beraterin oder einen anderen "
        "Berater zu",
        "en": "Agrees to the proposed handover to another counsellor",
    },
)
async def consent_command(ctx: CommandContext, id: str) -> str:
    """Check the present, change the database, then move the rooms; a failed move undoes
    itself and rolls the database back, so there is never a half-done transfer."""
    transfer, problem = await _open_transfer(ctx, id)
    if transfer is None:
        return problem
    services = services_of(ctx)
    client = await services.rows.Person.get(transfer.client_id)
    new = await services.rows.Person.get(transfer.to_id)
    obstacle = consent_obstacle(transfer, client, new)
    if obstacle is not None or client is None or new is None:
        return await _void(ctx, services, transfer, client, obstacle or "home_changed")
    if not await services.rows.Transfer.decide(transfer.id, ctx.user_id, CONSENTED):
        return ctx.render("transfer_decided", id=transfer.id)
    held = await services.rows.CounsellingRequest.rooms_with(transfer.client_id, transfer.from_id)
    rooms = [RoomID(r) for r in held]
    await services.rows.CounsellingRequest.hand_over(
        transfer.client_id, transfer.from_id, transfer.to_id
    )
    await client.set_home_counsellor(transfer.to_id)
    try:
        await _move(services.counselling_rooms, rooms, transfer)
    except MatrixError as e:
        log.warning("transfer %d: moving the rooms failed (%s); nothing changed", transfer.id, e)
        raise Rollback(ctx.render("transfer_failed", id=transfer.id)) from e
    old = await services.rows.Person.get(transfer.from_id)
    for person, template in ((new, "transfer_done_new"), (old, "transfer_done_old")):
        if person is not None:
            await services.tell(person, template, id=transfer.id, client=client.name)
    proposer = await services.rows.Person.get(transfer.proposed_by)
    if proposer is not None and transfer.proposed_by not in (transfer.from_id, transfer.to_id):
        await services.tell(proposer, "transfer_done_old", id=transfer.id, client=client.name)
    log.info("transfer %d done: %d rooms", transfer.id, len(rooms))
    return ctx.render("transfer_consented", id=transfer.id, counsellor=new.name)


async def _void(
    ctx: CommandContext,
    services: BotServices,
    transfer: Transfer,
    client: Person | None,
    reason: str,
) -> str:
    """The proposal no longer fits the present: it is withdrawn and nothing else changes."""
    if not await services.rows.Transfer.withdraw(transfer.id):
        return ctx.render("transfer_decided", id=transfer.id)
    proposer = await services.rows.Person.get(transfer.proposed_by)
    name = client.name if client else transfer.client_id
    if proposer is not None:
        await services.tell(
            proposer, "transfer_void_staff", id=transfer.id, client=name, reason=reason
        )
    log.info("transfer %d withdrawn on consent: %s", transfer.id, reason)
    return ctx.render("transfer_void", id=transfer.id, reason=reason)


async def _move(steward: CounsellingRooms, rooms: list[RoomID], transfer: Transfer) -> None:
    """Invite the new counsellor to the client's rooms, then remove the old one.

    All or nothing: on a Matrix error the steps done so far are undone (the new
    counsellor's invitations withdrawn, the old counsellor invited back) and the error is
    raised, so the caller rolls the database back as well.
    """
    new, old = UserID(transfer.to_id), UserID(transfer.from_id)
    invited: list[RoomID] = []
    removed: list[RoomID] = []
    try:
        members: dict[RoomID, set[str]] = {}
        for room_id in rooms:
            members[room_id] = await steward.members(room_id)
            if new not in members[room_id]:
                await steward.invite(room_id, new)
                invited.append(room_id)
        for room_id in rooms:
            if old in members[room_id]:
                await steward.remove(room_id, old, reason="transfer")
                removed.append(room_id)
    except MatrixError:
        for room_id in removed:
            await _undo(steward.invite(room_id, old), "invite back", room_id)
        for room_id in invited:
            await _undo(steward.remove(room_id, new, reason="transfer failed"), "uninvite", room_id)
        raise


async def _undo(step: Awaitable[None], what: str, room_id: RoomID) -> None:
    try:
        await step
    except MatrixError as e:
        log.error("transfer undo (%s) failed in %s: %s", what, room_id, e)


@registry.command(
    "decline",
    aliases=("ablehnen",),
    roles=CLIENTS,
    section="requests",
    args=(Argument("id", label={"de": "NR", "en": "ID"}),),
    help={
        "de": "Lehnt die vorgeschlagene Übergabe ab; Ihre Beratung bleibt, wie sie ist",
        "en": "Declines the proposed handover; your counselling stays as it is",
    },
)
async def decline_command(ctx: CommandContext, id: str) -> str:
    transfer, problem = await _open_transfer(ctx, id)
    if transfer is None:
        return problem
    if not await rows_of(ctx).Transfer.decide(transfer.id, ctx.user_id, DECLINED):
        return ctx.render("transfer_decided", id=transfer.id)
    services = services_of(ctx)
    client = await services.rows.Person.get(transfer.client_id)
    name = client.name if client else transfer.client_id
    for user_id in dict.fromkeys((transfer.proposed_by, transfer.from_id)):
        person = await services.rows.Person.get(user_id)
        if person is not None:
            await services.tell(person, "transfer_declined_staff", id=transfer.id, client=name)
    return ctx.render("transfer_declined", id=transfer.id)
