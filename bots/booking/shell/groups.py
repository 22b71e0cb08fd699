"""Group appointments: counsellors create and cancel them, clients list and join them.

The pure checks (``bots.booking.group_appointments``) answer bad input; the database hands
out the places (``GroupAppointmentRow.join``), so the last places go to exactly as many
clients as there are, however many try at once.
"""

from __future__ import annotations

from typing import Any

from appservice.clock import now_ms
from appservice.db import GroupAppointmentRow, Person
from bots.framework.commands import CLIENTS, STAFF, Argument, CommandRegistry, Role
from bots.framework.dates import parse_day
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of, services_of

from ..group_appointments import GroupDenial, check_add, check_group, check_join, check_leave
from ..model import GroupAppointment
from ..rules import Problem, parse_channel, parse_clock, parse_minutes
from ..slots import local_ms
from ..video import new_room_name, video_link
from . import jobs
from .commands import _ID, _REASON, FROM, TO, _number, _problem, _tz, _when
from .store import core_group

_YES = ("yes", "ja", "true", "on", "1")
_WHO = Argument("who", rest=True, label={"de": "KLIENT|group:NAME", "en": "CLIENT|group:NAME"})


registry = CommandRegistry()


@registry.command(
    "groupappointment new",
    roles=STAFF,
    section="booking",
    args=(
        Argument("day", label={"de": "DATUM", "en": "DATE"}),
        FROM,
        TO,
        Argument("title", rest=True, label={"de": "TITEL", "en": "TITLE"}),
        Argument("max", keyword=True),
        Argument("bookable", required=False, keyword=True),
        Argument("channel", required=False, keyword=True),
        Argument("followup", required=False, keyword=True),
        Argument("remarks", required=False, keyword=True),
    ),
    help={
        "de": "Legt einen Gruppentermin an, z. B. `groupappointment new 8.6.2026 18:00 19:30 "
        "Elternabend max=8 bookable=ja channel=video`",
        "en": "Creates a group appointment, e.g. `groupappointment new 2026-06-08 18:00 19:30 "
        "Parents' evening max=8 bookable=yes channel=video`",
    },
)
async def group_new(
    ctx: CommandContext,
    day: str,
    first: str,
    last: str,
    title: str,
    max: str,
    bookable: str = "no",
    channel: str = "chat",
    followup: str = "0",
    remarks: str = "",
) -> str:

    date_, starts, ends = parse_day(day), parse_clock(first), parse_clock(last)
    places, follow, chosen = (
        _number(max),
        parse_minutes(followup),
        parse_channel(channel),
    )
    unread: list[str] = []
    if date_ is None or starts is None or ends is None:
        unread.append("bad_clock")
    if places is None:
        unread.append(Problem.BAD_PARTICIPANTS)
    if follow is None:
        unread.append(Problem.BAD_FOLLOW_UP)
    if chosen is None:
        unread.append(Problem.UNKNOWN_CHANNEL)
    if unread or date_ is None or starts is None or ends is None:
        return _problem(ctx, *unread, first=f"{day} {first}", last=last)
    tz = _tz(ctx)
    now = now_ms()
    group = GroupAppointment(
        id=0,
        counsellor=ctx.user_id,
        title=title.strip(),
        starts_at=local_ms(date_, starts, tz),
        ends_at=local_ms(date_, ends, tz),
        max_participants=places or 0,
        bookable=bookable.strip().lower() in _YES,
        remarks=remarks.strip(),
        channel=chosen or "chat",
        follow_up_min=follow or 0,
    )
    problems = check_group(group, now=now)
    if problems:
        return _problem(ctx, *problems, first=f"{day} {first}", last=last)
    gid = await rows_of(ctx).GroupAppointmentRow.create(
        centre_id=ctx.centre_id,
        counsellor=ctx.user_id,
        title=group.title,
        remarks=group.remarks,
        channel=group.channel,
        starts_at=group.starts_at,
        ends_at=group.ends_at,
        busy_until=group.busy_until,
        max_participants=group.max_participants,
        bookable=group.bookable,
        now=now,
    )
    if gid is None:
        return _problem(ctx, Problem.TIME_TAKEN)
    settings = await services_of(ctx).settings(ctx.centre_id)
    url = video_link(
        group.channel,
        room=new_room_name(),
        base_url=settings.video_base_url or None,
        external_url=await rows_of(ctx).CounsellorVideoLink.of(ctx.user_id),
    )
    if url is not None:
        await rows_of(ctx).GroupAppointmentRow.set_video_url(gid, url)
    created = await rows_of(ctx).GroupAppointmentRow.get(gid)
    assert created is not None
    await jobs.plan_group(rows_of(ctx), created, settings, now)
    return ctx.render(
        "group_appointment_saved",
        id=gid,
        title=group.title,
        when=_when(ctx, group.starts_at, tz),
        places=group.max_participants,
        bookable=group.bookable,
    )


