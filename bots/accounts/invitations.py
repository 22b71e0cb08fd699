"""Invitations: ``client invite`` (staff) and ``counsellor invite`` (admins).

A person whose account nobody has used yet gets a one-time link to the password page
(bots.web.invitation_page) where they set their first password. With an e-mail address the link
goes out through the durable mail outbox (sealed while it waits); without one (or with mail
switched off) the reply shows the link, for the counsellor to hand over in person (the
reference's one-time password link). A new invitation revokes the older link; deleted or
locked people get none.

An account in use is the person's own (DESIGN.md, privacy point 7): staff cannot hand out a
password link for it. The same command then mails a reset link to the person's confirmed
address, and only there (bots.accounts.password_reset); without a confirmed address nothing is sent,
and the reply says what the person can do.
"""

from __future__ import annotations

import logging
import time

from appservice.db import Person
from bots.framework.commands import ADMINS, STAFF, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of, services_of
from mailgateway.outbox import InvalidAddress, outbox_sealer, validate_address

from .invitation_rules import (
    account_in_use,
    expiry,
    hash_token,
    invitation_link,
    new_token,
    why_not_invitable,
)
from .password_reset import mail_reset_link

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.invitations")

CLIENT_ROLES = ("client",)
STAFF_ROLES = ("counsellor", "admin")


@registry.command(
    "client invite",
    aliases=("klient einladen",),
    roles=STAFF,
    section="clients",
    args=(Argument("client", rest=True, label={"de": "KLIENT", "en": "CLIENT"}),),
    help={
        "de": "Schickt einer/einem Ratsuchenden einen Einmal-Link, um das erste Passwort "
        "festzulegen (per E-Mail, sonst zum persönlichen Weitergeben); ist das Konto schon in "
        "Gebrauch, geht nur ein Link zum Zurücksetzen an die selbst bestätigte Adresse",
        "en": "Sends a client a one-time link to set their first password (by e-mail, "
        "otherwise for you to hand over in person); for an account in use only a reset link "
        "goes to the address the client confirmed",
    },
    private=True,
)
async def client_invite(ctx: CommandContext, client: str) -> str:
    person = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, client, roles=CLIENT_ROLES)
    if person is None:
        return ctx.render("invite_unknown_person", given=client, kind="client")
    return await _invite(ctx, person)


@registry.command(
    "counsellor invite",
    aliases=("berater einladen",),
    roles=ADMINS,
    section="admin",
    args=(Argument("login", rest=True, label={"de": "LOGIN", "en": "LOGIN"}),),
    help={
        "de": "Schickt einer Beraterin / einem Berater einen Einmal-Link, um das erste Passwort "
        "festzulegen; ist das Konto schon in Gebrauch, geht nur ein Link zum Zurücksetzen an "
        "die selbst bestätigte Adresse",
        "en": "Sends a counsellor a one-time link to set their first password; for an account "
        "in use only a reset link goes to the address they confirmed",
    },
    private=True,
)
async def counsellor_invite(ctx: CommandContext, login: str) -> str:
    person = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, login, roles=STAFF_ROLES)
    if person is None:
        return ctx.render("invite_unknown_person", given=login, kind="counsellor")
    return await _invite(ctx, person)


async def _invite(ctx: CommandContext, person: Person) -> str:
    """Create the link and deliver it; every refusal changes nothing."""
    services = services_of(ctx)
    cfg = services.directory.cfg
    reason = why_not_invitable(person.deleted_at, person.locked_at)
    if reason is not None:
        return ctx.render("invite_refused", who=person.name, reason=reason)
    account = await services.admin.get_user(person.user_id)
    if account is None or account.deactivated:
        return ctx.render("invite_no_account", who=person.name)
    if account.locked:  # locked on Synapse, even if Lotse's row does not say so
        return ctx.render("invite_refused", who=person.name, reason="locked")
    devices = await services.admin.device_count(person.user_id)
    if account_in_use(person.activated_at, account.last_seen_ts, devices):
        outcome = await mail_reset_link(
            cfg, services.mail_rows, services.admin, services.mail, person, ctx.user_id
        )
        await services.audit(ctx.centre_id, ctx.user_id, "reset_mail", person.user_id, outcome)
        log.info("%s is in use: no invitation; reset mail %s", person.user_id, outcome)
        reset_url = f"{cfg.public_web_url.rstrip('/')}/reset"
        return ctx.render("invite_in_use", who=person.name, outcome=outcome, reset_url=reset_url)

    now = int(time.time() * 1000)
    days = cfg.invitations.valid_days
    token = new_token()
    link = invitation_link(cfg.public_web_url, token)
    address, delivery = delivery_of(person.email, cfg.mail.enabled)
    invitation = await services.rows.Invitation.create(
        hash_token(token), person.user_id, person.centre_id, ctx.user_id, expiry(now, days), address
    )
    if address is not None:
        variables = {
            "centre_name": ctx.centre_name,
            "display_name": person.name,
            "link": link,
            "expires_days": days,
        }
        lang = services.directory.language_of(person)
        sealer = outbox_sealer(cfg.encryption.sealing_key, cfg.encryption.previous_sealing_keys)
        await services.mail_rows.Outbox.enqueue(
            address, "invitation", lang, variables, sealer=sealer
        )
    await person.set_account(invited_at=now)
    await services.audit(ctx.centre_id, ctx.user_id, "invite", person.user_id, delivery)
    log.info("invitation %d for %s (%s)", invitation.id, person.user_id, delivery)
    if delivery == "email":
        # E-mail addresses are for admins' eyes only (as in the reference's profile).
        shown = address if ctx.role is Role.ADMIN else None
        return ctx.render("invite_sent", who=person.name, email=shown, days=days)
    return ctx.render("invite_link", who=person.name, link=link, days=days, reason=delivery)


def delivery_of(email: str | None, mail_enabled: bool) -> tuple[str | None, str]:
    """(address to mail the link to, how it is delivered): ``email``, or why the reply shows
    the link: ``no_email``, ``mail_off`` (mail not configured), ``bad_email``."""
    if not email:
        return None, "no_email"
    if not mail_enabled:
        return None, "mail_off"
    try:
        return validate_address(email), "email"
    except InvalidAddress:
        return None, "bad_email"
