"""Client accounts on Synapse: a free login for a pseudonym, the account, the person row.

Lotse makes the account through the admin API without a password (the invitation page sets
one later), records the person with their pseudonym, and opens their service room so they
find it in Element on first login.
"""

from __future__ import annotations

import logging
import secrets

from appservice.admin_api import SynapseAdmin
from appservice.db import Person

from .logins import derive_login, with_suffix
from .service_rooms import ServiceRooms

log = logging.getLogger("lotse.client_accounts")

LOGIN_ATTEMPTS = 8


class PseudonymTaken(Exception):
    """Another client of the centre has this pseudonym (any case)."""


class ClientAccounts:
    def __init__(
        self,
        admin: SynapseAdmin,
        service_rooms: ServiceRooms | None,
        domain: str,
        reserved_prefix: str,
    ) -> None:
        self.admin = admin
        self.service_rooms = service_rooms
        self.domain = domain
        self.reserved_prefix = reserved_prefix

    async def free_user_id(self, pseudonym: str) -> str:
        """The derived login if nobody has it (on Synapse, deactivated ones included, or here),
        else the login with a short random suffix."""
        base = derive_login(pseudonym, self.reserved_prefix)
        login = base
        for _ in range(LOGIN_ATTEMPTS):
            user_id = f"@{login}:{self.domain}"
            if await Person.get(user_id) is None and await self.admin.get_user(user_id) is None:
                return user_id
            login = with_suffix(base, secrets.token_hex(2))
        raise RuntimeError("no free login found")

    async def create(
        self, centre_id: str, pseudonym: str, home_counsellor_id: str | None
    ) -> tuple[Person, bool]:
        """Create account, person and service room; ``(person, room_created)``.

        Raises :class:`PseudonymTaken` (nothing is left behind) if another client of the
        centre got the pseudonym first.
        """
        user_id = await self.free_user_id(pseudonym)
        _, created = await self.admin.create_or_update_user(user_id, displayname=pseudonym)
        if not created:  # someone registered the login between our check and the create
            raise RuntimeError(f"login {user_id} was taken meanwhile")
        person = await Person.upsert(user_id, centre_id, "client")
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


async def person_rollback(admin: SynapseAdmin, person: Person) -> None:
    """Undo a half-created client: the Synapse account is erased, the row removed."""
    await admin.deactivate(person.user_id, erase=True)
    await person.delete()
