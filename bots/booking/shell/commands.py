"""Booking commands: services, booking times, slots and booking, confirm and decline.

The shell around the pure core: each handler reads rows, asks the core's checks and
changes nothing when one says no (the reply names what was wrong). The database decides
races (``Appointment.reserve``): whoever books a slot second is told it is taken.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from appservice.clock import now_ms
from appservice.db import (
    Appointment,
)
from bots.framework.commands import CLIENTS, STAFF, Argument, CommandRegistry, Role
from bots.framework.dates import parse_day
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of, services_of

from ..model import CHANNELS, MINUTE_MS, BookingWindow, Service
from ..offering import (
    Actor,
    Denial,
    check_action,
    check_offered,
    check_send,
    first_offers,
    hold_until,
    next_state,
    parse_offer_filter,
    slot_key,
)
from ..rules import (
    Problem,
    check_appointment_time,
    check_service,
    check_window,
    parse_channel,
    parse_clock,
    parse_horizon,
    parse_minutes,
    parse_weekday,
)
from ..slots import free_slots, local_date, local_ms, wall_clock
from ..video import new_room_name, video_link
from . import jobs
from .polls import close_poll, offer_poll
from .store import core_appointment, core_service, core_window, load_centre

PAGE = 20  # a poll holds at most 20 answers; the text list shows as many
_TITLE = Argument("title", rest=True, label={"de": "TITEL", "en": "TITLE"})
_ID = Argument("id", label={"de": "NR", "en": "ID"})
FROM = Argument("first", label={"de": "VON", "en": "FROM"})
TO = Argument("last", label={"de": "BIS", "en": "TO"})
_REASON = Argument("reason", required=False, rest=True, label={"de": "GRUND", "en": "REASON"})
_SERVICE_OPTIONS = (
    Argument("duration", required=False, keyword=True),
    Argument("followup", required=False, keyword=True),
    Argument("channel", required=False, keyword=True),
    Argument("topic", required=False, keyword=True),
    Argument("description", required=False, keyword=True),
)


def _problem(ctx: CommandContext, *codes: str, **variables: Any) -> str:
    return ctx.render("booking_problem", problems=list(codes), **variables)


def _tz(ctx: CommandContext) -> Any:
    centre = services_of(ctx).directory.cfg.centre(ctx.centre_id)
    assert centre is not None
    return centre.zone


def _when(ctx: CommandContext, ms: int, tz: Any, lang: str | None = None) -> str:
    """A start in the centre's time zone, in ``lang`` (the asker's unless another's)."""
    return ctx.renderer.render(lang or ctx.lang, "booking_when", **wall_clock(ms, tz))


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and len(text) < 10 else None


# --- services ---------------------------------------------------------------------------


registry = CommandRegistry()


@registry.command(
    "services",
    aliases=("leistungen",),
    roles=STAFF,
    section="booking",
    help={"de": "Zeigt die Beratungsleistungen der Stelle", "en": "Lists the centre's services"},
)
async def services_list(ctx: CommandContext) -> str:
    return ctx.render(
        "services_list", services=await rows_of(ctx).BookingService.of_centre(ctx.centre_id)
    )


@registry.command(
    "service new",
    roles=STAFF,
    section="booking",
    args=(_TITLE, *_SERVICE_OPTIONS),
    help={
        "de": "Legt eine Beratungsleistung an, z. B. `service new Erstgespräch duration=30 "
        'followup=10 channel=chat description="Ein erstes Kennenlernen"`',
        "en": "Creates a service, e.g. `service new First talk duration=30 followup=10 "
        'channel=video description="Getting to know each other"`',
    },
)
async def service_new(ctx: CommandContext, title: str, **options: str) -> str:
    base = Service(0, title.strip(), 0, 0, "chat")
    service, problems = _apply(base, options, ctx)
    if "duration" not in options:
        problems.append(Problem.BAD_DURATION)
    if problems:
        return _problem(ctx, *problems)
    sid = await rows_of(ctx).BookingService.add(
        ctx.centre_id,
        ctx.user_id,
        title=service.title,
        duration_min=service.duration_min,
        follow_up_min=service.follow_up_min,
        channel=service.channel,
        topic=service.topic,
        description=service.description,
        now=now_ms(),
    )
    return ctx.render("service_saved", action="created", id=sid, service=service)


