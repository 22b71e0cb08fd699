"""`email` and `notifications`: each person manages their notification mail (issue 5).

`email ADDRESS` starts the double opt-in: the address waits in ``mail_confirmation`` and
gets one confirmation mail with a link; only after the link is used does it become the
person's address (``person.email``) and receive anything else. `email` shows the state
(including a bouncing address), `email off` removes the address. `notifications
on|off|delay MIN` switch notification mail and set the delay before an unread room is
mailed about.
"""

from __future__ import annotations

import time

from appservice.db import Person
from bots.framework.commands import EVERYONE, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of, services_of
from mailgateway import notices
from mailgateway.addresses import normalize
from mailgateway.notices import MailNotices
from mailgateway.outbox import InvalidAddress, validate_address
from mailgateway.preferences import MAX_DELAY_MINUTES, MIN_DELAY_MINUTES
from mailgateway.rows import MailRows

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

OFF_WORDS = ("off", "aus", "keine", "none")
ON_WORDS = ("on", "an", "ein")
DELAY_WORDS = ("delay", "verzoegerung", "verzögerung")
# Confirmation links a person may ask for per hour (so nobody floods someone's mailbox).
CONFIRMATIONS_PER_HOUR = 5


async def _me(ctx: CommandContext) -> Person:
    person = await rows_of(ctx).Person.get(ctx.user_id)
    assert person is not None, "commands only run for known people"
    return person


async def _status(ctx: CommandContext, person: Person) -> str:
    facts = await notices.facts_of(services_of(ctx).mail_rows, person)
    preference = await services_of(ctx).mail_rows.Preferences.get(person.user_id)
    pending = await services_of(ctx).mail_rows.Preferences.pending(person.user_id)
    if not facts.address:
        state = "none"
    elif facts.bouncing:
        state = "bouncing"
    elif facts.confirmed:
        state = "confirmed"
    else:
        state = "unconfirmed"
    return ctx.render(
        "email_status",
        address=facts.address or "",
        state=state,
        pending=pending.address if pending else "",
        notifications=preference.notifications,
        delay=preference.delay_minutes,
        mail_enabled=services_of(ctx).mail is not None,
    )


@registry.command(
    "email",
    aliases=("e-mail",),
    section="account",
    roles=EVERYONE,
    args=(Argument("address", required=False, label={"de": "ADRESSE|off", "en": "ADDRESS|off"}),),
    help={
        "de": "Zeigt Ihre Adresse für Benachrichtigungen, setzt eine neue (mit "
        "Bestätigungslink) oder entfernt sie mit „email off“",
        "en": "Shows your address for notifications, sets a new one (with a confirmation "
        'link) or removes it with "email off"',
    },
    private=True,
)
async def email_command(ctx: CommandContext, address: str | None = None) -> str:
    me = await _me(ctx)
    if address is None:
        return await _status(ctx, me)
    if address.lower() in OFF_WORDS:
        await services_of(ctx).mail_rows.Preferences.forget_address(me.user_id)
        if me.email:
            await me.set_account(email=None)
        return ctx.render("email_removed")
    gateway = services_of(ctx).mail
    if gateway is None:
        return ctx.render("email_unavailable")
    try:
        validate_address(address)
    except InvalidAddress:
        return ctx.render("email_invalid", given=address)
    if await already_confirmed(services_of(ctx).mail_rows, me, address):
        return await _status(ctx, me)  # nothing to confirm again
    outcome = await start_confirmation(services_of(ctx).mail_rows, gateway, me, address)
    if outcome == "too_many":
        return ctx.render("email_too_many", limit=CONFIRMATIONS_PER_HOUR)
    if outcome != notices.QUEUED:
        return ctx.render("email_invalid", given=address)
    hours = gateway.cfg.mail.confirmation_hours
    return ctx.render("email_confirmation_sent", address=address, hours=hours)


async def already_confirmed(rows: MailRows, person: Person, address: str) -> bool:
    """Whether ``address`` is the person's confirmed, working address already."""
    facts = await notices.facts_of(rows, person)
    same = normalize(address) == normalize(person.email or "")
    return facts.confirmed and not facts.bouncing and same


async def why_no_confirmation(
    rows: MailRows, mail: MailNotices | None, person: Person
) -> str | None:
    """``mail_disabled`` or ``too_many`` when no confirmation link can go out now."""
    if mail is None:
        return "mail_disabled"
    now = int(time.time() * 1000)
    recent = await rows.Preferences.recent_confirmations(person.user_id, now - 3600_000)
    return "too_many" if recent >= CONFIRMATIONS_PER_HOUR else None


async def start_confirmation(
    rows: MailRows, mail: MailNotices | None, person: Person, address: str
) -> str:
    """The double opt-in for a new address: a one-time link to it, nothing else until used.

    Returns ``queued``, or why not: ``mail_disabled``, ``too_many`` (the person's hourly
    limit, so nobody floods someone's mailbox through Lotse) or a reason from
    :func:`mailgateway.notices.notify`. The person's current address stays until the link
    is used (mailgateway.confirm_page).
    """
    refused = await why_no_confirmation(rows, mail, person)
    gateway = mail
    if refused is not None or gateway is None:
        return refused or "mail_disabled"
    if await rows.MailAddress.is_bouncing(address):
        # Asking again means "try it": the confirmation mail is the test.
        await rows.MailAddress.reset(address)
    hours = gateway.cfg.mail.confirmation_hours
    token = await rows.Preferences.start_confirmation(person.user_id, address, hours=hours)
    link = f"{gateway.cfg.public_web_url}/confirm/{token}"
    return await gateway.notify(person, "address_confirmation", to=address, link=link)


@registry.command(
    "notifications",
    aliases=("benachrichtigungen",),
    section="account",
    roles=EVERYONE,
    args=(
        Argument("setting", required=False, label={"de": "on|off|delay", "en": "on|off|delay"}),
        Argument("minutes", required=False, label={"de": "MINUTEN", "en": "MINUTES"}),
    ),
    help={
        "de": "Benachrichtigungen per E-Mail an oder aus; „notifications delay 30“: erst "
        "nach 30 Minuten ungelesen eine E-Mail",
        "en": 'Notification mails on or off; "notifications delay 30": a mail only after '
        "30 minutes unread",
    },
    private=True,
)
async def notifications_command(
    ctx: CommandContext, setting: str | None = None, minutes: str | None = None
) -> str:
    me = await _me(ctx)
    word = (setting or "").lower()
    if not word:
        return await _status(ctx, me)
    if word in ON_WORDS + OFF_WORDS and minutes is None:
        on = word in ON_WORDS
        await services_of(ctx).mail_rows.Preferences.set_notifications(me.user_id, on)
        return ctx.render("notifications_set", on=on, has_address=bool(me.email))
    if word in DELAY_WORDS and minutes is not None:
        text = minutes.strip()
        if text.isdigit() and MIN_DELAY_MINUTES <= int(text) <= MAX_DELAY_MINUTES:
            await services_of(ctx).mail_rows.Preferences.set_delay(me.user_id, int(text))
            return ctx.render("notifications_delay_set", minutes=int(text))
    return ctx.render(
        "notifications_bad",
        given=" ".join(x for x in (setting, minutes) if x),
        low=MIN_DELAY_MINUTES,
        high=MAX_DELAY_MINUTES,
    )
