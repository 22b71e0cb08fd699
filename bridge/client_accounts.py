"""Client accounts on Synapse: the first free login, the account, the person row.

Lotse makes the account through the admin API without a password (the invitation page sets
one later), records the person with their pseudonym, and opens their service room so they
find it in Element on first login. :func:`create_account` is the one way Lotse creates a
Synapse account (``client new`` here, self-registration in bots/web/registration_page.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from appservice.admin_api import AdminApiError, SynapseAdmin
from appservice.db import Person, Rows

from .service_rooms import ServiceRooms

log = logging.getLogger("lotse.client_accounts")


class PseudonymTaken(Exception):
    """Another client of the centre has this pseudonym (any case)."""


class ClientAccounts:
    def __init__(
        self, rows: Rows, admin: SynapseAdmin, service_rooms: ServiceRooms | None, domain: str
    ) -> None:
        self.rows = rows
        self.admin = admin
        self.service_rooms = service_rooms
        self.domain = domain

    async def create(
        self,
        centre_id: str,
        pseudonym: str,
        logins: Sequence[str],
        home_counsellor_id: str | None,
    ) -> tuple[Person, bool]:
        """Create account, person and service room; ``(person, room_created)``.

        Raises :class:`PseudonymTaken` (nothing is left behind) if another client of the
        centre got the pseudonym first.
        """
        user_id = await create_account(self.rows, self.admin, self.domain, logins, pseudonym)
        person = await self.rows.Person.upsert(user_id, centre_id, "client")
        if not await person.set_display_name(pseudonym):
            await person_rollback(self.admin, person)
            raise PseudonymTaken(pseudonym)
        if home_counsellor_id is not None:
            await person.set_home_counsellor(home_counsellor_id)
        room_created = False
        if self.service_rooms is not None:
            try:
                await self.service_rooms.create_for(person)
                room_created = True
            except Exception:
                # The account is usable; the person can still open a DM with the assistant.
                log.exception("could not create the service room of %s", user_id)
        log.info("created client account %s in centre %s", user_id, centre_id)
        return person, room_created


async def create_account(
    rows: Rows, admin: SynapseAdmin, domain: str, logins: Sequence[str], displayname: str
) -> str:
    """Create a Synapse account (no password) under the first free login of ``logins``.

    A login Lotse or Synapse knows is skipped, and so is one somebody takes between the
    check and the create (Synapse answers M_USER_IN_USE, or updates instead of creating).
    Raises AdminApiError (409, M_USER_IN_USE) when none is left.
    """
    for login in logins:
        user_id = f"@{login}:{domain}"
        if await rows.Person.get(user_id) is not None or await admin.get_user(user_id):
            continue
        try:
            _, created = await admin.create_or_update_user(user_id, displayname=displayname)
        except AdminApiError as e:
            if e.errcode != "M_USER_IN_USE":
                raise
            created = False  # Synapse's answer to a simultaneous create of the same id
        if created:
            return user_id
        # Someone got this login between our check and the create: try the next one.
    raise AdminApiError(409, "M_USER_IN_USE", "no free login found")


async def person_rollback(admin: SynapseAdmin, person: Person) -> None:
    """Undo a half-created client: the Synapse account is erased, the row removed."""
    await admin.deactivate(person.user_id, erase=True)
    await person.delete()
