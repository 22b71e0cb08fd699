"""``settings [key=value …]``: admins see and change their centre's settings (issue 4).

All or nothing: every value is checked (a fallback counsellor must be staff of the same
centre, given by login or name) before anything is stored, so one bad key changes nothing.
Each change is audited.
"""

from __future__ import annotations

from typing import Any

from appservice.centre_settings import (
    SETTING_KEYS,
    SettingError,
    format_setting,
    parse_setting,
)
from appservice.db import CentreSettingRow, Person

from .commands import ADMINS
from .dispatch import CommandContext
from .registry import registry
from .services import services_of

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
        await CentreSettingRow.set_many(ctx.centre_id, changed, ctx.user_id)
        for key, value in changed.items():
            await services.audit(ctx.centre_id, ctx.user_id, "settings", key, value)
    effective = await services.settings(ctx.centre_id)
    rows = [(key, format_setting(getattr(effective, key))) for key in SETTING_KEYS]
    return ctx.render("settings_list", rows=rows, changed=bool(options))


async def _check(ctx: CommandContext, key: str, value: str, changed: dict[str, str]) -> str | None:
    """Put the stored text of ``key`` into ``changed``, or return the reply saying what is wrong."""
    typed: Any = value
    if key == "fallback_counsellor" and value.strip() not in ("", "-", "none", "keine", "keiner"):
        person = await Person.find_in_centre(ctx.centre_id, value, roles=STAFF_ROLES)
        if person is None:
            return ctx.render("settings_bad_fallback", given=value)
        typed = person.user_id
    try:
        parsed = parse_setting(key, typed)
    except SettingError as err:
        return ctx.render(
            "settings_bad_value", key=key, given=value, code=err.code, expected=err.expected
        )
    changed[key] = format_setting(parsed)
    return None
