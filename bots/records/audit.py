"""The audit log in the admin's view: ``audit [N]`` lists the newest admin actions."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.framework.commands import ADMINS, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.names import Names
from bots.framework.services import rows_of

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

DEFAULT_ENTRIES = 20
MAX_ENTRIES = 200


@registry.command(
    "audit",
    aliases=("protokoll",),
    roles=ADMINS,
    section="admin",
    args=(Argument("count", required=False, label={"de": "ANZAHL", "en": "COUNT"}),),
    help={
        "de": "Zeigt die letzten Verwaltungsaktionen Ihrer Beratungsstelle (wer, was, wem, wann)",
        "en": "Lists your centre's latest admin actions (who, what, to whom, when)",
    },
)
async def audit_command(ctx: CommandContext, count: str | None = None) -> str:
    limit = DEFAULT_ENTRIES
    if count is not None:
        if not count.isdigit() or not 1 <= int(count) <= MAX_ENTRIES:
            return ctx.render("audit_bad_count", given=count, maximum=MAX_ENTRIES)
        limit = int(count)
    entries = await rows_of(ctx).AuditEntry.recent(ctx.centre_id, limit)
    # Erased people appear as "erased counsellor #N": the log names them by the tombstone.
    names = Names(ctx)
    rows = [
        {
            "when": datetime.fromtimestamp(e.created_at / 1000, UTC).strftime("%d.%m.%Y %H:%M"),
            "actor": await names.in_text(e.actor_id),
            "action": e.action,
            "target": await names.in_text(e.target),
            "detail": await names.in_text(e.detail),
        }
        for e in entries
    ]
    return ctx.render("audit_list", entries=rows)
