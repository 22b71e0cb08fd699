"""Help text generated from the registry, so it can never drift from the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bots.framework.commands import (
    CommandRegistry,
    CommandSpec,
    Denied,
    Role,
    Unknown,
    error_reply,
    text_for,
    usage,
)

if TYPE_CHECKING:
    from appservice.i18n import Renderer

__all__ = ["render_help"]


def _entry(spec: CommandSpec, lang: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "usage": usage(spec, lang),
        "description": text_for(spec.help, lang),
        "aliases": list(spec.aliases),
    }


def _overview(
    registry: CommandRegistry, role: Role, renderer: Renderer, lang: str, identity: str
) -> str:
    sections: list[dict[str, Any]] = []
    for spec in registry.commands_for(role):
        if not sections or sections[-1]["key"] != spec.section:
            sections.append({"key": spec.section, "commands": []})
        sections[-1]["commands"].append(_entry(spec, lang))
    return renderer.render(lang, "help", sections=sections, role=role.key, identity=identity)


def render_help(
    registry: CommandRegistry,
    role: Role,
    renderer: Renderer,
    lang: str,
    topic: str | None = None,
    identity: str = "",
) -> str:
    """The role's commands by section (and the assistant's ``identity`` fingerprint to
    compare), rendered once per role, language and identity, or one command's usage and
    help for ``topic``."""
    if topic is None or not topic.strip().lstrip("!").strip():
        key = (id(renderer), role, lang, identity)
        if key not in registry.help_texts:
            registry.help_texts[key] = _overview(registry, role, renderer, lang, identity)
        return registry.help_texts[key]

    words = topic.strip().lstrip("!").split()
    usable, denied, _ = registry.find(words[0], words[1:2], role)
    if denied is not None:
        return error_reply(Denied(denied), renderer, lang)
    if usable is None:
        typed = " ".join(words[:2]).lower()
        return error_reply(Unknown(typed, registry.suggest(typed, role)), renderer, lang)
    arguments = [
        {
            "placeholder": arg.placeholder(lang),
            "description": text_for(arg.help, lang),
            "required": arg.required,
        }
        for arg in usable.args
    ]
    return renderer.render(lang, "help_topic", **_entry(usable, lang), arguments=arguments)
