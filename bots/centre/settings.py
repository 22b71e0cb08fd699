"""``settings [key=value …]``: admins see and change their centre's settings (issue 4).

All or nothing: every value is checked (a fallback counsellor must be staff of the same
centre, given by login or name, and neither deactivated nor deleted) before anything is
stored, so one bad key changes nothing. Each change is audited. A fallback who was
deactivated or deleted later gets a warning line under the list.
"""

from __future__ import annotations

from typing import Any

from appservice.centre_settings import (
    SETTING_KEYS,
    SettingError,
    format_setting,
    parse_setting,
)
from appservice.db import Rows
from bots.framework.commands import ADMINS, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of, services_of

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

STAFF_ROLES = ("counsellor", "admin")


@registry.command(
    "settings",
    aliases=("einstellungen",),
    roles=ADMINS,
    section="admin",
    free_options=True,
    help={
        "de": "Zeigt die Einstellungen der Beratungsstelle; settings schlüssel=wert ändert sie",
        "en": "Shows the centre's settings; settings key=value changes them",
    },
)
async def settings_command(ctx: CommandContext, **options: str) -> str:
    services = services_of(ctx)
    if options:
        changed: dict[str, str] = {}
        for key, value in options.items():
            problem = await _check(ctx, key.lower(), value, changed)
            if problem is not None:
                return problem
        await services.rows.CentreSettingRow.set_many(ctx.centre_id, changed, ctx.user_id)
        for key, value in changed.items():
            await services.audit(ctx.centre_id, ctx.user_id, "settings", key, value)
    effective = await services.settings(ctx.centre_id)
    rows = [(key, format_setting(getattr(effective, key))) for key in SETTING_KEYS]
    fallback, problem = await _fallback_problem(
        rows_of(ctx), ctx.centre_id, effective.fallback_counsellor
    )
    return ctx.render(
        "settings_list",
        rows=rows,
        changed=bool(options),
        fallback=fallback,
        fallback_problem=problem,
    )


async def _fallback_problem(rows: Rows, centre_id: str, user_id: str) -> tuple[str, str | None]:
    """The fallback's name and why they cannot take requests (``deleted``, ``locked``, or
    ``gone`` once erased or moved away), or None: the policy skips such a fallback, so
    requests wait in the pool until the admins choose another."""
    if not user_id:
        return "", None
    person = await rows.Person.get(user_id)
    if person is None or person.centre_id != centre_id or person.role not in STAFF_ROLES:
        return user_id, "gone"
    if person.deleted_at is not None:
        return person.name, "deleted"
    if person.locked_at is not None:
        return person.name, "locked"
    return person.name, None


async def _check(ctx: CommandContext, key: str, value: str, changed: dict[str, str]) -> str | None:
    """Put the stored text of ``key`` into ``changed``, or return the reply saying what is wrong."""
    typed: Any = value
    if key == "fallback_counsellor" and value.strip() not in ("", "-", "none", "keine", "keiner"):
        person = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, value, roles=STAFF_ROLES)
        if person is None:
            return ctx.render("settings_bad_fallback", given=value, reason="unknown")
        if person.deleted_at is not None or person.locked_at is not None:
            # The policy would skip them at once: say so instead of storing a dead end.
            reason = "deleted" if person.deleted_at is not None else "locked"
            return ctx.render("settings_bad_fallback", given=person.name, reason=reason)
        typed = person.user_id
    try:
        parsed = parse_setting(key, typed)
    except SettingError as err:
        return ctx.render(
            "settings_bad_value", key=key, given=value, code=err.code, expected=err.expected
        )
    changed[key] = format_setting(parsed)
    return None
