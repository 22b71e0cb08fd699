"""The one way other modules send a person a notification mail: :func:`notify`.

``await notify(notices, person, "new_request", request_id=12)`` (the bots call it as
``services.notify(person, …)``; ``notices`` is the running app's :class:`MailNotices`, handed
to them by the composition root, None when mail is off) applies every rule, fills in what
the gateway knows (centre name, the person's language, the app link) and queues the mail;
it returns what happened as a word (``queued`` or why not), so callers can log it. Callers
pass metadata only: the variables each kind may have are fixed in
:data:`mailgateway.render.SAMPLE_VARIABLES`, and anything else is refused.

The rules (:func:`decide`, a pure function): notification kinds go only to an address the
person confirmed, that is not bouncing, to an active account with notifications on; the
transactional kinds (invitation, address confirmation) need only an address that is not
bouncing; a password reset goes only to the confirmed address of an active account, whatever
the notification switch says. When mail is disabled nothing is queued (``mail_disabled``).
Every mail is stored sealed in the outbox (its links are secrets).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appservice.config import Config
from appservice.db import Person
from appservice.i18n import Renderer
from appservice.once import after_commit

from .outbox import InvalidAddress, outbox_sealer, validate_address
from .render import SAMPLE_VARIABLES
from .rows import MailRows
from .unsubscribe import token_for

log = logging.getLogger("lotse.mail.notices")

# Sent without confirmation and whatever the person's notification switch says: they are
# how an address gets confirmed or an account gets its password.
TRANSACTIONAL = frozenset({"invitation", "address_confirmation"})
# About the account itself: only to the confirmed address, never switched off, no unsubscribe.
ACCOUNT = frozenset({"password_reset", "inactive_account"})
# Filled in by the gateway, never by callers.
GATEWAY_VARIABLES = frozenset({"centre_name", "app_url"})

QUEUED = "queued"


@dataclass(frozen=True)
class RecipientFacts:
    """What the rules need to know about one recipient."""

    address: str | None
    confirmed: bool
    bouncing: bool
    notifications: bool
    active: bool  # not deleted, not locked


def decide(kind: str, facts: RecipientFacts, mail_enabled: bool = True) -> str:
    """``queued`` if this kind may go to this recipient, else the reason why not."""
    if not mail_enabled:
        return "mail_disabled"
    if not facts.address:
        return "no_address"
    if facts.bouncing:
        return "bouncing"
    if kind in TRANSACTIONAL:
        return QUEUED
    if not facts.active:
        return "inactive"
    if not facts.confirmed:
        return "unconfirmed"
    if kind in ACCOUNT:
        return QUEUED
    if not facts.notifications:
        return "notifications_off"
    return QUEUED


async def facts_of(rows: MailRows, person: Person) -> RecipientFacts:
    """The recipient facts of a person, from ``person``, ``mail_preference``, ``mail_address``."""
    preference = await rows.Preferences.get(person.user_id)
    address = person.email or None
    return RecipientFacts(
        address=address,
        confirmed=preference.confirmed_for(address),
        bouncing=bool(address) and await rows.MailAddress.is_bouncing(address or ""),
        notifications=preference.notifications,
        active=person.deleted_at is None and person.locked_at is None,
    )


class MailNotices:
    """Bound to the running app's config; one instance per app, passed to what sends mail."""

    def __init__(self, cfg: Config, rows: MailRows, wake: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        self.rows = rows
        self.wake = wake
        enc = cfg.encryption
        self.sealer = outbox_sealer(enc.sealing_key, enc.previous_sealing_keys)

    @property
    def app_url(self) -> str:
        return self.cfg.mail.app_url or self.cfg.public_homeserver_url

    def unsubscribe_url(self, person: Person) -> str:
        token = token_for(person.user_id, self.cfg.encryption.pickle_key)
        return f"{self.cfg.public_web_url}/unsubscribe/{token}"

    def language_of(self, person: Person) -> str:
        centre = self.cfg.centre(person.centre_id)
        return Renderer.language(person.language or (centre.language if centre else None))

    def centre_name(self, person: Person) -> str:
        centre = self.cfg.centre(person.centre_id)
        return centre.name if centre is not None else ""

    async def notify(
        self, person: Person, kind: str, *, to: str | None = None, **variables: Any
    ) -> str:
        """Queue ``kind`` for ``person`` if the rules allow; return ``queued`` or the reason.

        ``to`` is only for the address confirmation (the address waiting to be confirmed).
        """
        _check_variables(kind, variables)
        facts = await facts_of(self.rows, person)
        if to is not None:
            if kind != "address_confirmation":
                raise ValueError("only address confirmations go to another address")
            facts = RecipientFacts(
                address=to,
                confirmed=False,
                bouncing=await self.rows.MailAddress.is_bouncing(to),
                notifications=facts.notifications,
                active=facts.active,
            )
        outcome = decide(kind, facts, self.cfg.mail.enabled)
        if outcome != QUEUED:
            log.info("no %s mail for %s: %s", kind, person.user_id, outcome)
            return outcome
        assert facts.address is not None
        try:
            validate_address(facts.address)
        except InvalidAddress:
            return "no_address"
        full = {"centre_name": self.centre_name(person), "app_url": self.app_url, **variables}
        stored = {k: full[k] for k in SAMPLE_VARIABLES[kind]}
        if kind not in TRANSACTIONAL | ACCOUNT:
            stored["unsubscribe_url"] = self.unsubscribe_url(person)
        await self.rows.Outbox.enqueue(
            facts.address, kind, self.language_of(person), stored, sealer=self.sealer
        )
        if self.wake is not None:
            # Inside a command the mail is visible to the sender only once the command is done.
            after_commit(self.wake)
        log.info("%s mail queued for %s", kind, person.user_id)
        return QUEUED


def _check_variables(kind: str, variables: dict[str, Any]) -> None:
    """Callers pass exactly the kind's own variables (a typo fails at once, not at send)."""
    if kind not in SAMPLE_VARIABLES:
        raise ValueError(f"unknown mail kind {kind!r}")
    expected = set(SAMPLE_VARIABLES[kind]) - GATEWAY_VARIABLES
    given = set(variables)
    if given != expected:
        raise ValueError(f"{kind}: expected variables {sorted(expected)}, got {sorted(given)}")


async def notify(
    notices: MailNotices | None,
    person: Person,
    kind: str,
    /,
    *,
    to: str | None = None,
    **variables: Any,
) -> str:
    """Notify ``person`` by mail through ``notices`` if the rules allow (see the module
    docstring); ``notices`` is the running app's, None when mail is off.

    Notification kinds carry a ``List-Unsubscribe`` link that switches them off.
    Returns ``queued``, or ``mail_disabled``, ``no_address``, ``bouncing``, ``inactive``,
    ``unconfirmed``, ``notifications_off``. Never raises for a recipient's state; raises
    ValueError for an unknown kind or wrong variables (a programming error).
    """
    if notices is None:
        _check_variables(kind, variables)
        return "mail_disabled"
    return await notices.notify(person, kind, to=to, **variables)
