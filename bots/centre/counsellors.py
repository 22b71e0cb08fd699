"""Counsellor accounts, managed by the centre's admins (assisto "Beratendenverwaltung").

``counsellor new|role|deactivate|activate|delete`` and ``counsellors`` work in the admin
control room and in an admin's service room. Every check runs before anything changes;
every change is recorded in the audit log. People are only ever resolved inside the admin's
own centre, so one centre can neither see nor change another's staff.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mautrix.errors import MatrixError

from appservice.admin_api import AdminApiError
from appservice.clock import now_ms
from appservice.db import Person, Rows
from bots.accounts.departure import hand_back
from bots.accounts.staff_rules import (
    MAX_NAME,
    check_email,
    check_login,
    leaves_no_admin,
    parse_role,
    staff_status,
)
from bots.framework.commands import ADMINS, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, rows_of, services_of
from bots.records.clients import centre_of, when

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.counsellors")

STAFF = ("counsellor", "admin")

# Checks and changes of staff accounts run one at a time (one Lotse process per server), so
# of two admins creating the same login, or demoting each other, exactly one wins.
_staff_changes = asyncio.Lock()


def _one_at_a_time(handler: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
    @functools.wraps(handler)
    async def serialised(ctx: CommandContext, **kwargs: Any) -> str:
        async with _staff_changes:
            return await handler(ctx, **kwargs)

    return serialised


_LOGIN = Argument(
    "login", label={"de": "LOGIN", "en": "LOGIN"}, help={"de": "Login-Name", "en": "login name"}
)


async def _find(ctx: CommandContext, login: str) -> Person | None:
    """A counsellor or admin of the admin's own centre; nobody of another centre."""
    return await rows_of(ctx).Person.find_in_centre(ctx.centre_id, login, roles=STAFF)


async def _admins(rows: Rows, centre_id: str) -> dict[str, bool]:
    """Each admin of the centre → whether they can act (not locked, not deleted)."""
    return {
        p.user_id: p.locked_at is None and p.deleted_at is None
        for p in await rows.Person.all_in_centre(centre_id, roles=("admin",))
    }


def _config_admin(ctx: CommandContext, services: BotServices, user_id: str) -> bool:
    centre = services.directory.cfg.centre(ctx.centre_id)
    return centre is not None and user_id in centre.admins


async def _follow(services: BotServices, person: Person) -> None:
    if services.centre_rooms is not None:
        await services.centre_rooms.follow(person)


@registry.command(
    "counsellor new",
    aliases=("berater neu", "beraterin neu"),
    roles=ADMINS,
    section="admin",
    args=(
        _LOGIN,
        Argument(
            "name", rest=True, help={"de": "Name, den Ratsuchende sehen", "en": "name clients see"}
        ),
        Argument(
            "email",
            keyword=True,
            help={"de": "Adresse für die Einladung", "en": "address for the invitation"},
        ),
        Argument(
            "role",
            required=False,
            keyword=True,
            help={"de": "admin oder counsellor (Standard)", "en": "admin or counsellor (default)"},
        ),
    ),
    help={
        "de": "Legt eine:n Berater:in an (Matrix-Konto ohne Passwort, danach einladen)",
        "en": "Creates a counsellor (a Matrix account without password; invite them next)",
    },
)
@_one_at_a_time
async def counsellor_new(
    ctx: CommandContext, login: str, name: str, email: str, role: str = "counsellor"
) -> str:
    services = services_of(ctx)
    cfg = services.directory.cfg
    login = login.removeprefix("@").split(":", 1)[0] if login.startswith("@") else login
    problem = check_login(login, cfg.appservice.namespace_prefix, cfg.homeserver.domain)
    if problem is not None:
        return ctx.render(
            "counsellor_bad_login",
            problem=problem,
            login=login,
            suggestion=login.lower(),
            prefix=cfg.appservice.namespace_prefix,
        )
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return ctx.render("counsellor_bad_name", limit=MAX_NAME)
    email = email.strip()
    if not check_email(email):
        return ctx.render("counsellor_bad_email", given=email)
    chosen = parse_role(role)
    if chosen is None:
        return ctx.render("counsellor_bad_role", given=role)
    user_id = f"@{login}:{cfg.homeserver.domain}"
    if await services.rows.Person.get(user_id) is not None:
        return ctx.render("counsellor_login_taken", login=login)
    try:
        if await services.admin.get_user(user_id) is not None:
            return ctx.render("counsellor_login_taken", login=login)
        _, created = await services.admin.create_or_update_user(user_id, displayname=name)
    except AdminApiError as e:
        log.warning("creating %s failed: %s %s", user_id, e.status, e.errcode)
        if e.errcode == "M_USER_IN_USE":  # created a moment ago elsewhere
            return ctx.render("counsellor_login_taken", login=login)
        return ctx.render("counsellor_synapse_failed", errcode=e.errcode)
    if not created:  # another admin created the same login a moment ago
        return ctx.render("counsellor_login_taken", login=login)
    person = await services.directory.register(user_id, ctx.centre_id, chosen)
    await person.set_profile(display_name=name)
    await person.set_account(email=email)
    if services.service_rooms is not None:
        try:
            await services.service_rooms.create_for(person)
        except MatrixError as e:  # they can still open a chat with the assistant themselves
            log.warning("no service room for %s yet: %s", user_id, e)
    await _follow(services, person)
    await services.audit(ctx.centre_id, ctx.user_id, "counsellor.new", user_id, f"role={chosen}")
    log.info("%s created %s (%s) in %s", ctx.user_id, user_id, chosen, ctx.centre_id)
    return ctx.render(
        "counsellor_created", name=name, login=login, user_id=user_id, role=chosen, email=email
    )


