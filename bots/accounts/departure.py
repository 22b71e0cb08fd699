"""A counsellor who leaves strands nobody (``counsellor delete``, and the deletion routine).

* Each open request assigned to them goes back through the assignment policy, which never
  picks a deleted account: to another counsellor (crisis contact, automatic assignment,
  fallback) or into the pool. The steward first removes them from the counselling room, so
  new messages are encrypted without their devices (as after a transfer: what they wrote
  earlier stays in the room for the client), then invites the new counsellor — or the
  on-duty staff, who are told as for any new request.
* Pool rooms of waiting requests they were invited to lose them.
* Clients who had them as home counsellor have none; whoever takes such a client's next
  request becomes it (bots/requests/requests.py ``seat``), so no later request is stranded either.
* Open transfer proposals to or from them are withdrawn.
* Each client hears that their request changed hands; the admins get one notice with the
  request numbers and where each went (metadata only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mautrix.errors import MatrixRequestError
from mautrix.types import RoomID, UserID

from appservice.db import Person
from bots.framework.services import BotServices
from bots.requests.requests import place_request

log = logging.getLogger("lotse.departure")


@dataclass(frozen=True)
class HandedBack:
    """A request of the departed counsellor and who has it now (None: the pool)."""

    request_id: int
    counsellor: str | None


async def hand_back(services: BotServices, departed: Person) -> list[HandedBack]:
    """Place the departed counsellor's open requests anew; tell clients and admins."""
    await services.rows.Transfer.withdraw_involving(departed.user_id)
    await services.rows.Person.drop_home_counsellor(departed.user_id)
    handed: list[HandedBack] = []
    # Outside a command (the deletion routine) the notices are keyed by the departure.
    cause = f"departure-{departed.user_id}"
    for request in await services.rows.CounsellingRequest.open_of_counsellor(departed.user_id):
        waiting = await services.rows.CounsellingRequest.hand_back(request.id, departed.user_id)
        client = await services.rows.Person.get(request.client_id)
        if waiting is None or client is None:
            continue  # closed or taken a moment ago
        if waiting.room_id:
            await _leave(services, waiting.room_id, departed.user_id)
        room_name = services.counselling_rooms.name_for(client, waiting.id)
        counsellor = await place_request(services, waiting, client, room_name)
        name = counsellor.name if counsellor is not None else None
        await services.tell(
            client,
            "request_handed_back_client",
            cause=f"{cause}-{waiting.id}",
            id=waiting.id,
            counsellor=name,
        )
        handed.append(HandedBack(waiting.id, name))
        log.info("request %d of departed %s placed anew", waiting.id, departed.user_id)
    for request in await services.rows.CounsellingRequest.waiting(departed.centre_id):
        if request.room_id:
            await _leave(services, request.room_id, departed.user_id)
    if handed:
        await services.tell_admins(
            departed.centre_id,
            "requests_handed_back",
            cause=cause,
            counsellor=departed.name,
            requests=[{"id": h.request_id, "counsellor": h.counsellor} for h in handed],
        )
    return handed


async def _leave(services: BotServices, room_id: str, user_id: str) -> None:
    """The steward removes them if they are in (or invited to) the room."""
    rooms = services.counselling_rooms
    try:
        if user_id in await rooms.members(RoomID(room_id)):
            await rooms.remove(RoomID(room_id), UserID(user_id), reason="counsellor left")
    except MatrixRequestError as e:  # the request is placed anew all the same
        log.warning("could not remove %s from %s: %s", user_id, room_id, e.errcode)
