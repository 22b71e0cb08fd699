"""Commands everyone has: help."""

from __future__ import annotations

from .commands import EVERYONE, Argument
from .dispatch import CommandContext
from .help import render_help
from .registry import registry
from .services import services_of


@registry.command(
    "help",
    aliases=("hilfe",),
    roles=EVERYONE,
    args=(
        Argument(
            "topic",
            required=False,
            rest=True,
            label={"de": "BEFEHL", "en": "COMMAND"},
            help={"de": "Befehl", "en": "command"},
        ),
    ),
    help={
        "de": "Zeigt, welche Befehle Sie hier nutzen können, oder erklärt einen davon",
        "en": "Shows the commands you can use here, or explains one of them",
    },
)
async def help_command(ctx: CommandContext, topic: str | None = None) -> str:
    identity = services_of(ctx).identity
    return render_help(ctx.registry, ctx.role, ctx.renderer, ctx.lang, topic, identity=identity)