@registry.command(
    "service edit",
    roles=STAFF,
    section="booking",
    args=(_ID, Argument("title", required=False, keyword=True), *_SERVICE_OPTIONS),
    help={
        "de": "Ändert eine Beratungsleistung, z. B. `service edit 3 duration=45`",
        "en": "Changes a service, e.g. `service edit 3 duration=45`",
    },
)
async def service_edit(ctx: CommandContext, id: str, **options: str) -> str:
    number = _number(id)
    row = (
        await rows_of(ctx).BookingService.get(number, ctx.centre_id) if number is not None else None
    )
    if row is None:
        return _problem(ctx, "service_not_found", given=id)
    if not options:
        return _problem(ctx, "nothing_to_change")
    service, problems = _apply(core_service(row), options, ctx)
    if problems:
        return _problem(ctx, *problems)
    row.title, row.duration_min, row.follow_up_min = (
        service.title,
        service.duration_min,
        service.follow_up_min,
    )
    row.channel, row.topic, row.description = service.channel, service.topic, service.description
    await row.save()
    return ctx.render("service_saved", action="edited", id=row.id, service=service)


@registry.command(
    "service delete",
    roles=STAFF,
    section="booking",
    args=(_ID,),
    help={
        "de": "Löscht eine Beratungsleistung und ihre Buchungszeiten; gebuchte Termine bleiben",
        "en": "Deletes a service and its booking times; booked appointments stay",
    },
)
async def service_delete(ctx: CommandContext, id: str) -> str:
    number = _number(id)
    if number is None or not await rows_of(ctx).BookingService.delete(
        number, ctx.centre_id, now_ms()
    ):
        return _problem(ctx, "service_not_found", given=id)
    return ctx.render("service_saved", action="deleted", id=number, service=None)


def _apply(
    service: Service, options: dict[str, str], ctx: CommandContext
) -> tuple[Service, list[str]]:
    """The service with the typed options; the problems found (nothing is saved if any)."""
    problems: list[str] = []
    changes: dict[str, Any] = {}
    if "title" in options:
        changes["title"] = options["title"].strip()
    for key, attr, problem in (
        ("duration", "duration_min", Problem.BAD_DURATION),
        ("followup", "follow_up_min", Problem.BAD_FOLLOW_UP),
    ):
        if key in options:
            minutes = parse_minutes(options[key])
            if minutes is None:
                problems.append(problem)
            else:
                changes[attr] = minutes
    if "channel" in options:
        channel = parse_channel(options["channel"])
        if channel is None:
            problems.append(Problem.UNKNOWN_CHANNEL)
        else:
            changes["channel"] = channel
    if "topic" in options:
        changes["topic"] = options["topic"].strip() or None
    if "description" in options:
        changes["description"] = options["description"].strip()
    result = replace(service, **changes)
    centre = services_of(ctx).directory.cfg.centre(ctx.centre_id)
    topics = [t.id for t in centre.topics] if centre is not None else []
    problems += [p for p in check_service(result, topics) if p not in problems]
    return result, problems


# --- booking times ----------------------------------------------------------------------


@registry.command(
    "hours",
    aliases=("buchungszeiten",),
    roles=STAFF,
    section="booking",
    help={"de": "Zeigt Ihre Buchungszeiten", "en": "Lists your booking times"},
)
async def hours_list(ctx: CommandContext) -> str:
    services = {s.id: s for s in await rows_of(ctx).BookingService.of_centre(ctx.centre_id)}
    rows = [
        {"window": core_window(w), "service": services.get(w.service_id)}
        for w in await rows_of(ctx).BookingWindowRow.of_counsellor(ctx.user_id)
    ]
    return ctx.render("hours_list", hours=rows)


