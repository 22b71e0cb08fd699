"""Split a message typed in a service room into a command word, arguments and options.

Pure text handling, no I/O: the registry (``bots.framework.commands``) decides what the words mean.

Quoting follows ``shlex`` in POSIX mode with two deliberate changes, because what people
type is prose rather than shell: only double quotes group words (so the apostrophe in
"don't" or "geht's" is just a letter), typographic double quotes („…“, “…”) that phones
insert count as ``"``, and a backslash is an ordinary character.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

__all__ = ["OPTION_RE", "ParseError", "ParsedCommand", "parse", "split_option"]

#: ``key=value``: the key starts with a letter; the value may be empty or quoted.
OPTION_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9_-]*)=(.*)", re.DOTALL)

_SMART_QUOTES = str.maketrans({"„": '"', "“": '"', "”": '"', "‟": '"'})


class ParseError(ValueError):
    """The text cannot be split into words; ``message_key`` names the template variant."""

    def __init__(self, message_key: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key


@dataclass(frozen=True)
class ParsedCommand:
    """One typed command.

    ``words`` keeps every token after the name in the order typed, so that the registry
    can treat ``x=y`` as plain text where a command takes free text and has no such option.
    """

    name: str
    args: tuple[str, ...]
    kwargs: dict[str, str]
    raw: str
    words: tuple[str, ...] = field(default=())


def split_option(token: str) -> tuple[str, str] | None:
    """Return ``(key, value)`` for a ``key=value`` token (key lower-cased), else None."""
    match = OPTION_RE.fullmatch(token)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2)


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text.translate(_SMART_QUOTES), posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.quotes = '"'
    lexer.escape = ""
    try:
        return list(lexer)
    except ValueError as exc:  # shlex: "No closing quotation"
        raise ParseError("unbalanced_quote") from exc


def parse(text: str) -> ParsedCommand | None:
    """Parse a message; None when there is nothing to parse (empty or a lone ``!``).

    Raises ParseError when a quote is left open.
    """
    raw = text.strip()
    body = raw[1:].lstrip() if raw.startswith("!") else raw
    if not body:
        return None
    tokens = _tokens(body)
    if not tokens or not tokens[0]:  # e.g. only `""`
        return None
    name, words = tokens[0].lower(), tuple(tokens[1:])
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for word in words:
        option = split_option(word)
        if option is None:
            args.append(word)
        else:
            kwargs[option[0]] = option[1]
    return ParsedCommand(name=name, args=tuple(args), kwargs=kwargs, raw=raw, words=words)
