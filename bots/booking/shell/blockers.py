"""Blockers: a counsellor keeps a time free (`block DATE FROM TO [TEXT]`, `unblock ID`).

No slot is offered inside a blocker (``store.load_centre`` hands them to the pure slot
functions) and the calendar lists them with their number. The database checks a new
blocker against the counsellor's appointments under the same lock bookings take, so a
client booking that very time at the same moment and the blocker never both win.
"""

from __future__ import annotations

from appservice.clock import now_ms
from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dates import parse_day
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of

from ..rules import MAX_TITLE, Problem, check_appointment_time, parse_clock
from ..slots import local_ms
from .commands import _ID, FROM, TO, _number, _problem, _tz, _when

registry = CommandRegistry()


@registry.command(
    "block",
    aliases=("blocken", "blocker add"),
    roles=STAFF,
    section="booking",
    args=(
        Argument("day", label={"de": "DATUM", "en": "DATE"}),
        FROM,
        TO,
        Argument("label", required=False, rest=True, label={"de": "TEXT", "en": "TEXT"}),
    ),
    help={
        "de": "Hält eine Zeit frei (keine buchbaren Termine darin), z. B. "
        "`block 8.6.2026 12:00 13:30 Teamsitzung`",
        "en": "Keeps a time free (no bookable slots in it), e.g. "
        "`block 2026-06-08 12:00 13:30 Team meeting`",
    },
)
async def block(ctx: CommandContext, day: str, first: str, last: str, label: str = "") -> str:
    date_, starts, ends = parse_day(day), parse_clock(first), parse_clock(last)
    if date_ is None or starts is None or ends is None:
        return _problem(ctx, "bad_clock", first=f"{day} {first}", last=last)
    tz, now = _tz(ctx), now_ms()
    start, end = local_ms(date_, starts, tz), local_ms(date_, ends, tz)
    problems: list[str] = list(check_appointment_time(start, end, now=now))
    if len(label.strip()) > MAX_TITLE:
        problems.append(Problem.TITLE_TOO_LONG)
    if problems:
        return _problem(ctx, *problems, first=f"{day} {first}", last=last)
    bid = await rows_of(ctx).BookingBlocker.add(
        ctx.centre_id, ctx.user_id, start, end, label.strip(), now
    )
    if bid is None:
        return _problem(ctx, Problem.TIME_TAKEN)
    return ctx.render(
        "blocker_saved", action="added", id=bid, when=_when(ctx, start, tz), until=last
    )


@registry.command(
    "unblock",
    aliases=("entblocken", "blocker delete"),
    roles=STAFF,
    section="booking",
    args=(_ID,),
    help={
        "de": "Hebt einen Ihrer Blocker auf (`calendar` zeigt ihre Nummern)",
        "en": "Removes one of your blockers (`calendar` shows their numbers)",
    },
)
async def unblock(ctx: CommandContext, id: str) -> str:
    number = _number(id)
    if number is None or not await rows_of(ctx).BookingBlocker.delete(number, ctx.user_id):
        return _problem(ctx, "blocker_not_found", given=id)
    return ctx.render("blocker_saved", action="deleted", id=number, when="", until="")