@registry.command(
    "hours add",
    roles=STAFF,
    section="booking",
    args=(
        Argument("weekday", label={"de": "WOCHENTAG", "en": "WEEKDAY"}),
        FROM,
        TO,
        Argument("service", label={"de": "LEISTUNG", "en": "SERVICE"}),
        Argument("weeks", required=False, keyword=True),
    ),
    help={
        "de": "Legt eine Buchungszeit an, z. B. `hours add Mo 9:00 12:00 3 weeks=4` "
        "(Leistung Nr. 3, 1, 2, 4 oder 8 Wochen im Voraus)",
        "en": "Adds a booking time, e.g. `hours add mon 9:00 12:00 3 weeks=4` (service "
        "no. 3, bookable 1, 2, 4 or 8 weeks ahead)",
    },
)
async def hours_add(
    ctx: CommandContext, weekday: str, first: str, last: str, service: str, weeks: str = "4"
) -> str:
    day, starts, ends = parse_weekday(weekday), parse_clock(first), parse_clock(last)
    horizon, sid = parse_horizon(weeks), _number(service)
    unread = [
        code
        for code, value in (
            (Problem.BAD_WEEKDAY, day),
            ("bad_clock", starts if ends is not None else None),
            (Problem.BAD_HORIZON, horizon),
        )
        if value is None
    ]
    if unread or day is None or starts is None or ends is None or horizon is None:
        return _problem(ctx, *unread, first=first, last=last)
    services = {
        s.id: core_service(s) for s in await rows_of(ctx).BookingService.of_centre(ctx.centre_id)
    }
    existing = [
        core_window(w) for w in await rows_of(ctx).BookingWindowRow.of_counsellor(ctx.user_id)
    ]
    window = BookingWindow(0, ctx.user_id, day, starts, ends, sid or 0, horizon)
    problems = check_window(window, services, existing)
    if problems:
        return _problem(ctx, *problems, first=first, last=last)
    wid = await rows_of(ctx).BookingWindowRow.add(
        ctx.user_id,
        day,
        starts.hour * 60 + starts.minute,
        ends.hour * 60 + ends.minute,
        window.service_id,
        horizon,
        now_ms(),
    )
    return ctx.render(
        "hours_saved", action="added", id=wid, window=window, service=services[window.service_id]
    )


@registry.command(
    "hours delete",
    roles=STAFF,
    section="booking",
    args=(_ID,),
    help={"de": "Löscht eine Ihrer Buchungszeiten", "en": "Deletes one of your booking times"},
)
async def hours_delete(ctx: CommandContext, id: str) -> str:
    number = _number(id)
    if number is None or not await rows_of(ctx).BookingWindowRow.delete(number, ctx.user_id):
        return _problem(ctx, "hours_not_found", given=id)
    return ctx.render("hours_saved", action="deleted", id=number, window=None, service=None)


# --- clients: slots and booking ---------------------------------------------------------