@registry.command(
    "counsellors",
    aliases=("beratende",),
    roles=ADMINS,
    section="admin",
    help={
        "de": "Listet die Berater:innen und Admins Ihrer Beratungsstelle mit Status und "
        "letztem Login",
        "en": "Lists your centre's counsellors and admins with status and last login",
    },
)
async def counsellors_list(ctx: CommandContext) -> str:
    services = services_of(ctx)
    staff = await services.rows.Person.all_in_centre(ctx.centre_id, roles=STAFF)
    centre = centre_of(ctx)
    rows = []
    for person in sorted(staff, key=lambda p: p.name.lower()):
        last_seen: int | None = None
        known = True
        try:
            info = await services.admin.get_user(person.user_id)
            last_seen = info.last_seen_ts if info is not None else None
        except AdminApiError:
            known = False
        rows.append(
            {
                "name": person.name,
                "user_id": person.user_id,
                "role": person.role,
                "email": person.email or "",
                "status": staff_status(
                    person.deleted_at is not None,
                    person.locked_at is not None,
                    person.activated_at is not None,
                    person.invited_at is not None,
                    last_seen,
                ),
                "last_login": when(last_seen, centre.zone) if known else "?",
            }
        )
    return ctx.render("counsellors_list", counsellors=rows, timezone=centre.timezone)


@registry.command(
    "counsellor role",
    aliases=("berater rolle",),
    roles=ADMINS,
    section="admin",
    args=(
        _LOGIN,
        Argument(
            "role",
            label={"de": "ROLLE", "en": "ROLE"},
            help={"de": "admin oder counsellor", "en": "admin or counsellor"},
        ),
    ),
    help={
        "de": "Ändert die Rolle: admin oder counsellor (Berater:in)",
        "en": "Changes the role: admin or counsellor",
    },
)
@_one_at_a_time
async def counsellor_role(ctx: CommandContext, login: str, role: str) -> str:
    services = services_of(ctx)
    chosen = parse_role(role)
    if chosen is None:
        return ctx.render("counsellor_bad_role", given=role)
    person = await _find(ctx, login)
    if person is None:
        return ctx.render("counsellor_not_found", given=login)
    if person.deleted_at is not None:
        return ctx.render("counsellor_refused", reason="deleted", name=person.name)
    if person.role == chosen:
        return ctx.render("counsellor_unchanged", what="role", name=person.name, role=chosen)
    if chosen == "counsellor":
        if _config_admin(ctx, services, person.user_id):
            return ctx.render("counsellor_refused", reason="config_admin", name=person.name)
        if leaves_no_admin(await _admins(rows_of(ctx), ctx.centre_id), person.user_id):
            return ctx.render("counsellor_refused", reason="last_admin", name=person.name)
    person = await services.directory.register(person.user_id, ctx.centre_id, chosen)
    await _follow(services, person)
    await services.audit(
        ctx.centre_id, ctx.user_id, "counsellor.role", person.user_id, f"role={chosen}"
    )
    return ctx.render("counsellor_role_set", name=person.name, role=chosen)


