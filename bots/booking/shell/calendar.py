"""``calendar [list|day|week|month] [DATE] [mine|@colleague|all]``: a readable text table.

Reads the centre's facts for the asked dates and lets the pure ``calendar_view`` pick and
order the rows; colleagues are looked up in the asker's centre only.
"""

from __future__ import annotations

from datetime import time, timedelta

from appservice.clock import now_ms
from appservice.db import Person
from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of, services_of

from ..calendar_view import CalendarProblem, calendar_rows, parse_calendar_args
from ..closed_days import holiday_names, years_between
from ..model import Blocked
from ..slots import free_slots, local_date, local_ms
from .store import core_appointment, core_group, load_centre

registry = CommandRegistry()


@registry.command(
    "calendar",
    aliases=("kalender",),
    roles=STAFF,
    section="booking",
    args=(Argument("words", required=False, rest=True, label={"de": "ANSICHT", "en": "VIEW"}),),
    help={
        "de": "Zeigt den Kalender: `calendar day|week|month [DATUM] [mine|@kollegin|all]`",
        "en": "Shows the calendar: `calendar day|week|month [DATE] [mine|@colleague|all]`",
    },
)
async def calendar(ctx: CommandContext, words: str = "") -> str:
    services = services_of(ctx)
    centre_cfg = services.directory.cfg.centre(ctx.centre_id)
    assert centre_cfg is not None
    tz = centre_cfg.zone
    now = now_ms()
    query = parse_calendar_args(words.split(), local_date(now, tz))
    if isinstance(query, CalendarProblem):
        return ctx.render("booking_problem", problems=[query.value], given=words)
    tables = services.rows
    # The staff, and below the clients of the shown appointments: not the whole centre.
    people = {
        p.user_id: p
        for p in await tables.Person.all_in_centre(ctx.centre_id, roles=("counsellor", "admin"))
    }
    whom = {"mine": "mine", "all": "all"}.get(query.who)
    if whom is None:
        colleague = await services.rows.Person.find_in_centre(
            ctx.centre_id, query.who, roles=("counsellor", "admin")
        )
        if colleague is None:
            return ctx.render("booking_problem", problems=["counsellor_not_found"], given=query.who)
        query = type(query)(query.view, query.first, query.end, colleague.user_id)
        whom = colleague.name
    start = local_ms(query.first, time(), tz)
    end = local_ms(query.end, time(), tz)
    settings = await services.settings(ctx.centre_id)
    centre = await load_centre(rows_of(ctx), ctx.centre_id, settings, tz, now)
    appointments = [
        core_appointment(a)
        for a in await services.rows.Appointment.of_centre_between(ctx.centre_id, start, end)
    ]
    for client_id in sorted({a.client for a in appointments if a.client} - set(people)):
        client = await tables.Person.get(client_id)
        if client is not None and client.centre_id == ctx.centre_id:
            people[client_id] = client
    blocked = [
        Blocked("absence", a.starts_at, a.ends_at, counsellor=a.user_id, label=a.label, id=a.id)
        for p in people.values()
        if p.role != "client"
        for a in await services.rows.Absence.upcoming(p.user_id, start)
        if a.starts_at < end
    ] + [
        Blocked("blocker", b.starts_at, b.ends_at, counsellor=b.counsellor, label=b.label, id=b.id)
        for b in await services.rows.BookingBlocker.of_centre(ctx.centre_id, start, end)
    ]
    holidays = holiday_names(
        settings.holiday_region,
        years_between(query.first, query.end - timedelta(days=1)),
        ctx.lang,
    )
    free = free_slots(
        centre.windows,
        centre.services,
        now=now,
        policy=centre.policy,
        busy=centre.busy,
        dates=(query.first, query.end),
    )
    groups = [
        core_group(g, await services.rows.GroupAppointmentRow.participants(g.id))
        for g in await services.rows.GroupAppointmentRow.of_centre(ctx.centre_id, start)
        if g.starts_at < end
    ]
    rows = calendar_rows(
        query,
        viewer=ctx.user_id,
        appointments=appointments,
        groups=groups,
        blocked=blocked,
        holidays=holidays,
        free=free,
        services=centre.services,
        pseudonyms={u: p.name for u, p in people.items() if p.role == "client"},
        tz=tz,
        now=now,
    )
    rows = [r._replace(counsellor=_name(people, r.counsellor)) for r in rows]
    return ctx.render(
        "calendar_view",
        view=query.view,
        first=query.first.strftime("%d.%m.%Y"),
        last=(query.end - timedelta(days=1)).strftime("%d.%m.%Y"),
        who=whom,
        rows=rows,
    )


def _name(people: dict[str, Person], user_id: str | None) -> str | None:
    person = people.get(user_id or "")
    return person.name if person is not None else user_id
