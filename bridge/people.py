"""Who is who: the centre and role of a Matrix user, and the language to answer them in."""

from __future__ import annotations

import logging

from appservice.config import CentreConfig, Config
from appservice.db import Person, Rows

log = logging.getLogger("lotse.people")


class Directory:
    """Resolves Matrix users to people of a centre; everyone else is a stranger."""

    def __init__(self, cfg: Config, rows: Rows) -> None:
        self.rows = rows
        self.cfg = cfg

    async def sync_config_admins(self) -> None:
        """Admins named in the config file are admins of their centre from the first start."""
        for centre in self.cfg.centres:
            for user_id in centre.admins:
                person = await self.rows.Person.get(user_id)
                if person is None or person.role != "admin" or person.centre_id != centre.id:
                    await self.rows.Person.upsert(user_id, centre.id, "admin")
                    log.info("admin %s of centre %s registered from config", user_id, centre.id)

    async def lookup(self, user_id: str) -> Person | None:
        person = await self.rows.Person.get(user_id)
        if person is None or self.cfg.centre(person.centre_id) is None:
            return None
        return person

    async def register(self, user_id: str, centre_id: str, role: str) -> Person:
        if self.cfg.centre(centre_id) is None:
            raise ValueError(f"unknown centre {centre_id!r}")
        return await self.rows.Person.upsert(user_id, centre_id, role)

    def centre_of(self, person: Person) -> CentreConfig:
        centre = self.cfg.centre(person.centre_id)
        assert centre is not None, "lookup() only returns people of declared centres"
        return centre

    def language_of(self, person: Person) -> str:
        return person.language or self.centre_of(person).language