@registry.command(
    "slots",
    aliases=("termine",),
    roles=CLIENTS,
    section="booking",
    args=(Argument("filter", required=False, rest=True, label={"de": "FILTER", "en": "FILTER"}),),
    help={
        "de": "Zeigt freie Termine, nummeriert (z. B. `termine video KW12`); `buchen N` bucht",
        "en": "Lists free appointment slots, numbered (e.g. `slots video W12`); `book N` books",
    },
)
async def slots_list(ctx: CommandContext, filter: str = "") -> str:
    now = now_ms()
    tz = _tz(ctx)
    settings = await services_of(ctx).settings(ctx.centre_id)
    centre = await load_centre(rows_of(ctx), ctx.centre_id, settings, tz, now)
    chosen = parse_offer_filter(filter.split(), centre.services, local_date(now, tz))
    if isinstance(chosen, Denial):
        return _problem(ctx, chosen, given=filter, channels=CHANNELS)
    me = await rows_of(ctx).Person.get(ctx.user_id)
    home = me.home_counsellor_id if me is not None else None
    offers = first_offers(
        centre.windows,
        centre.services,
        now=now,
        limit=PAGE,
        policy=centre.policy,
        home_counsellor=home,
        home_only=centre.home_only,
        chosen=chosen,
        busy=centre.busy,
    )
    await rows_of(ctx).BookingOffer.replace(ctx.user_id, [slot_key(s) for s in offers], now)
    rows = [
        {
            "number": n,
            "when": _when(ctx, s.starts_at, tz),
            "minutes": (s.ends_at - s.starts_at) // MINUTE_MS,
            "channel": centre.services[s.service_id].channel,
            "description": centre.services[s.service_id].description,
            "counsellor": centre.staff[s.counsellor].name,
            "home": s.counsellor == home,
        }
        for n, s in enumerate(offers, 1)
    ]
    labels = [ctx.render("slots_poll_label", **row) for row in rows]
    await offer_poll(ctx, [(slot_key(s), label) for s, label in zip(offers, labels, strict=True)])
    return ctx.render("slots_list", slots=rows, tz=str(tz))


@registry.command(
    "book",
    aliases=("buchen",),
    roles=CLIENTS,
    section="booking",
    args=(Argument("number", label={"de": "N", "en": "N"}),),
    help={
        "de": "Bucht den Termin Nummer N aus `termine`; die Beratung bestätigt ihn",
        "en": "Books slot number N from `slots`; the counsellor confirms it",
    },
)
async def book(ctx: CommandContext, number: str) -> str:
    n = _number(number)
    key = await rows_of(ctx).BookingOffer.key(ctx.user_id, n) if n is not None else None
    if key is None:
        return _problem(ctx, Denial.SLOT_UNKNOWN, given=number)
    return await book_key(ctx, key, number)


async def book_key(ctx: CommandContext, key: str, given: str) -> str:
    """Book the offered slot ``key`` (typed by number or voted in the poll)."""
    now = now_ms()
    me = await rows_of(ctx).Person.get(ctx.user_id)
    if me is None or me.deleted_at is not None or me.locked_at is not None:
        return _problem(ctx, "not_allowed")
    tz = _tz(ctx)
    settings = await services_of(ctx).settings(ctx.centre_id)
    centre = await load_centre(rows_of(ctx), ctx.centre_id, settings, tz, now)
    counsellor = key.split("|", 1)[0]
    if counsellor in centre.home_only and me.home_counsellor_id != counsellor:
        return _problem(ctx, Denial.SLOT_UNKNOWN, given=given)
    mine = [w for w in centre.windows if w.counsellor == counsellor]
    free = free_slots(mine, centre.services, now=now, policy=centre.policy, busy=centre.busy)
    slot = check_offered(key, free, now=now, lead_minutes=settings.booking_lead_minutes)
    if isinstance(slot, Denial):
        return _problem(ctx, slot, given=given)
    service = centre.services[slot.service_id]
    until = hold_until(now, settings.booking_hold_minutes)
    appointment_id = await rows_of(ctx).Appointment.reserve(
        centre_id=ctx.centre_id,
        counsellor=slot.counsellor,
        client=ctx.user_id,
        service_id=service.id,
        title=service.title,
        channel=service.channel,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        busy_until=slot.busy_until,
        state="held",
        held_until=until,
        video_url=None,
        now=now,
    )
    if appointment_id is None:
        return _problem(ctx, Denial.SLOT_TAKEN, given=given)
    await rows_of(ctx).Appointment.release_other_holds(ctx.user_id, appointment_id, now)
    await rows_of(ctx).BookingOffer.replace(ctx.user_id, [], now)  # the numbers shown are spent
    await close_poll(ctx)
    return ctx.render(
        "appointment_held",
        id=appointment_id,
        when=_when(ctx, slot.starts_at, tz),
        counsellor=centre.staff[slot.counsellor].name,
        channel=service.channel,
        until=datetime.fromtimestamp(until / 1000, tz).strftime("%H:%M"),
        minutes=settings.booking_hold_minutes,
    )


