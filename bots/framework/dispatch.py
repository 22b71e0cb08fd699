"""From a message text to a reply text: parse, resolve, check the role, run the handler.

Nothing here talks to Matrix: the assistant passes a context in and sends the returned text.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from appservice.i18n import Renderer
from appservice.metrics import COMMANDS
from appservice.once import Rollback

from .commands import CommandRegistry, Resolved, Role, Unknown, error_reply
from .parsing import ParseError, parse

log = logging.getLogger("lotse.commands")

# Fewer words look like a command attempt and get the "unknown command" help instead.
FREE_TEXT_MIN_WORDS = 3

ROLE_BY_NAME = {"client": Role.CLIENT, "counsellor": Role.COUNSELLOR, "admin": Role.ADMIN}


@dataclass
class CommandContext:
    """What a handler may know about who asked, where, and how to answer."""

    user_id: str
    role: Role
    centre_id: str
    centre_name: str
    lang: str
    room_id: str
    event_id: str
    renderer: Renderer
    registry: CommandRegistry
    # Typed in a room others read too (the admin control room), not in the asker's own.
    shared_room: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self, name: str, /, **variables: Any) -> str:
        return self.renderer.render(self.lang, name, **variables)


async def run_command(text: str, ctx: CommandContext) -> str | None:
    """Return the reply for ``text``; None when the text holds no command at all.

    A handler that fails raises ``Rollback`` with the reply that says so (see appservice/once.py).
    """
    try:
        parsed = parse(text)
    except ParseError as e:
        COMMANDS.labels("bad_input").inc()
        return error_reply(e, ctx.renderer, ctx.lang)
    if parsed is None:
        return None
    dialogue = ctx.registry.dialogue.get(ctx.role)
    if dialogue is not None:
        answer = await dialogue(ctx, parsed)
        if answer is not None:  # "" = handled, nothing to say
            COMMANDS.labels("ok").inc()
            return str(answer)
    resolution = ctx.registry.resolve(parsed, ctx.role)
    free_text = ctx.registry.free_text.get(ctx.role)
    if (
        free_text is not None
        and isinstance(resolution, Unknown)
        and not resolution.suggestions
        and len(parsed.words) >= FREE_TEXT_MIN_WORDS
    ):
        # A sentence, not a mistyped command: the handler gets the context, never the text.
        COMMANDS.labels("free_text").inc()
        return str(await free_text(ctx))
    if not isinstance(resolution, Resolved):
        COMMANDS.labels("bad_input").inc()
        return error_reply(resolution, ctx.renderer, ctx.lang)
    if resolution.spec.private and ctx.shared_room:
        # The answer is for the asker alone (their documents, bookmarks, address, a link):
        # never posted where other people read along. Nothing is done.
        COMMANDS.labels("bad_input").inc()
        return ctx.render("private_command", name=resolution.spec.name)
    handler = resolution.spec.handler
    try:
        reply = await handler(ctx, **resolution.bound_args, **resolution.kwargs)
    except Rollback:
        COMMANDS.labels("error").inc()
        raise
    except Exception as e:
        reference = secrets.token_hex(4)
        # The reference ties the person's report to this log line; no message text is logged.
        log.exception("command %s failed (reference %s)", resolution.spec.name, reference)
        COMMANDS.labels("error").inc()
        # A failed command changes nothing: what it wrote so far is rolled back.
        raise Rollback(ctx.render("internal_error", reference=reference)) from e
    COMMANDS.labels("ok").inc()
    return reply
