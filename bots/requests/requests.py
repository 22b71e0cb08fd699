"""Requests: the assignment policy picks a counsellor or the pool; staff accept, admins assign.

The client's side (``request`` and the triage questions) is in bots/requests/triage.py; it ends in
:func:`open_request`. The policy (bots/requests/assignment.py) sees the centre's staff with status,
capacity, open load, absences, languages, topics and crisis flag, the client's home
counsellor and the centre's settings. A request nobody gets waits in the pool: its
counselling room is created at once with the client and every on-duty counsellor invited
(aygonet 3.4.1.3); whoever accepts keeps it, the steward removes the others.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mautrix.errors import MatrixRequestError
from mautrix.types import RoomID, UserID

from appservice.centre_settings import CentreSettings as EffectiveSettings
from appservice.clock import now_ms
from appservice.db import CounsellingRequest, Person, Rows
from appservice.db.request import NEW
from bots.framework import paging
from bots.framework.commands import ADMINS, STAFF, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, rows_of, services_of

from .assignment import (
    Account,
    CentreSettings,
    CounsellorState,
    Decision,
    RequestInfo,
    counsellor_profile,
    decide,
    on_duty,
)

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.requests")

# The step that makes a pool request's room once the request is committed (see pool_room).
POOL_ROOM = "pool-room"

STAFF_ROLES = ("counsellor", "admin")
# Waiting requests shown per page of `requests`.
REQUESTS_PAGE = 20


async def open_request(
    ctx: CommandContext, topic: str | None, language: str | None, channel: str | None
) -> str:
    """Create the client's request with what triage found, and assign it or pool it."""
    created = await rows_of(ctx).CounsellingRequest.create(
        ctx.centre_id, ctx.user_id, topic, language, channel
    )
    if created is None:  # a second message raced the first one
        existing = await rows_of(ctx).CounsellingRequest.open_for_client(ctx.user_id)
        assert existing is not None
        return ctx.render("request_exists", id=existing.id, status=existing.status)
    client = await rows_of(ctx).Person.get(ctx.user_id)
    assert client is not None
    room_name = services_of(ctx).counselling_rooms.name_for(client, created.id)
    counsellor = await place_request(services_of(ctx), created, client, room_name)
    if counsellor is not None:
        return ctx.render("request_assigned_client", id=created.id, counsellor=counsellor.name)
    return ctx.render("request_created", id=created.id)


async def place_request(
    services: BotServices, request: CounsellingRequest, client: Person, room_name: str
) -> Person | None:
    """Run the assignment policy on a waiting request: the counsellor it went to (told, and
    in the room with the client), or None when it waits in the pool (its room holds the
    client and every on-duty counsellor, who are told)."""
    decision, staff = await _decide(services, request, client)
    if decision.counsellor is not None and decision.kind != "pool":
        counsellor = await services.rows.Person.get(decision.counsellor)
        if counsellor is not None and await seat(services, request, client, counsellor, room_name):
            await services.tell(
                counsellor,
                "request_assigned_staff",
                cause=f"request-{request.id}",
                id=request.id,
                client=client.name,
                reason=decision.kind,
            )
            await services.notify(counsellor, "new_request", request_id=request.id)
            log.info("request %d assigned (%s)", request.id, decision.reason)
            return counsellor
    duty = await on_duty_ids(services.rows, staff)
    invited: list[UserID] = []
    if request.room_id is not None:
        # A request handed back (its counsellor left): its room stays, the on-duty staff join.
        invited = await services.counselling_rooms.invite_all(
            RoomID(request.room_id), [UserID(p.user_id) for p in staff if p.user_id in duty]
        )
    else:
        # The pool room is made once the command is committed, before anyone is told: making
        # a room takes Synapse a moment, and holding the database meanwhile (SQLite: all of
        # it) would make simultaneous requests wait for each other.
        assert services.run_step is not None
        step = {
            "request": str(request.id),
            "centre": request.centre_id,
            "name": room_name,
            "people": " ".join([client.user_id, *sorted(duty)]),
        }
        await services.run_step(POOL_ROOM, step)
    told = 0
    for person in staff:
        if person.user_id in duty:
            told += await services.tell(
                person, "new_request_for_staff", cause=f"request-{request.id}", id=request.id
            )
            await services.notify(person, "new_request", request_id=request.id)
    log.info(
        "request %d waits in the pool of %s (%s); %d invited, %d told",
        request.id,
        request.centre_id,
        decision.reason,
        len(invited),
        told,
    )
    return None