@registry.command(
    "send",
    aliases=("absenden",),
    roles=CLIENTS,
    section="booking",
    args=(_ID,),
    help={
        "de": "Schickt die Anfrage für den Termin, den `buchen N` für Sie reserviert hat",
        "en": "Sends the request for the slot `book N` holds for you",
    },
)
async def send_request(ctx: CommandContext, id: str) -> str:
    """The second step of booking: the held slot is requested and the counsellor told."""
    row = await _appointment_here(ctx, id)
    if row is None:
        return _problem(ctx, Denial.NOT_FOUND, given=id)
    me = await rows_of(ctx).Person.get(ctx.user_id)
    if me is None or me.deleted_at is not None or me.locked_at is not None:
        return _problem(ctx, "not_allowed")
    now = now_ms()
    denial = check_send(core_appointment(row), ctx.user_id, now=now)
    if denial is None and not await rows_of(ctx).Appointment.send_hold(row.id, ctx.user_id, now):
        denial = Denial.HOLD_LAPSED  # it lapsed between reading and writing
    if denial is not None:
        return _problem(ctx, denial, given=id)
    tz = _tz(ctx)
    staff = await rows_of(ctx).Person.get(row.counsellor)
    if staff is not None:
        await services_of(ctx).tell(
            staff,
            "appointment_requested_staff",
            id=row.id,
            when=_when(ctx, row.starts_at, tz, services_of(ctx).directory.language_of(staff)),
            client=me.name,
            title=row.title,
        )
        await services_of(ctx).notify(staff, "appointment_requested")
    return ctx.render(
        "appointment_requested",
        id=row.id,
        when=_when(ctx, row.starts_at, tz),
        counsellor=staff.name if staff is not None else "",
        channel=row.channel,
    )


# --- counsellors: confirm and decline ---------------------------------------------------


async def _appointment_here(ctx: CommandContext, id: str) -> Appointment | None:
    """The appointment numbered ``id`` if it is of the asker's centre (centres stay apart)."""
    n = _number(id)
    row = await rows_of(ctx).Appointment.get(n) if n is not None else None
    return row if row is not None and row.centre_id == ctx.centre_id else None


async def _decide(ctx: CommandContext, id: str, action: str, reason: str = "") -> str:
    row = await _appointment_here(ctx, id)
    if row is None:
        return _problem(ctx, Denial.NOT_FOUND, given=id)
    now = now_ms()
    actor = Actor(ctx.user_id, "admin" if ctx.role is Role.ADMIN else "counsellor")
    act = cast(Any, action)
    denial = check_action(act, actor, core_appointment(row), now=now, reason=reason)
    if denial is not None:
        return _problem(ctx, denial, given=id)
    if not await rows_of(ctx).Appointment.change_state(
        row.id, ("requested",), next_state(act), now
    ):
        return _problem(ctx, Denial.ALREADY_CLOSED, given=id)
    if action == "confirm":
        settings = await services_of(ctx).settings(ctx.centre_id)
        url = video_link(
            cast(Any, row.channel),
            room=new_room_name(),
            base_url=settings.video_base_url or None,
            external_url=await rows_of(ctx).CounsellorVideoLink.of(row.counsellor),
        )
        if url is not None:
            await rows_of(ctx).Appointment.set_video_url(row.id, url)
        confirmed = await rows_of(ctx).Appointment.get(row.id)
        assert confirmed is not None
        await jobs.plan(rows_of(ctx), confirmed, settings, now)
    tz = _tz(ctx)
    client = await rows_of(ctx).Person.get(row.client) if row.client else None
    if client is not None:
        await services_of(ctx).tell(
            client,
            "appointment_decided_client",
            id=row.id,
            confirmed=action == "confirm",
            when=_when(ctx, row.starts_at, tz, services_of(ctx).directory.language_of(client)),
            reason=reason.strip(),
        )
        await services_of(ctx).notify(client, "appointment_decided")
    return ctx.render(
        "appointment_decided_staff",
        id=row.id,
        confirmed=action == "confirm",
        when=_when(ctx, row.starts_at, tz),
        client=client.name if client is not None else "",
    )


