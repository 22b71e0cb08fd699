"""Transfer with consent (aygonet 3.4.1.5): a counselling moves only when the client agrees.

``transfer CLIENT COUNSELLOR`` (the client's counsellor or an admin) proposes; the client
answers ``consent ID`` or ``decline ID`` in their service room. On consent the steward
invites the new counsellor to the client's counselling rooms and removes the old one, and
the new counsellor becomes home counsellor. History visibility ``joined`` and E2EE keep
earlier messages unreadable to the new counsellor.
"""

from __future__ import annotations

import logging

from mautrix.errors import MatrixRequestError
from mautrix.types import RoomID, UserID

from appservice.db import CounsellingRequest, Person, Transfer
from appservice.db.transfer import CONSENTED, DECLINED
from mailgateway.notices import notify

from .commands import CLIENTS, STAFF, Argument, Role
from .dispatch import CommandContext
from .registry import registry
from .requests import STAFF_ROLES, request_number
from .services import BotServices, services_of

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
    who = await Person.find_in_centre(ctx.centre_id, client, roles=("client",))
    if who is None:
        return ctx.render("request_client_not_found", given=client)
    to = await Person.find_in_centre(ctx.centre_id, counsellor, roles=STAFF_ROLES)
    if to is None:
        return ctx.render("request_counsellor_not_found", given=counsellor)
    current = who.home_counsellor_id
    if current is None:
        return ctx.render("transfer_no_counsellor", client=who.name)
    if ctx.user_id != current and ctx.role != Role.ADMIN:
        return ctx.render("transfer_not_yours", client=who.name)
    if to.user_id == current:
        return ctx.render("transfer_same", client=who.name, counsellor=to.name)
    await Transfer.withdraw_open(who.user_id)
    transfer_id = await Transfer.propose(
        ctx.centre_id, who.user_id, current, to.user_id, ctx.user_id
    )
    services = services_of(ctx)
    await services.tell(who, "transfer_proposed_client", id=transfer_id, counsellor=to.name)
    await notify(who, "transfer_request")
    if ctx.role == Role.ADMIN:
        await services.audit(
            ctx.centre_id, ctx.user_id, "transfer", who.user_id, f"to {to.user_id}"
        )
    log.info("transfer %d proposed in %s", transfer_id, ctx.centre_id)
    return ctx.render("transfer_proposed", id=transfer_id, client=who.name, counsellor=to.name)


async def _decision(ctx: CommandContext, id: str, status: str) -> tuple[Transfer | None, str]:
    """The transfer if this client may decide it now, else the reply saying why not."""
    number = request_number(id)
    if number is None:
        return None, ctx.render("transfer_bad_id", given=id)
    transfer = await Transfer.get(number)
    if transfer is None or transfer.client_id != ctx.user_id:
        return None, ctx.render("transfer_not_found", id=number)
    if not await Transfer.decide(number, ctx.user_id, status):
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
    transfer, problem = await _decision(ctx, id, CONSENTED)
    if transfer is None:
        return problem
    services = services_of(ctx)
    new = await Person.get(transfer.to_id)
    old = await Person.get(transfer.from_id)
    client = await Person.get(transfer.client_id)
    assert client is not None
    rooms = await _move(services, transfer)
    await CounsellingRequest.hand_over(transfer.client_id, transfer.from_id, transfer.to_id)
    await client.set_home_counsellor(transfer.to_id)
    for person, template in ((new, "transfer_done_new"), (old, "transfer_done_old")):
        if person is not None:
            await services.tell(person, template, id=transfer.id, client=client.name)
    proposer = await Person.get(transfer.proposed_by)
    if proposer is not None and transfer.proposed_by not in (transfer.from_id, transfer.to_id):
        await services.tell(proposer, "transfer_done_old", id=transfer.id, client=client.name)
    log.info("transfer %d done: %d rooms", transfer.id, len(rooms))
    return ctx.render("transfer_consented", id=transfer.id, counsellor=new.name if new else "")


async def _move(services: BotServices, transfer: Transfer) -> list[str]:
    """Invite the new counsellor to the client's rooms with the old one, then remove the old."""
    rooms = await CounsellingRequest.rooms_with(transfer.client_id, transfer.from_id)
    steward = services.counselling_rooms
    for room_id in rooms:
        members = await steward.members(RoomID(room_id))
        if transfer.to_id not in members:
            await steward.invite(RoomID(room_id), UserID(transfer.to_id))
        if transfer.from_id in members:
            try:
                await steward.remove(RoomID(room_id), UserID(transfer.from_id), reason="transfer")
            except MatrixRequestError:
                continue
    return rooms


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
    transfer, problem = await _decision(ctx, id, DECLINED)
    if transfer is None:
        return problem
    services = services_of(ctx)
    client = await Person.get(transfer.client_id)
    name = client.name if client else transfer.client_id
    for user_id in dict.fromkeys((transfer.proposed_by, transfer.from_id)):
        person = await Person.get(user_id)
        if person is not None:
            await services.tell(person, "transfer_declined_staff", id=transfer.id, client=name)
    return ctx.render("transfer_declined", id=transfer.id)
