"""What happens to requests without a command: answered, overdue, the absence assistant.

* The steward's view of counselling rooms (a room observer: sender and room, never
  content): the assigned counsellor's first message marks the request ``answered``; a
  client's message while their counsellor is absent tells the admins (at most once per
  room and day) so they can answer the client through the client's service room.
* A scheduler job marks requests nobody answered within the centre's ``overdue_hours``
  as overdue and reminds the counsellor (or the on-duty staff for pool requests) and the
  admins — once, because only the run that sets ``overdue_at`` sends.
"""

from __future__ import annotations

import logging
from datetime import datetime

from mautrix.types import Event, EventType

from appservice.centre_settings import CentreSettings
from appservice.clock import now_ms
from appservice.db import CounsellingRequest, Person
from bots.framework.dates import DEFAULT_TZ
from bots.framework.services import BotServices

from .requests import centre_staff, on_duty_ids

log = logging.getLogger("lotse.lifecycle")

OVERDUE_JOB = "overdue_requests"
OVERDUE_EVERY_SECONDS = 300
MESSAGE_TYPES = (EventType.ROOM_ENCRYPTED, EventType.ROOM_MESSAGE)


class RequestLifecycle:
    def __init__(self, services: BotServices, own_users: set[str]) -> None:
        self.services = services
        self.own_users = own_users

    async def observe(self, evt: Event) -> None:
        """A message in a counselling room: only who sent it where is looked at."""
        if evt.type not in MESSAGE_TYPES or evt.sender in self.own_users:
            return
        request = await self.services.rows.CounsellingRequest.by_room(evt.room_id)
        if request is None:
            return
        if request.counsellor_id == evt.sender:
            answered = await self.services.rows.CounsellingRequest.mark_answered(
                evt.room_id, evt.sender
            )
            if answered is not None:
                log.info("request %d answered in %s", answered, evt.room_id)
        elif request.client_id == evt.sender and request.counsellor_id is not None:
            await self._absence_assistant(request, request.counsellor_id, evt.room_id)

    async def _absence_assistant(
        self, request: CounsellingRequest, counsellor_id: str, room_id: str
    ) -> None:
        now = now_ms()
        if counsellor_id not in await self.services.rows.Absence.absent_now([counsellor_id], now):
            return
        day = datetime.fromtimestamp(now / 1000, DEFAULT_TZ).date().isoformat()
        if not await self.services.rows.AbsenceNotice.first_today(room_id, day):
            return
        counsellor = await self.services.rows.Person.get(counsellor_id)
        client = await self.services.rows.Person.get(request.client_id)
        told = await self.services.tell_admins(
            request.centre_id,
            "absence_message_arrived",
            cause=f"absence-{room_id}-{day}",
            counsellor=counsellor.name if counsellor else counsellor_id,
            client=client.name if client else request.client_id,
        )
        log.info("absence assistant: %s told %d admins (room %s)", request.centre_id, told, room_id)

    async def overdue(self) -> None:
        """Mark and remind once for every request past its centre's overdue period."""
        now = now_ms()
        settings: dict[str, CentreSettings] = {}
        for request in await self.services.rows.CounsellingRequest.unanswered():
            if request.centre_id not in settings:
                settings[request.centre_id] = await self.services.settings(request.centre_id)
            hours = settings[request.centre_id].overdue_hours
            if request.created_at > now - hours * 3_600_000:
                continue
            if not await self.services.rows.CounsellingRequest.mark_overdue(request.id):
                continue
            await self._remind(request, hours)

    async def _remind(self, request: CounsellingRequest, hours: int) -> None:
        client = await self.services.rows.Person.get(request.client_id)
        name = client.name if client else request.client_id
        staff: list[Person] = []
        if request.counsellor_id is not None:
            counsellor = await self.services.rows.Person.get(request.counsellor_id)
            staff = [counsellor] if counsellor is not None else []
        else:
            everyone = await centre_staff(self.services.rows, request.centre_id)
            duty = await on_duty_ids(self.services.rows, everyone)
            staff = [p for p in everyone if p.user_id in duty]
        for person in staff:
            await self.services.tell(
                person,
                "request_overdue_staff",
                cause=f"overdue-{request.id}",
                id=request.id,
                client=name,
                hours=hours,
            )
            await self.services.notify(
                person, "request_overdue", request_id=request.id, hours=hours
            )
        await self.services.tell_admins(
            request.centre_id,
            "request_overdue_admins",
            cause=f"overdue-{request.id}",
            id=request.id,
            client=name,
            hours=hours,
            counsellor=request.counsellor_id or "",
        )
        log.info("request %d overdue; %d staff reminded", request.id, len(staff))
