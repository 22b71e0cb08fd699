"""Admins only: lock and unlock a client's login, delete (marked for the deletion routine)
and restore within the centre's grace period. Reference: assisto "Ratsuchende:n sperren /
löschen / wiederherstellen (Zugriff nur für Admins)".

Locking is Synapse's account lock: login and existing tokens get 401 M_USER_LOCKED.
Deleting locks too, but ``locked_at`` records only the admin's own lock, so a restore
unlocks exactly those who were not locked before.

Deleting also withdraws the client's open request: it leaves ``requests``, the staff invited
to a pool room nobody accepted yet are removed from it, and an assigned counsellor is told.
A restore does not reopen it; the client can simply ask again.
"""

from __future__ import annotations

import logging

from mautrix.errors import MatrixRequestError
from mautrix.types import RoomID, UserID

from appservice.clock import now_ms
from appservice.db import Person
from bots.framework.commands import ADMINS, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, services_of

from . import client_rules as rules
from .clients import day, find_client, problem

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.client_admin")

_ID = (Argument("client", rest=True, label={"de": "KLIENT", "en": "CLIENT"}),)


@registry.command(
    "client lock",
    aliases=("klient sperren",),
    roles=ADMINS,
    section="clients",
    args=_ID,
    help={
        "de": "Sperrt eine:n Ratsuchende:n: sie/er kann sich nicht mehr anmelden",
        "en": "Locks a client: they cannot log in any more",
    },
)
async def client_lock(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    if person.deleted_at is not None:
        return problem(ctx, "deleted", client=person.name)
    if person.locked_at is not None:
        return problem(ctx, "already_locked", client=person.name)
    services = services_of(ctx)
    await services.admin.lock(person.user_id)
    await person.set_account(locked_at=now_ms())
    await services.audit(ctx.centre_id, ctx.user_id, "client_lock", person.user_id)
    return ctx.render("client_lock_changed", client=person.name, locked=True)


@registry.command(
    "client unlock",
    aliases=("klient entsperren",),
    roles=ADMINS,
    section="clients",
    args=_ID,
    help={
        "de": "Hebt die Sperre einer/eines Ratsuchenden auf",
        "en": "Unlocks a client so they can log in again",
    },
)
async def client_unlock(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    if person.deleted_at is not None:
        return problem(ctx, "deleted", client=person.name)
    if person.locked_at is None:
        return problem(ctx, "not_locked", client=person.name)
    services = services_of(ctx)
    await services.admin.unlock(person.user_id)
    await person.set_account(locked_at=None)
    await services.audit(ctx.centre_id, ctx.user_id, "client_unlock", person.user_id)
    return ctx.render("client_lock_changed", client=person.name, locked=False)


@registry.command(
    "client delete",
    aliases=("klient loeschen", "klient löschen"),
    roles=ADMINS,
    section="clients",
    args=_ID,
    help={
        "de": "Löscht eine:n Ratsuchende:n: Anmelden ist sofort gesperrt, eine offene Anfrage "
        "wird zurückgezogen; nach der Löschfrist wird alles endgültig gelöscht, bis dahin geht "
        "`client restore`",
        "en": "Deletes a client: login is refused at once and an open request is withdrawn; "
        "after the grace period everything is erased for good, until then `client restore` "
        "undoes it",
    },
)
async def client_delete(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    services = services_of(ctx)
    grace = (await services.settings(ctx.centre_id)).deletion_grace_days
    if person.deleted_at is not None:
        until = day(rules.erase_at(person.deleted_at, grace))
        return problem(ctx, "already_deleted", client=person.name, until=until)
    await services.admin.lock(person.user_id)
    now = now_ms()
    await person.set_account(deleted_at=now)
    withdrawn = await _withdraw_request(services, person)
    detail = f"grace {grace} days" + (f"; request {withdrawn} withdrawn" if withdrawn else "")
    await services.audit(ctx.centre_id, ctx.user_id, "client_delete", person.user_id, detail)
    return ctx.render(
        "client_deleted",
        client=person.name,
        until=day(rules.erase_at(now, grace)),
        days=grace,
        request=withdrawn,
    )


async def _withdraw_request(services: BotServices, client: Person) -> int | None:
    """Close the client's open request; clear its pool room or tell its counsellor."""
    request = await services.rows.CounsellingRequest.withdraw(client.user_id)
    if request is None:
        return None
    rooms = services.counselling_rooms
    if request.counsellor_id is None and request.room_id:
        # Nobody accepted it: the on-duty staff invited to the pool room leave it again, so
        # the room of a deleted client does not linger in their room list.
        room_id = RoomID(request.room_id)
        keep = {client.user_id, str(rooms.steward.mxid)}
        try:
            members = await rooms.members(room_id)
        except MatrixRequestError as e:  # the request is withdrawn all the same
            log.warning("pool room of request %d not cleared: %s", request.id, e.errcode)
            members = set()
        for user_id in sorted(members - keep):
            try:
                await rooms.remove(room_id, UserID(user_id), reason="request withdrawn")
            except MatrixRequestError:
                continue  # already gone
    elif request.counsellor_id is not None:
        counsellor = await services.rows.Person.get(request.counsellor_id)
        if counsellor is not None:
            await services.tell(
                counsellor, "request_withdrawn_staff", id=request.id, client=client.name
            )
    log.info("request %d withdrawn: client %s deleted", request.id, client.user_id)
    return request.id


@registry.command(
    "client restore",
    aliases=("klient wiederherstellen",),
    roles=ADMINS,
    section="clients",
    args=_ID,
    help={
        "de": "Stellt eine:n gelöschte:n Ratsuchende:n innerhalb der Löschfrist unverändert "
        "wieder her",
        "en": "Restores a deleted client within the grace period, with everything intact",
    },
)
async def client_restore(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    if person.deleted_at is None:
        return problem(ctx, "not_deleted", client=person.name)
    services = services_of(ctx)
    grace = (await services.settings(ctx.centre_id)).deletion_grace_days
    until = day(rules.erase_at(person.deleted_at, grace))
    if not rules.restorable(person.deleted_at, grace, now_ms()):
        return problem(ctx, "grace_over", client=person.name, until=until)
    if not await services.rows.ErasedPerson.restore(person.user_id, person.deleted_at):
        # The deletion routine claimed the person a moment ago: the erasure wins.
        return problem(ctx, "grace_over", client=person.name, until=until)
    if person.locked_at is None:
        await services.admin.unlock(person.user_id)
    await services.audit(ctx.centre_id, ctx.user_id, "client_restore", person.user_id)
    # A request withdrawn at the deletion stays closed; the client asks again if they wish.
    withdrawn = None
    if await services.rows.CounsellingRequest.open_for_client(person.user_id) is None:
        withdrawn = await services.rows.CounsellingRequest.last_withdrawn(person.user_id)
    return ctx.render(
        "client_restored",
        client=person.name,
        locked=person.locked_at is not None,
        withdrawn=withdrawn,
    )
