"""Requests in pool mode: clients ask, on-duty staff see the pool and accept (issue 4).

Assignment by policy (bots/assignment.py), status, capacity and absences come next; for
now every counsellor and admin of the centre is told and may accept.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mautrix.types import UserID

from appservice.db import CounsellingRequest, Person

from .commands import CLIENTS, STAFF, Argument
from .dispatch import CommandContext
from .registry import registry
from .services import BotServices

log = logging.getLogger("lotse.requests")


def _services(ctx: CommandContext) -> BotServices:
    services = ctx.extra["services"]
    assert isinstance(services, BotServices)
    return services


@registry.command(
    "request",
    aliases=("anfrage",),
    roles=CLIENTS,
    section="requests",
    help={
        "de": "Bittet um eine Beratung; eine Beraterin oder ein Berater meldet sich",
        "en": "Asks for counselling; a counsellor will get in touch",
    },
)
async def request_command(ctx: CommandContext) -> str:
    existing = await CounsellingRequest.open_for_client(ctx.user_id)
    if existing is not None:
        return ctx.render("request_exists", id=existing.id, status=existing.status)
    created = await CounsellingRequest.create(ctx.centre_id, ctx.user_id)
    if created is None:  # a second message raced the first one
        existing = await CounsellingRequest.open_for_client(ctx.user_id)
        assert existing is not None
        return ctx.render("request_exists", id=existing.id, status=existing.status)
    services = _services(ctx)
    told = 0
    for person in await Person.all_in_centre(ctx.centre_id):
        if person.role in ("counsellor", "admin"):
            told += await services.tell(person, "new_request_for_staff", id=created.id)
    log.info("request %d in centre %s; %d staff told", created.id, ctx.centre_id, told)
    return ctx.render("request_created", id=created.id)


@registry.command(
    "requests",
    aliases=("anfragen",),
    roles=STAFF,
    section="requests",
    help={
        "de": "Zeigt die Anfragen Ihrer Beratungsstelle, die noch niemand angenommen hat",
        "en": "Lists your centre's requests that nobody has accepted yet",
    },
)
async def requests_command(ctx: CommandContext) -> str:
    waiting = await CounsellingRequest.waiting(ctx.centre_id)
    rows = [
        {
            "id": r.id,
            "client": r.client_id,
            "since": datetime.fromtimestamp(r.created_at / 1000, UTC).strftime("%d.%m. %H:%M"),
        }
        for r in waiting
    ]
    return ctx.render("requests_list", requests=rows)


@registry.command(
    "accept",
    aliases=("annehmen",),
    roles=STAFF,
    section="requests",
    args=(Argument("id", label={"de": "NR", "en": "ID"}),),
    help={
        "de": "Nimmt eine Anfrage an: Sie und die Person werden in einen verschlüsselten "
        "Beratungsraum eingeladen",
        "en": "Accepts a request: you and the person are invited to an encrypted counselling room",
    },
)
async def accept_command(ctx: CommandContext, id: str) -> str:
    number = id.lstrip("#")
    if not number.isdigit():
        return ctx.render("request_bad_id", given=id)
    request = await CounsellingRequest.get_in_centre(int(number), ctx.centre_id)
    if request is None:
        return ctx.render("request_not_found", id=number)
    if not await CounsellingRequest.claim(request.id, ctx.centre_id, ctx.user_id):
        return ctx.render("request_taken", id=request.id)
    services = _services(ctx)
    try:
        room_id = await services.counselling_rooms.create(
            ctx.render("counselling_room_name", id=request.id),
            [UserID(request.client_id), UserID(ctx.user_id)],
        )
    except Exception:
        await CounsellingRequest.release(request.id)
        raise
    await CounsellingRequest.set_room(request.id, room_id)
    client = await Person.get(request.client_id)
    if client is not None:
        await services.tell(client, "request_accepted_client", id=request.id)
    return ctx.render("request_accepted", id=request.id)
