"""Absences of counsellors: recorded here, skipped by assignment (and later by booking)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dates import DEFAULT_TZ, day_range
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()


@registry.command(
    "absence add",
    roles=STAFF,
    section="requests",
    args=(
        Argument("first", label={"de": "VON", "en": "FROM"}),
        Argument("last", label={"de": "BIS", "en": "TO"}),
        Argument("label", rest=True, label={"de": "ANLASS", "en": "LABEL"}),
    ),
    help={
        "de": "Trägt eine Abwesenheit ein (ganze Tage, z. B. `absence add 24.12.2026 "
        "2.1.2027 Urlaub`); in der Zeit bekommen Sie keine Anfragen zugewiesen",
        "en": "Records an absence (whole days, e.g. `absence add 2026-12-24 2027-01-02 "
        "holiday`); no requests are assigned to you meanwhile",
    },
)
async def absence_add(ctx: CommandContext, first: str, last: str, label: str) -> str:
    result = day_range(first, last, DEFAULT_TZ)
    if isinstance(result, str):
        return ctx.render("absence_bad_range", problem=result, first=first, last=last)
    start, end = result
    absence_id = await rows_of(ctx).Absence.add(
        ctx.user_id, int(start.timestamp() * 1000), int(end.timestamp() * 1000), label[:200]
    )
    return ctx.render(
        "absence_added",
        id=absence_id,
        first=start.strftime("%d.%m.%Y"),
        last=(end - timedelta(days=1)).strftime("%d.%m.%Y"),
        label=label[:200],
    )


@registry.command(
    "absences",
    aliases=("abwesenheiten",),
    roles=STAFF,
    section="requests",
    help={"de": "Zeigt Ihre aktuellen und kommenden Abwesenheiten", "en": "Lists your absences"},
)
async def absences_list(ctx: CommandContext) -> str:
    rows = []
    for a in await rows_of(ctx).Absence.upcoming(ctx.user_id, int(time.time() * 1000)):
        start = _local(a.starts_at)
        last = _local(a.ends_at - 1)
        rows.append({"id": a.id, "first": start, "last": last, "label": a.label})
    return ctx.render("absences_list", absences=rows)


@registry.command(
    "absence delete",
    roles=STAFF,
    section="requests",
    args=(Argument("id", label={"de": "NR", "en": "ID"}),),
    help={"de": "Löscht eine Ihrer Abwesenheiten", "en": "Deletes one of your absences"},
)
async def absence_delete(ctx: CommandContext, id: str) -> str:
    if not id.isdigit() or not await rows_of(ctx).Absence.delete(int(id), ctx.user_id):
        return ctx.render("absence_not_found", id=id)
    return ctx.render("absence_deleted", id=id)


def _local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, DEFAULT_TZ).strftime("%d.%m.%Y")