@registry.command(
    "groupappointments",
    aliases=("gruppentermine",),
    roles=CLIENTS | STAFF,
    section="booking",
    help={
        "de": "Zeigt die Gruppentermine (Ratsuchende: die buchbaren, mit `join NR`)",
        "en": "Lists group appointments (clients: the bookable ones, with `join ID`)",
    },
)
async def groups_list(ctx: CommandContext) -> str:
    now = now_ms()
    tz = _tz(ctx)
    client = ctx.role is Role.CLIENT
    rows: list[dict[str, Any]] = []
    for row in await rows_of(ctx).GroupAppointmentRow.of_centre(ctx.centre_id, now):
        if row.cancelled_at is not None or row.starts_at <= now:
            continue
        if client and not row.bookable:
            continue
        if not client and row.counsellor != ctx.user_id:
            continue
        rows.append(
            {
                "id": row.id,
                "title": row.title,
                "remarks": row.remarks,
                "when": _when(ctx, row.starts_at, tz),
                "left": row.max_participants - row.places_taken,
                "places": row.max_participants,
            }
        )
    return ctx.render("group_appointments_list", groups=rows, client=client)


@registry.command(
    "join",
    aliases=("teilnehmen",),
    roles=CLIENTS,
    section="booking",
    args=(Argument("id", label={"de": "NR", "en": "ID"}),),
    help={
        "de": "Nimmt an einem buchbaren Gruppentermin teil (`gruppentermine` zeigt sie)",
        "en": "Joins a bookable group appointment (`groupappointments` lists them)",
    },
)
async def join(ctx: CommandContext, id: str) -> str:
    row = await _group_here(ctx, id)
    if row is None:
        return _problem(ctx, "group_not_found", given=id)
    now = now_ms()
    denial = check_join(
        core_group(row, await rows_of(ctx).GroupAppointmentRow.participants(row.id)),
        ctx.user_id,
        now=now,
    )
    if denial is not None:
        return _problem(ctx, denial, given=id)
    outcome = await rows_of(ctx).GroupAppointmentRow.join(row.id, ctx.user_id, now)
    if outcome != "joined":
        code = {"full": GroupDenial.FULL, "already": GroupDenial.ALREADY_JOINED}
        return _problem(ctx, code.get(outcome, GroupDenial.CANCELLED), given=id)
    return await _told_both(ctx, row, "group_appointment_joined")


@registry.command(
    "leave",
    aliases=("verlassen",),
    roles=CLIENTS,
    section="booking",
    args=(Argument("id", label={"de": "NR", "en": "ID"}),),
    help={
        "de": "Meldet Sie von einem Gruppentermin ab (bis zur Absagefrist)",
        "en": "Leaves a group appointment (up to the cancellation cut-off)",
    },
)
async def leave(ctx: CommandContext, id: str) -> str:
    row = await _group_here(ctx, id)
    if row is None:
        return _problem(ctx, "group_not_found", given=id)
    now = now_ms()
    settings = await services_of(ctx).settings(ctx.centre_id)
    denial = check_leave(
        core_group(row, await rows_of(ctx).GroupAppointmentRow.participants(row.id)),
        ctx.user_id,
        now=now,
        cutoff_ms=settings.booking_cancel_hours * 3600_000,
    )
    if denial is not None:
        return _problem(ctx, denial, given=id, hours=settings.booking_cancel_hours)
    if not await rows_of(ctx).GroupAppointmentRow.leave(row.id, ctx.user_id, now):
        return _problem(ctx, GroupDenial.NOT_JOINED, given=id)
    return await _told_both(ctx, row, "group_appointment_left")


async def _group_here(ctx: CommandContext, id: str) -> GroupAppointmentRow | None:
    """The group appointment numbered ``id`` if it is of the asker's centre."""
    n = _number(id)
    row = await rows_of(ctx).GroupAppointmentRow.get(n) if n is not None else None
    return row if row is not None and row.centre_id == ctx.centre_id else None


async def _told_both(ctx: CommandContext, row: GroupAppointmentRow, template: str) -> str:
    """A client joined or left: their counsellor is told in their room, the client answered."""
    tz = _tz(ctx)
    counsellor = await rows_of(ctx).Person.get(row.counsellor)
    me = await rows_of(ctx).Person.get(ctx.user_id)
    if counsellor is not None and me is not None:
        lang = services_of(ctx).directory.language_of(counsellor)
        await services_of(ctx).tell(
            counsellor,
            template,
            id=row.id,
            title=row.title,
            when=_when(ctx, row.starts_at, tz, lang),
            client=me.name,
            mine=False,
        )
    return ctx.render(
        template,
        id=row.id,
        title=row.title,
        when=_when(ctx, row.starts_at, tz),
        client="",
        mine=True,
    )


