"""Public profiles of staff: a counsellor's own ``profile``, and what clients see of the team.

Clients see only what a counsellor chose to show: display name, description and languages
(assisto: "Welche Informationen sehen Ratsuchende von mir?"). Never e-mail, login or status.
"""

from __future__ import annotations

import logging

from appservice.admin_api import AdminApiError
from appservice.db import Person
from bots.accounts.staff_rules import PROFILE_KEYS, ProfileProblem, parse_profile
from bots.framework.commands import CLIENTS, EVERYONE, STAFF, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of, services_of

# The team page introduces staff: the centre's clients are not even read.
STAFF_ROLES = ("counsellor", "admin")

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.profile")


def public_profile(person: Person) -> dict[str, object]:
    """The only facts about a counsellor that clients get to see."""
    return {
        "name": person.name,
        "description": person.description or "",
        "languages": [c for c in (person.languages or "").split(",") if c],
    }


def _own_profile(person: Person) -> dict[str, object]:
    return {
        **public_profile(person),
        "email": person.email or "",
        "team_page": person.team_page,
        "crisis_contact": person.crisis_contact,
    }


@registry.command(
    "profile",
    aliases=("profil",),
    roles=STAFF,
    section="profile",
    free_options=True,
    help={
        "de": "Zeigt oder ändert Ihr Profil: name= beschreibung= sprachen=de,en team=ja|nein "
        "krise=ja|nein",
        "en": "Shows or changes your profile: name= description= languages=de,en team=yes|no "
        "crisis=yes|no",
    },
)
async def profile_command(ctx: CommandContext, **options: str) -> str:
    person = await rows_of(ctx).Person.get(ctx.user_id)
    assert person is not None
    if not options:
        return ctx.render("profile_show", **_own_profile(person))
    parsed = parse_profile(options)
    if isinstance(parsed, ProfileProblem):
        return ctx.render(
            "profile_problem",
            code=parsed.code,
            key=parsed.key,
            value=parsed.value,
            limit=parsed.limit,
            keys=sorted(PROFILE_KEYS),
        )
    values = parsed.values
    name = values.get("display_name")
    if name is not None and name != person.display_name:
        try:
            # Clients' apps show the Matrix display name: change it there first.
            await services_of(ctx).admin.create_or_update_user(person.user_id, displayname=name)
        except AdminApiError as e:
            log.warning("display name of %s not changed: %s", person.user_id, e.errcode)
            return ctx.render("profile_synapse_failed", errcode=e.errcode)
    await person.set_profile(**values)
    return ctx.render("profile_set", changed=sorted(values), **_own_profile(person))


@registry.command(
    "counsellor",
    aliases=("berater", "beraterin"),
    roles=CLIENTS,
    section="general",
    help={
        "de": "Zeigt, wer Ihr:e Berater:in ist (Name, Beschreibung, Sprachen)",
        "en": "Shows who your counsellor is (name, description, languages)",
    },
)
async def my_counsellor(ctx: CommandContext) -> str:
    client = await rows_of(ctx).Person.get(ctx.user_id)
    home = None
    if client is not None and client.home_counsellor_id:
        home = await rows_of(ctx).Person.get(client.home_counsellor_id)
    if (
        home is None
        or home.centre_id != ctx.centre_id
        or home.deleted_at is not None
        or home.role not in ("counsellor", "admin")
    ):
        return ctx.render("home_counsellor_none")
    return ctx.render("home_counsellor", **public_profile(home))


@registry.command(
    "team",
    roles=EVERYONE,
    section="general",
    help={
        "de": "Zeigt die Berater:innen, die sich auf der Teamseite vorstellen",
        "en": "Shows the counsellors who introduce themselves on the team page",
    },
)
async def team_command(ctx: CommandContext) -> str:
    shown = [
        public_profile(p)
        for p in await services_of(ctx).rows.Person.all_in_centre(ctx.centre_id, roles=STAFF_ROLES)
        if p.team_page and p.deleted_at is None and p.locked_at is None
    ]
    shown.sort(key=lambda p: str(p["name"]).lower())
    return ctx.render("team_list", counsellors=shown, centre_name=ctx.centre_name)