async def pool_room(services: BotServices, step: dict[str, str]) -> None:
    """The room of a request waiting in the pool: the client, then the on-duty staff.

    Runs after the request is committed (again after a crash: then it finds its room). If
    it fails, the request still waits and whoever accepts it gets a fresh room
    (``assign_request``); if the request was taken while the room was made, the room goes.
    """
    request = await services.rows.CounsellingRequest.get_in_centre(
        int(step["request"]), step["centre"]
    )
    if request is None or request.status != NEW or request.room_id:
        return
    client, *staff = (UserID(u) for u in step["people"].split())
    rooms = services.counselling_rooms
    try:
        person = await services.rows.Person.get(client)
        room_id = await rooms.create(step["name"], [client], person, request.id)
    except MatrixRequestError as e:
        log.warning("pool room for request %d not created: %s", request.id, e.errcode)
        return
    invited = await rooms.invite_all(room_id, staff)
    if not await services.rows.CounsellingRequest.set_pool_room(request.id, room_id):
        log.info("request %d was taken while its pool room was made; room dropped", request.id)
        await rooms.abandon(room_id, [client, *invited])
        return
    log.info("pool room of request %d: %d of %d invited", request.id, len(invited), len(staff))


def request_number(text: str) -> int | None:
    """``12`` or ``#12``; anything else is no request (or transfer) number."""
    number = text.removeprefix("#")
    return int(number) if number.isdigit() and len(number) < 12 else None


def account_of(person: Person) -> Account:
    """What the policy must know of the account: deleted and locked staff are never picked.

    Read from ``deleted_at``/``locked_at`` themselves, not from the status ``unavailable``
    that `counsellor delete|deactivate` also set: a status can be changed back by hand.
    """
    if person.deleted_at is not None:
        return "deleted"
    if person.locked_at is not None:
        return "locked"
    return "active"


def _state(
    person: Person,
    load: dict[str, int],
    absent: set[str],
    settings: EffectiveSettings | None = None,
    topic_ids: tuple[str, ...] = (),
) -> CounsellorState:
    languages, topics = counsellor_profile(
        person.languages, person.topics, settings.languages if settings else ("de",), topic_ids
    )
    return CounsellorState(
        user_id=person.user_id,
        status=person.status,  # type: ignore[arg-type]  # checked by the status command
        capacity=person.capacity,
        open_load=load.get(person.user_id, 0),
        languages=languages,
        topics=topics,
        absent=person.user_id in absent,
        crisis_contact=person.crisis_contact,
        account=account_of(person),
    )


async def centre_staff(rows: Rows, centre_id: str) -> list[Person]:
    return await rows.Person.all_in_centre(centre_id, roles=STAFF_ROLES)


async def on_duty_ids(rows: Rows, staff: list[Person]) -> set[str]:
    absent = await rows.Absence.absent_now([p.user_id for p in staff], now_ms())
    return set(on_duty([_state(p, {}, absent) for p in staff]))


async def _decide(
    services: BotServices, request: CounsellingRequest, client: Person
) -> tuple[Decision, list[Person]]:
    """A snapshot of the centre for the pure policy, and the staff it was taken from."""
    staff = await centre_staff(services.rows, request.centre_id)
    load = await services.rows.CounsellingRequest.open_load(request.centre_id)
    absent = await services.rows.Absence.absent_now([p.user_id for p in staff], now_ms())
    settings = await services.settings(request.centre_id)
    centre = services.directory.cfg.centre(request.centre_id)
    topic_ids = tuple(t.id for t in centre.topics) if centre else ()
    decision = decide(
        RequestInfo(
            request_id=str(request.id),
            client_id=client.user_id,
            channel="chat" if request.channel == "chat" else "async",
            language=request.language,
            topics=frozenset({request.topic}) if request.topic else frozenset(),
            is_first_request=client.home_counsellor_id is None,
        ),
        [_state(p, load, absent, settings, topic_ids) for p in staff],
        client.home_counsellor_id,
        CentreSettings(
            automatic_assignment=settings.automatic_assignment,
            fallback_counsellor=settings.fallback_counsellor or None,
        ),
        await services.rows.CounsellingRequest.last_assigned(request.centre_id),
    )
    return decision, staff


async def assign_request(
    ctx: CommandContext, request: CounsellingRequest, client: Person, counsellor: Person
) -> bool:
    """:func:`seat` for a command (accept, assign): the room is named in the asker's language."""
    room_name = services_of(ctx).counselling_rooms.name_for(client, request.id)
    return await seat(services_of(ctx), request, client, counsellor, room_name)


async def seat(
    services: BotServices,
    request: CounsellingRequest,
    client: Person,
    counsellor: Person,
    room_name: str,
) -> bool:
    """Claim for ``counsellor`` and set up the room; False if someone else was faster.

    A pool request's room exists: the counsellor stays (or is invited) and the steward
    removes the other staff, so new messages are encrypted only to client and counsellor.
    """
    if not await services.rows.CounsellingRequest.claim(
        request.id, request.centre_id, counsellor.user_id
    ):
        return False
    # Read again: its pool room may have been set since the caller read it.
    request = (
        await services.rows.CounsellingRequest.get_in_centre(request.id, request.centre_id)
        or request
    )
    rooms = services.counselling_rooms
    if request.room_id:
        room_id = RoomID(request.room_id)
        members = await rooms.members(room_id)
        if counsellor.user_id not in members:
            await rooms.invite(room_id, UserID(counsellor.user_id))
        keep = {client.user_id, counsellor.user_id, str(rooms.steward.mxid)}
        for user_id in sorted(members - keep):
            try:
                await rooms.remove(room_id, UserID(user_id), reason="request taken")
            except MatrixRequestError:
                continue  # already gone
    else:
        try:
            room_id = await rooms.create(
                room_name, [UserID(client.user_id), UserID(counsellor.user_id)], client, request.id
            )
        except Exception:
            await services.rows.CounsellingRequest.release(request.id)
            raise
        await services.rows.CounsellingRequest.set_room(request.id, room_id)
    if client.home_counsellor_id is None:
        # Whoever takes a client's first request becomes their home counsellor.
        await client.set_home_counsellor(counsellor.user_id)
    return True