async def _own_group(ctx: CommandContext, id: str) -> GroupAppointmentRow | None:
    """The group appointment ``id`` if the asker may change it: its counsellor, or an admin
    of its centre (centres stay apart)."""
    row = await _group_here(ctx, id)
    if row is None:
        return None
    return row if row.counsellor == ctx.user_id or ctx.role is Role.ADMIN else None


@registry.command(
    "groupappointment add",
    roles=STAFF,
    section="booking",
    args=(
        _ID,
        Argument("who", rest=True, label={"de": "KLIENT|group:NAME", "en": "CLIENT|group:NAME"}),
    ),
    help={
        "de": "Nimmt eine ratsuchende Person oder eine ganze Gruppe in einen Gruppentermin auf, "
        "z. B. `groupappointment add 4 Wolke` oder `groupappointment add 4 group:Eltern`",
        "en": "Adds a client or a whole group to a group appointment, e.g. "
        "`groupappointment add 4 Cloud` or `groupappointment add 4 group:Parents`",
    },
)
async def group_add(ctx: CommandContext, id: str, who: str) -> str:
    row = await _own_group(ctx, id)
    if row is None:
        return _problem(ctx, "group_not_found", given=id)
    clients = await _clients_named(ctx, who.strip())
    if clients is None:
        return ctx.render("client_problem", problem="not_found", given=who.strip())
    now = now_ms()
    group = core_group(row, await rows_of(ctx).GroupAppointmentRow.participants(row.id))
    new, denial = check_add(group, [c.user_id for c in clients], now=now)
    if denial is not None:
        return _problem(
            ctx, denial, given=id, left=group.max_participants - len(group.participants)
        )
    added = await rows_of(ctx).GroupAppointmentRow.add_participants(row.id, sorted(new), now)
    if not added:
        return _problem(ctx, GroupDenial.TOO_MANY, given=id, left=0)
    tz = _tz(ctx)
    for client in clients:
        if client.user_id in added:
            lang = services_of(ctx).directory.language_of(client)
            await services_of(ctx).tell(
                client,
                "group_appointment_added",
                id=row.id,
                title=row.title,
                remarks=row.remarks,
                channel=row.channel,
                when=_when(ctx, row.starts_at, tz, lang),
            )
            await services_of(ctx).notify(client, "appointment_invited")
    return ctx.render(
        "group_appointment_members",
        id=row.id,
        title=row.title,
        added=[c.name for c in clients if c.user_id in added],
        skipped=len(clients) - len(added),
    )


async def _clients_named(ctx: CommandContext, who: str) -> list[Person] | None:
    """One client, or the members of ``group:NAME``, of the asker's centre; None if unknown."""
    if who.lower().startswith(("group:", "gruppe:")):
        found = await rows_of(ctx).ClientGroup.find(ctx.centre_id, who.split(":", 1)[1])
        if found is None:
            return None
        members = [await rows_of(ctx).Person.get(m) for m in await found.members()]
        return [p for p in members if p is not None and p.deleted_at is None] or None
    person = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, who, roles=("client",))
    return [person] if person is not None and person.deleted_at is None else None


@registry.command(
    "groupappointment cancel",
    roles=STAFF,
    section="booking",
    args=(_ID, _REASON),
    help={
        "de": "Sagt einen Gruppentermin ab; alle Teilnehmenden erfahren es (mit Grund)",
        "en": "Cancels a group appointment; every participant is told (with the reason)",
    },
)
async def group_cancel(ctx: CommandContext, id: str, reason: str = "") -> str:
    row = await _own_group(ctx, id)
    if row is None:
        return _problem(ctx, "group_not_found", given=id)
    now = now_ms()
    if not reason.strip():
        return _problem(ctx, "reason_required", given=id)
    if row.starts_at <= now:
        return _problem(ctx, GroupDenial.STARTED, given=id)
    if not await rows_of(ctx).GroupAppointmentRow.cancel(row.id, now):
        return _problem(ctx, GroupDenial.CANCELLED, given=id)
    tz = _tz(ctx)
    told = 0
    for user_id in await rows_of(ctx).GroupAppointmentRow.participants(row.id):
        person = await rows_of(ctx).Person.get(user_id)
        if person is None or person.deleted_at is not None:
            continue
        lang = services_of(ctx).directory.language_of(person)
        await services_of(ctx).tell(
            person,
            "group_appointment_cancelled",
            id=row.id,
            title=row.title,
            when=_when(ctx, row.starts_at, tz, lang),
            reason=reason.strip(),
            mine=False,
        )
        await services_of(ctx).notify(person, "appointment_cancelled")
        told += 1
    return ctx.render(
        "group_appointment_cancelled",
        id=row.id,
        title=row.title,
        when=_when(ctx, row.starts_at, tz),
        reason=reason.strip(),
        mine=True,
        told=told,
    )
