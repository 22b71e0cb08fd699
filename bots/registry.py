"""The one command registry the assistant answers from; modules add commands on import."""

from __future__ import annotations

from .commands import CommandRegistry

registry = CommandRegistry()
