"""What a centre's admins hear when mail goes wrong: a permanent failure, a bouncing address.

The mail gateway calls these hooks (metadata only: which person, which kind of mail, never a
mail's content); the admins hear it in their control room, or each in their service room.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bots.framework.services import BotServices

log = logging.getLogger("lotse.mail.alerts")


class MailAlerts:
    def __init__(self, services: BotServices) -> None:
        self.services = services

    async def mail_failed(self, recipient: str, kind: str) -> None:
        """A mail failed for good: the person's centre admins hear which person and kind."""
        log.warning("a %s notification could not be delivered (permanent SMTP failure)", kind)
        await self._tell_admins_about(recipient, "mail_failed_admin", kind=kind)

    async def address_bouncing(self, address: str) -> None:
        await self._tell_admins_about(address, "mail_bouncing_admin")

    async def _tell_admins_about(self, address: str, template: str, **variables: Any) -> None:
        """The transaction key names person, kind and day: a repeated hook posts once."""
        day = time.strftime("%Y-%m-%d", time.gmtime())
        for user_id in await self.services.mail_rows.Preferences.people_with_address(address):
            person = await self.services.rows.Person.get(user_id)
            if person is not None:
                cause = f"{template}-{variables.get('kind', '')}-{user_id}-{day}"
                await self.services.tell_admins(
                    person.centre_id, template, cause=cause, who=person.name, **variables
                )