@registry.command(
    "requests",
    aliases=("anfragen",),
    roles=STAFF,
    section="requests",
    args=(Argument(paging.OPTION, required=False, keyword=True),),
    help={
        "de": "Zeigt die Anfragen Ihrer Beratungsstelle, die noch niemand angenommen hat, "
        "die ältesten zuerst, 20 je Seite (`page=2` …)",
        "en": "Lists your centre's requests that nobody has accepted yet, oldest first, 20 a "
        "page (`page=2` …)",
    },
)
async def requests_command(ctx: CommandContext, page: str | None = None) -> str:
    number = paging.page_number(page)
    if number is None:
        return ctx.render("page_problem", problem="bad_page", given=page or "", maximum=0)
    tables = services_of(ctx).rows
    waiting, total = await tables.CounsellingRequest.waiting_page(
        ctx.centre_id, REQUESTS_PAGE, (number - 1) * REQUESTS_PAGE
    )
    shown = paging.Page(number, REQUESTS_PAGE, total)
    if paging.beyond(shown) and total:
        return ctx.render("page_problem", problem="page_beyond", given=number, maximum=shown.pages)
    rows = []
    for r in waiting:
        client = await tables.Person.get(r.client_id)
        rows.append(
            {
                "id": r.id,
                "client": client.name if client else r.client_id,
                "since": datetime.fromtimestamp(r.created_at / 1000, UTC).strftime("%d.%m. %H:%M"),
                "topic": r.topic or "",
                "language": r.language or "",
                "channel": r.channel or "",
                "overdue": r.overdue_at is not None,
            }
        )
    return ctx.render(
        "requests_list",
        requests=rows,
        **paging.shown(shown, "requests"),
    )


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
    number = request_number(id)
    if number is None:
        return ctx.render("request_bad_id", given=id)
    request = await rows_of(ctx).CounsellingRequest.get_in_centre(number, ctx.centre_id)
    if request is None:
        return ctx.render("request_not_found", id=number)
    client = await rows_of(ctx).Person.get(request.client_id)
    me = await rows_of(ctx).Person.get(ctx.user_id)
    if client is None or me is None or not await assign_request(ctx, request, client, me):
        return ctx.render("request_taken", id=request.id)
    await services_of(ctx).tell(client, "request_accepted_client", id=request.id)
    return ctx.render("request_accepted", id=request.id)


@registry.command(
    "assign",
    aliases=("zuweisen",),
    roles=ADMINS,
    section="requests",
    args=(
        Argument("id", label={"de": "NR", "en": "ID"}),
        Argument("counsellor", label={"de": "BERATER", "en": "COUNSELLOR"}),
    ),
    help={
        "de": "Weist eine wartende Anfrage einer Beraterin oder einem Berater zu",
        "en": "Assigns a waiting request to a counsellor",
    },
)
async def assign_command(ctx: CommandContext, id: str, counsellor: str) -> str:
    number = request_number(id)
    if number is None:
        return ctx.render("request_bad_id", given=id)
    request = await rows_of(ctx).CounsellingRequest.get_in_centre(number, ctx.centre_id)
    if request is None:
        return ctx.render("request_not_found", id=number)
    person = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, counsellor, roles=STAFF_ROLES)
    if person is None:
        return ctx.render("request_counsellor_not_found", given=counsellor)
    if account_of(person) != "active":
        # They could not log in to answer: the request would wait for nobody.
        return ctx.render(
            "request_counsellor_unavailable", name=person.name, reason=account_of(person), id=number
        )
    client = await rows_of(ctx).Person.get(request.client_id)
    if client is None or not await assign_request(ctx, request, client, person):
        return ctx.render("request_taken", id=request.id)
    services = services_of(ctx)
    await services.audit(ctx.centre_id, ctx.user_id, "assign", person.user_id, f"request {number}")
    await services.tell(
        person, "request_assigned_staff", id=request.id, client=client.name, reason="admin"
    )
    await services.tell(client, "request_accepted_client", id=request.id)
    return ctx.render("request_assigned_admin", id=request.id, counsellor=person.name)


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
    number = request_number(id)
    if number is None:
        return ctx.render("request_bad_id", given=id)
    admin = ctx.role == Role.ADMIN
    if not await rows_of(ctx).CounsellingRequest.close(number, ctx.centre_id, ctx.user_id, admin):
        return ctx.render("request_close_refused", id=number)
    return ctx.render("request_closed", id=number)