async def _set_locked(ctx: CommandContext, login: str, locked: bool) -> str:
    services = services_of(ctx)
    person = await _find(ctx, login)
    if person is None:
        return ctx.render("counsellor_not_found", given=login)
    if person.deleted_at is not None:
        return ctx.render("counsellor_refused", reason="deleted", name=person.name)
    if (person.locked_at is not None) == locked:
        what = "deactivated" if locked else "active"
        return ctx.render("counsellor_unchanged", what=what, name=person.name, role=person.role)
    if locked:
        if person.user_id == ctx.user_id:
            return ctx.render("counsellor_refused", reason="self", name=person.name)
        if person.role == "admin" and leaves_no_admin(
            await _admins(rows_of(ctx), ctx.centre_id), person.user_id
        ):
            return ctx.render("counsellor_refused", reason="last_admin", name=person.name)
    try:
        if locked:
            await services.admin.lock(person.user_id)
        else:
            await services.admin.unlock(person.user_id)
    except AdminApiError as e:
        log.warning("(un)locking %s failed: %s %s", person.user_id, e.status, e.errcode)
        return ctx.render("counsellor_synapse_failed", errcode=e.errcode)
    await person.set_account(locked_at=now_ms() if locked else None)
    # Assignment skips "unavailable" staff: no request goes to an account that cannot log in.
    # Back from deactivation they are "away" until they say otherwise with `status`.
    await person.set_status("unavailable" if locked else "away")
    action = "counsellor.deactivate" if locked else "counsellor.activate"
    await services.audit(ctx.centre_id, ctx.user_id, action, person.user_id)
    fallback = locked and await _is_fallback(services, ctx.centre_id, person)
    return ctx.render("counsellor_locked", name=person.name, locked=locked, fallback=fallback)


async def _is_fallback(services: BotServices, centre_id: str, person: Person) -> bool:
    """Whether ``person`` is the centre's fallback counsellor (then the admin must choose anew:
    the assignment policy skips a locked or deleted fallback and requests wait in the pool)."""
    return (await services.settings(centre_id)).fallback_counsellor == person.user_id


@registry.command(
    "counsellor deactivate",
    aliases=("berater deaktivieren",),
    roles=ADMINS,
    section="admin",
    args=(_LOGIN,),
    help={
        "de": "Deaktiviert das Konto (sperrt die Anmeldung), bis Sie es wieder aktivieren",
        "en": "Deactivates the account (no login) until you activate it again",
    },
)
@_one_at_a_time
async def counsellor_deactivate(ctx: CommandContext, login: str) -> str:
    return await _set_locked(ctx, login, True)


@registry.command(
    "counsellor activate",
    aliases=("berater aktivieren",),
    roles=ADMINS,
    section="admin",
    args=(_LOGIN,),
    help={
        "de": "Aktiviert ein deaktiviertes Konto wieder",
        "en": "Activates a deactivated account again",
    },
)
@_one_at_a_time
async def counsellor_activate(ctx: CommandContext, login: str) -> str:
    return await _set_locked(ctx, login, False)


@registry.command(
    "counsellor delete",
    aliases=("berater loeschen", "berater löschen"),
    roles=ADMINS,
    section="admin",
    args=(_LOGIN,),
    help={
        "de": "Löscht das Konto: sofort gesperrt, aus Team- und Admin-Raum entfernt, nach der "
        "Löschfrist gelöscht",
        "en": "Deletes the account: locked at once, removed from the team and admin rooms, "
        "erased after the grace period",
    },
)
@_one_at_a_time
async def counsellor_delete(ctx: CommandContext, login: str) -> str:
    services = services_of(ctx)
    person = await _find(ctx, login)
    if person is None:
        return ctx.render("counsellor_not_found", given=login)
    if person.deleted_at is not None:
        return ctx.render("counsellor_unchanged", what="deleted", name=person.name, role="")
    if person.user_id == ctx.user_id:
        return ctx.render("counsellor_refused", reason="self", name=person.name)
    if _config_admin(ctx, services, person.user_id):
        return ctx.render("counsellor_refused", reason="config_admin", name=person.name)
    if person.role == "admin" and leaves_no_admin(
        await _admins(rows_of(ctx), ctx.centre_id), person.user_id
    ):
        return ctx.render("counsellor_refused", reason="last_admin", name=person.name)
    try:
        await services.admin.lock(person.user_id)
    except AdminApiError as e:
        log.warning("locking %s for deletion failed: %s %s", person.user_id, e.status, e.errcode)
        return ctx.render("counsellor_synapse_failed", errcode=e.errcode)
    await person.set_account(deleted_at=now_ms())
    await person.set_status("unavailable")  # no more requests for them
    await _follow(services, person)
    home_clients = [
        p
        for p in await services.rows.Person.all_in_centre(ctx.centre_id)
        if p.role == "client" and p.home_counsellor_id == person.user_id and p.deleted_at is None
    ]
    # Nobody they served waits for them: open requests are placed anew, home links dropped.
    handed = await hand_back(services, person)
    grace = (await services.settings(ctx.centre_id)).deletion_grace_days
    detail = f"home_clients={len(home_clients)}; requests_placed={len(handed)}"
    await services.audit(ctx.centre_id, ctx.user_id, "counsellor.delete", person.user_id, detail)
    return ctx.render(
        "counsellor_deleted",
        name=person.name,
        home_clients=len(home_clients),
        handed=len(handed),
        grace_days=grace,
        fallback=await _is_fallback(services, ctx.centre_id, person),
    )
