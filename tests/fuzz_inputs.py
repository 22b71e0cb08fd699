"""Generated inputs (hypothesis) for the fuzz tests and benchmarks/fuzz_commands.py.

Commands: every command name and alias of the real registry, with or without ``!``, in any
case, followed by random words (unicode, quotes, control characters, ``key=value``,
sometimes thousands of characters), and text that is no command at all.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bots.framework.commands import CommandRegistry, Denied, Resolved, Role, error_reply, may_use
from bots.framework.parsing import ParseError, parse


def full_registry() -> CommandRegistry:
    """The assistant's registry with every command, as the composition root assembles it."""
    from appservice.app import command_registry

    return command_registry()


REGISTRY = full_registry()
NAMES = sorted({key for role in Role for key in REGISTRY.keys_for(role)})

_awkward = st.sampled_from(
    ['"', "'", "„", "“", "”", "\\", "=", "!", "\x00", "\x1b", "\r\n", "\t", "\u202e", "\ufeff"]
)
_word = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.builds(
        lambda k, v: f"{k}={v}",
        st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
        st.text(max_size=20),
    ),
    _awkward,
    st.integers(min_value=-10, max_value=10**12).map(str),
    st.builds(lambda w: f'"{w}"', st.text(max_size=20)),
    st.from_regex(r"@[a-z0-9._=-]{1,12}:[a-z.]{1,10}", fullmatch=True),
)


def _command(name: str, bang: bool, upper: bool, words: list[str], sep: str) -> str:
    head = ("!" if bang else "") + (name.upper() if upper else name)
    return sep.join([head, *words])


commands = st.one_of(
    st.builds(
        _command,
        st.sampled_from(NAMES),
        st.booleans(),
        st.booleans(),
        st.lists(_word, max_size=6),
        st.sampled_from([" ", "  ", "\n", "\t", " \u00a0"]),
    ),
    st.text(max_size=200),
    st.builds(lambda n, w: f"{n} {w * 500}", st.sampled_from(NAMES), _word),
)


def check_command_text(text: str, role: Role, lang: str) -> str | None:
    """The command path up to the handler: parse, resolve for ``role``, render the error.

    Returns the reply for a refused input, None for text that is no command or a command
    that would run. Any exception is a failure of the fuzz test.
    """
    try:
        parsed = parse(text)
    except ParseError as e:
        reply = error_reply(e, REGISTRY_RENDERER, lang)
        assert reply.strip()
        return reply
    if parsed is None:
        return None
    resolution = REGISTRY.resolve(parsed, role)
    if isinstance(resolution, Resolved):
        assert may_use(role, resolution.spec.roles), (role, resolution.spec.name)
        return None
    if isinstance(resolution, Denied):
        assert not may_use(role, resolution.spec.roles)
    reply = error_reply(resolution, REGISTRY_RENDERER, lang)
    assert reply.strip()
    return reply


def _renderer() -> Any:
    from appservice.i18n import Renderer

    return Renderer.default()


REGISTRY_RENDERER = _renderer()
