"""A client deletes their own access (reference: BeraDIG "Zugang mit allem löschen").

``konto löschen`` answers with a fresh code and what will happen; ``konto löschen CODE``
within the code's lifetime marks the account for the deletion routine at once (exactly as an
admin's ``client delete``: an open request is withdrawn, ``client restore`` works until the
grace period is over), tells the person until when, and then locks the account and logs out
every device. The lock and logout run as a step after the answer is sent, so the answer is
encrypted for the devices that are still there.

Counsellors and admins cannot delete themselves this way: their work outlives them (notes,
requests, the last admin of a centre) and another admin decides (``counsellor delete``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from mautrix.types import EventID, RoomID

from appservice import once
from appservice.clock import now_ms
from bots.framework.commands import EVERYONE, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, rows_of, services_of
from bots.records import client_rules as rules
from bots.records.client_admin import _withdraw_request
from bots.records.clients import day

from .staff_rules import leaves_no_admin

registry = CommandRegistry()
log = logging.getLogger("lotse.self_service")

PURPOSE = "delete-account"
CODE_MINUTES = 10
CODE_LENGTH = 6
# No 0/O, 1/I/L: the code is read from a screen and typed back.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LOGOUT_STEP = "self_delete_logout"


def code_key(services: BotServices) -> bytes:
    """The key of the codes' keyed hashes: from the config's secret, never in the database."""
    secret = services.directory.cfg.encryption.pickle_key
    return hashlib.sha256(f"lotse account codes v1\x00{secret}".encode()).digest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@registry.command(
    "delete account",
    aliases=("konto löschen", "konto loeschen", "delete-account", "konto-loeschen"),
    roles=EVERYONE,
    section="general",
    args=(Argument("code", required=False, label={"de": "CODE", "en": "CODE"}),),
    help={
        "de": "Löscht Ihren Zugang mit allem, was hier über Sie gespeichert ist (erst nach "
        "Bestätigung mit einem Code)",
        "en": "Deletes your access with everything stored here about you (only after you "
        "confirm with a code)",
    },
    private=True,
)
async def delete_account(ctx: CommandContext, code: str | None = None) -> str:
    person = await rows_of(ctx).Person.get(ctx.user_id)
    if person is None:
        return ctx.render("internal_error", reference="no-person")
    if ctx.role is not Role.CLIENT:
        admins = {
            p.user_id: p.locked_at is None and p.deleted_at is None
            for p in await services_of(ctx).rows.Person.all_in_centre(
                ctx.centre_id, roles=("admin",)
            )
        }
        last = ctx.role is Role.ADMIN and leaves_no_admin(admins, ctx.user_id)
        return ctx.render("self_delete_refused", last_admin=last)
    services = services_of(ctx)
    grace = (await services.settings(ctx.centre_id)).deletion_grace_days
    now = now_ms()
    until = day(rules.erase_at(now, grace))
    key = code_key(services)
    if code is None:
        fresh = new_code()
        expires = now + CODE_MINUTES * 60 * 1000
        await services.rows.AccountCode.issue(key, ctx.user_id, PURPOSE, fresh, expires)
        return ctx.render(
            "self_delete_confirm", code=fresh, minutes=CODE_MINUTES, until=until, days=grace
        )
    checked = await services.rows.AccountCode.check(key, ctx.user_id, PURPOSE, code, now)
    if checked != "ok":
        return ctx.render("self_delete_code", problem=checked)
    await person.set_account(deleted_at=now)
    withdrawn = await _withdraw_request(services, person)
    detail = f"grace {grace} days" + (f"; request {withdrawn} withdrawn" if withdrawn else "")
    await services.audit(ctx.centre_id, ctx.user_id, "self_delete", ctx.user_id, detail)
    await services.tell_admins(ctx.centre_id, "self_deleted_admin", client=person.name, until=until)
    # The answer goes out first, then the step locks the account and ends every session.
    text = ctx.render("self_deleted", until=until, days=grace, request=withdrawn)
    scope = once.current()
    txn = scope.key("self-deleted") if scope is not None else f"self-deleted-{ctx.event_id}"
    await services.send_notice(RoomID(ctx.room_id), text, txn, reply_to=EventID(ctx.event_id))
    assert services.run_step is not None
    await services.run_step(LOGOUT_STEP, {"user_id": ctx.user_id})
    return ""


async def logout_step(services: BotServices, arg: dict[str, str]) -> None:
    """Lock the account (login refused) and delete every device; safe to run twice."""
    user_id = arg["user_id"]
    person = await services.rows.Person.get(user_id)
    if person is None or person.deleted_at is None:
        return  # restored in between: leave the account as it is
    await services.admin.lock(user_id)
    count = await services.admin.logout_everywhere(user_id)
    log.info("%s deleted their account: locked, %d devices logged out", user_id, count)


STEPS = {LOGOUT_STEP: logout_step}
