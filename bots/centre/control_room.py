"""The admin control room is shared by a centre's admins: which messages are commands.

In a service room everything typed is for the assistant. In the control room admins may
also talk to each other, so the assistant answers only a message that starts with ``!`` or
whose first word is a command an admin may type (``counsellors``, ``hilfe`` …).
"""

from __future__ import annotations

from bots.framework.commands import CommandRegistry, Role
from bots.framework.parsing import ParseError, parse


def addressed_to_bot(text: str, registry: CommandRegistry) -> bool:
    """True if ``text`` in the admin control room is meant for the assistant."""
    if text.lstrip().startswith("!"):
        return True
    try:
        parsed = parse(text)
    except ParseError:
        return False
    if parsed is None:
        return False
    usable, denied, _ = registry.find(parsed.name, parsed.words, Role.ADMIN)
    return usable is not None or denied is not None