@registry.command(
    "confirm",
    aliases=("bestaetigen", "bestätigen"),
    roles=STAFF,
    section="booking",
    args=(_ID,),
    help={"de": "Bestätigt einen gebuchten Termin", "en": "Confirms a booked appointment"},
)
async def confirm(ctx: CommandContext, id: str) -> str:
    return await _decide(ctx, id, "confirm")


@registry.command(
    "decline",
    aliases=("ablehnen",),
    roles=STAFF,
    section="booking",
    args=(
        _ID,
        _REASON,
    ),
    help={
        "de": "Lehnt einen gebuchten Termin ab (der Grund geht an die ratsuchende Person)",
        "en": "Declines a booked appointment (the reason goes to the client)",
    },
)
async def decline(ctx: CommandContext, id: str, reason: str = "") -> str:
    return await _decide(ctx, id, "decline", reason)


@registry.command(
    "appointments",
    aliases=("meine-termine",),
    roles=CLIENTS | STAFF,
    section="booking",
    help={"de": "Zeigt Ihre kommenden Termine", "en": "Lists your coming appointments"},
)
async def appointments_list(ctx: CommandContext) -> str:
    tz = _tz(ctx)
    tables = services_of(ctx).rows
    coming = await tables.Appointment.of_person(ctx.user_id, now_ms())
    # Only the people these appointments name are read, not the whole centre.
    people: dict[str, str] = {}
    for uid in {(a.counsellor if a.client == ctx.user_id else a.client) or "" for a in coming}:
        other = await tables.Person.get(uid) if uid else None
        if other is not None and other.centre_id == ctx.centre_id:
            people[uid] = other.name
    rows = [
        {
            "id": a.id,
            "when": _when(ctx, a.starts_at, tz),
            "state": a.state,
            "channel": a.channel,
            "title": a.title if ctx.role is not Role.CLIENT else "",
            "other": people.get(a.counsellor if a.client == ctx.user_id else a.client or "", ""),
        }
        for a in coming
    ]
    return ctx.render("appointments_list", appointments=rows)


@registry.command(
    "cancel",
    aliases=("absagen",),
    roles=CLIENTS | STAFF,
    section="booking",
    args=(
        _ID,
        _REASON,
    ),
    help={
        "de": "Sagt einen Termin ab (Beratende mit Grund; Ratsuchende bis zur Frist der Stelle)",
        "en": "Cancels an appointment (staff with a reason; clients up to the centre's cut-off)",
    },
)
async def cancel(ctx: CommandContext, id: str, reason: str = "") -> str:
    row = await _appointment_here(ctx, id)
    if row is None:
        return _problem(ctx, Denial.NOT_FOUND, given=id)
    now = now_ms()
    role = {Role.CLIENT: "client", Role.ADMIN: "admin"}.get(ctx.role, "counsellor")
    settings = await services_of(ctx).settings(ctx.centre_id)
    denial = check_action(
        "cancel",
        Actor(ctx.user_id, cast(Any, role)),
        core_appointment(row),
        now=now,
        cutoff_minutes=settings.booking_cancel_hours * 60,
        reason=reason,
    )
    if denial is not None:
        return _problem(ctx, denial, given=id, hours=settings.booking_cancel_hours)
    if not await rows_of(ctx).Appointment.change_state(
        row.id, ("held", "requested", "confirmed"), "cancelled", now
    ):
        return _problem(ctx, Denial.ALREADY_CLOSED, given=id)
    tz = _tz(ctx)
    others = [u for u in (row.client, row.counsellor) if u and u != ctx.user_id]
    for other in others:
        person = await rows_of(ctx).Person.get(other)
        if person is None:
            continue
        lang = services_of(ctx).directory.language_of(person)
        await services_of(ctx).tell(
            person,
            "appointment_cancelled",
            id=row.id,
            when=_when(ctx, row.starts_at, tz, lang),
            reason=reason.strip(),
            mine=False,
        )
        await services_of(ctx).notify(person, "appointment_cancelled")
    return ctx.render(
        "appointment_cancelled",
        id=row.id,
        when=_when(ctx, row.starts_at, tz),
        reason=reason.strip(),
        mine=True,
    )


