"""Counsellors' chat status and capacity for requests (assisto "Status", "Ressourcen")."""

from __future__ import annotations

from appservice.db import Person
from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of

from .assignment import STATUSES

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

STATUS_ALIASES = {
    "online": "online",
    "away": "away",
    "abwesend": "away",
    "unavailable": "unavailable",
    "nicht-erreichbar": "unavailable",
    "home-only": "home-only",
    "nur-stammklienten": "home-only",
}
CAPACITY_WORDS = {"unlimited": None, "unbegrenzt": None, "none": 0, "keine": 0}


async def _me(ctx: CommandContext) -> Person:
    person = await rows_of(ctx).Person.get(ctx.user_id)
    assert person is not None, "commands only run for known people"
    return person


@registry.command(
    "status",
    roles=STAFF,
    section="requests",
    args=(Argument("status", required=False, label={"de": "STATUS", "en": "STATUS"}),),
    help={
        "de": "Zeigt oder setzt Ihren Status: online, away, unavailable oder home-only",
        "en": "Shows or sets your status: online, away, unavailable or home-only",
    },
)
async def status_command(ctx: CommandContext, status: str | None = None) -> str:
    me = await _me(ctx)
    if status is None:
        return ctx.render("status_is", status=me.status, capacity=me.capacity)
    chosen = STATUS_ALIASES.get(status.lower())
    if chosen is None or chosen not in STATUSES:
        return ctx.render("status_unknown", given=status)
    await me.set_status(chosen)
    return ctx.render("status_set", status=chosen)


@registry.command(
    "capacity",
    aliases=("ressourcen",),
    roles=STAFF,
    section="requests",
    args=(Argument("capacity", label={"de": "ANZAHL", "en": "NUMBER"}),),
    help={
        "de": "Wie viele offene Anfragen Sie übernehmen: unlimited, none oder eine Zahl",
        "en": "How many open requests you take: unlimited, none or a number",
    },
)
async def capacity_command(ctx: CommandContext, capacity: str) -> str:
    word = capacity.lower()
    if word in CAPACITY_WORDS:
        value = CAPACITY_WORDS[word]
    elif word.isdigit() and int(word) <= 1000:
        value = int(word)
    else:
        return ctx.render("capacity_unknown", given=capacity)
    me = await _me(ctx)
    await me.set_capacity(value)
    return ctx.render("capacity_set", capacity=value)
