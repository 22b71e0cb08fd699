"""Commands everyone has: help."""

from __future__ import annotations

from bots.framework.commands import CommandRegistry

from .commands import EVERYONE, Argument
from .dispatch import CommandContext
from .help import render_help
from .services import services_of

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()


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