@registry.command(
    "appointment new",
    roles=STAFF,
    section="booking",
    args=(
        Argument("client", label={"de": "KLIENT", "en": "CLIENT"}),
        Argument("day", label={"de": "DATUM", "en": "DATE"}),
        FROM,
        Argument("service", label={"de": "LEISTUNG", "en": "SERVICE"}),
    ),
    help={
        "de": "Trägt einen Termin für eine ratsuchende Person ein, ohne Buchungszeit "
        "(bestätigt), z. B. `appointment new Wolke 8.6.2026 14:00 3`",
        "en": "Enters a confirmed appointment for a client without booking times, e.g. "
        "`appointment new Cloud 2026-06-08 14:00 3`",
    },
)
async def appointment_new(
    ctx: CommandContext, client: str, day: str, first: str, service: str
) -> str:
    who = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, client, roles=("client",))
    if who is None or who.deleted_at is not None:
        return ctx.render("client_problem", problem="not_found", given=client)
    date_, starts, sid = parse_day(day), parse_clock(first), _number(service)
    row = await rows_of(ctx).BookingService.get(sid, ctx.centre_id) if sid is not None else None
    if date_ is None or starts is None:
        return _problem(ctx, "bad_clock", first=day, last=first)
    if row is None:
        return _problem(ctx, "service_not_found", given=service)
    now, tz = now_ms(), _tz(ctx)
    start = local_ms(date_, starts, tz)
    end = start + row.duration_min * MINUTE_MS
    busy_until = end + row.follow_up_min * MINUTE_MS
    problems = check_appointment_time(start, end, now=now, follow_up_min=row.follow_up_min)
    if problems:
        return _problem(ctx, *problems, first=f"{day} {first}", last=first)
    settings = await services_of(ctx).settings(ctx.centre_id)
    url = video_link(
        cast(Any, row.channel),
        room=new_room_name(),
        base_url=settings.video_base_url or None,
        external_url=await rows_of(ctx).CounsellorVideoLink.of(ctx.user_id),
    )
    appointment_id = await rows_of(ctx).Appointment.reserve(
        centre_id=ctx.centre_id,
        counsellor=ctx.user_id,
        client=who.user_id,
        service_id=row.id,
        title=row.title,
        channel=row.channel,
        starts_at=start,
        ends_at=end,
        busy_until=busy_until,
        state="confirmed",
        held_until=None,
        video_url=url,
        now=now,
    )
    if appointment_id is None:
        return _problem(ctx, Problem.TIME_TAKEN)
    created = await rows_of(ctx).Appointment.get(appointment_id)
    assert created is not None
    await jobs.plan(rows_of(ctx), created, settings, now)
    lang = services_of(ctx).directory.language_of(who)
    await services_of(ctx).tell(
        who,
        "appointment_decided_client",
        id=appointment_id,
        confirmed=True,
        when=_when(ctx, start, tz, lang),
        reason="",
    )
    await services_of(ctx).notify(who, "appointment_decided")
    return ctx.render(
        "appointment_decided_staff",
        id=appointment_id,
        confirmed=True,
        when=_when(ctx, start, tz),
        client=who.name,
    )
