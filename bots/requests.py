"""Requests: clients ask; the assignment policy picks a counsellor or the pool (issue 4).

The policy (bots/assignment.py) sees the centre's staff with status, capacity, open load
and absences, and the client's home counsellor. Centre settings (automatic assignment,
fallback, crisis contacts) are not configurable yet, so today: home counsellor if
available and present, else the pool, where on-duty staff are told and the first
``accept`` wins.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from mautrix.types import UserID

from appservice.db import Absence, CounsellingRequest, Person
from mailgateway.notices import notify

from .assignment import CentreSettings, CounsellorState, Decision, RequestInfo, decide, on_duty
from .commands import CLIENTS, STAFF, Argument, Role
from .dispatch import CommandContext
from .registry import registry
from .services import services_of

log = logging.getLogger("lotse.requests")


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
    services = services_of(ctx)
    client = await Person.get(ctx.user_id)
    assert client is not None
    decision, staff = await _decide(created, client)
    if decision.counsellor is not None and decision.kind != "pool":
        counsellor = await Person.get(decision.counsellor)
        if counsellor is not None and await _assign(ctx, created, client, counsellor.user_id):
            await services.tell(
                counsellor,
                "request_assigned_staff",
                id=created.id,
                client=client.user_id,
                reason=decision.kind,
            )
            await notify(counsellor, "new_request", request_id=created.id)
            log.info("request %d assigned (%s)", created.id, decision.reason)
            return ctx.render(
                "request_assigned_client", id=created.id, counsellor=counsellor.user_id
            )
    told = 0
    duty = await on_duty_ids(staff)
    for person in staff:
        if person.user_id in duty:
            told += await services.tell(person, "new_request_for_staff", id=created.id)
            await notify(person, "new_request", request_id=created.id)
    log.info("request %d waits in the pool of %s; %d told", created.id, ctx.centre_id, told)
    return ctx.render("request_created", id=created.id)


def _request_number(text: str) -> int | None:
    """``12`` or ``#12``; anything else is no request number."""
    number = text.removeprefix("#")
    return int(number) if number.isdigit() and len(number) < 12 else None


def _state(person: Person, load: dict[str, int], absent: set[str]) -> CounsellorState:
    return CounsellorState(
        user_id=person.user_id,
        status=person.status,  # type: ignore[arg-type]  # checked by the status command
        capacity=person.capacity,
        open_load=load.get(person.user_id, 0),
        absent=person.user_id in absent,
    )


async def on_duty_ids(staff: list[Person]) -> set[str]:
    absent = await Absence.absent_now([p.user_id for p in staff], int(time.time() * 1000))
    return set(on_duty([_state(p, {}, absent) for p in staff]))


async def _decide(request: CounsellingRequest, client: Person) -> tuple[Decision, list[Person]]:
    """A snapshot of the centre for the pure policy, and the staff it was taken from."""
    staff = [
        p
        for p in await Person.all_in_centre(request.centre_id)
        if p.role in ("counsellor", "admin")
    ]
    load = await CounsellingRequest.open_load(request.centre_id)
    now = int(time.time() * 1000)
    absent = await Absence.absent_now([p.user_id for p in staff], now)
    decision = decide(
        RequestInfo(
            request_id=str(request.id),
            client_id=client.user_id,
            channel="async",
            is_first_request=client.home_counsellor_id is None,
        ),
        [_state(p, load, absent) for p in staff],
        client.home_counsellor_id,
        CentreSettings(),
    )
    return decision, staff


async def _assign(
    ctx: CommandContext, request: CounsellingRequest, client: Person, counsellor_id: str
) -> bool:
    """Claim for ``counsellor_id``, open the room; False if someone else was faster."""
    if not await CounsellingRequest.claim(request.id, request.centre_id, counsellor_id):
        return False
    services = services_of(ctx)
    try:
        room_id = await services.counselling_rooms.create(
            ctx.render("counselling_room_name", id=request.id),
            [UserID(client.user_id), UserID(counsellor_id)],
        )
    except Exception:
        await CounsellingRequest.release(request.id)
        raise
    await CounsellingRequest.set_room(request.id, room_id)
    if client.home_counsellor_id is None:
        # Whoever takes a client's first request becomes their home counsellor.
        await client.set_home_counsellor(counsellor_id)
    return True


@registry.on_free_text(Role.CLIENT)
async def free_text_request(ctx: CommandContext) -> str:
    """A client "just writes" (DESIGN.md): that starts a request; the text stays here."""
    return ctx.render("free_text_note") + "\n\n" + await request_command(ctx)


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
    number = _request_number(id)
    if number is None:
        return ctx.render("request_bad_id", given=id)
    request = await CounsellingRequest.get_in_centre(number, ctx.centre_id)
    if request is None:
        return ctx.render("request_not_found", id=number)
    client = await Person.get(request.client_id)
    if client is None or not await _assign(ctx, request, client, ctx.user_id):
        return ctx.render("request_taken", id=request.id)
    await services_of(ctx).tell(client, "request_accepted_client", id=request.id)
    return ctx.render("request_accepted", id=request.id)


@registry.command(
    "close",
    aliases=("abschliessen",),
    roles=STAFF,
    section="requests",
    args=(Argument("id", label={"de": "NR", "en": "ID"}),),
    help={
        "de": "Schließt eine Ihnen zugewiesene Anfrage ab",
        "en": "Closes a request assigned to you",
    },
)
async def close_command(ctx: CommandContext, id: str) -> str:
    number = _request_number(id)
    if number is None:
        return ctx.render("request_bad_id", given=id)
    admin = ctx.role == Role.ADMIN
    if not await CounsellingRequest.close(number, ctx.centre_id, ctx.user_id, admin):
        return ctx.render("request_close_refused", id=number)
    return ctx.render("request_closed", id=number)
