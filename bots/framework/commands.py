"""Commands declared with a decorator next to their handler; help is generated from them.

A bot builds one ``CommandRegistry`` and declares each command on its handler::

    registry = CommandRegistry()

    @registry.command(
        "client new",
        aliases=("klient neu",),
        roles=STAFF,
        args=(Argument("pseudonym"), Argument("email", required=False, keyword=True)),
        help={"de": "Legt eine:n Ratsuchende:n an", "en": "Creates a client"},
        section="clients",
    )
    async def client_new(ctx: Context, pseudonym: str, email: str | None = None) -> None: ...

Calling convention: after ``resolve`` returned ``Resolved``, the caller runs
``await spec.handler(ctx, **resolution.bound_args, **resolution.kwargs)``.
``bound_args`` holds the positional arguments by name, ``kwargs`` the ``key=value``
options (declared keyword arguments, or any option when ``free_options=True``; such a
handler takes ``**options``). Optional arguments that were not typed are left out, so
the handler's defaults apply.

Every other resolution is an error for the person; ``error_reply`` renders its template.
Nothing here does I/O apart from the renderer reading templates.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bots.framework.parsing import ParsedCommand, ParseError, split_option

if TYPE_CHECKING:
    from appservice.i18n import Renderer

__all__ = [
    "ADMINS",
    "CLIENTS",
    "EVERYONE",
    "STAFF",
    "Argument",
    "CommandRegistry",
    "CommandSpec",
    "Denied",
    "Handler",
    "MissingArgument",
    "Resolution",
    "Resolved",
    "Role",
    "TooManyArguments",
    "Unknown",
    "UnknownOption",
    "error_reply",
    "may_use",
    "text_for",
    "usage",
]

DEFAULT_LANG = "de"

Handler = Callable[..., Awaitable[Any]]


class Role(enum.IntEnum):
    """Who is typing. Not a hierarchy: see ``may_use``."""

    CLIENT = 1
    COUNSELLOR = 2
    ADMIN = 3

    @property
    def key(self) -> str:
        """Lower-case name used in templates (``client``, ``counsellor``, ``admin``)."""
        return self.name.lower()


CLIENTS: frozenset[Role] = frozenset({Role.CLIENT})
STAFF: frozenset[Role] = frozenset({Role.COUNSELLOR, Role.ADMIN})
ADMINS: frozenset[Role] = frozenset({Role.ADMIN})
EVERYONE: frozenset[Role] = frozenset(Role)


def may_use(role: Role, roles: frozenset[Role]) -> bool:
    """Admins may use counsellor commands too; clients only client commands."""
    return role in roles or (role is Role.ADMIN and Role.COUNSELLOR in roles)


def text_for(texts: dict[str, str], lang: str) -> str:
    """Pick the text in ``lang``, else German, else any, else empty."""
    return texts.get(lang) or texts.get(DEFAULT_LANG) or next(iter(texts.values()), "")


@dataclass(frozen=True)
class Argument:
    """One argument of a command.

    ``rest`` takes all remaining words joined by spaces (last positional only);
    ``keyword`` makes it a ``name=value`` option instead of a positional word;
    ``label`` optionally names the placeholder per language in usage lines.
    """

    name: str
    required: bool = True
    rest: bool = False
    help: dict[str, str] = field(default_factory=dict)
    keyword: bool = False
    label: dict[str, str] = field(default_factory=dict)

    def placeholder(self, lang: str) -> str:
        """``PSEUDONYM`` for positional arguments, ``email=`` for options."""
        if self.keyword:
            return f"{self.name}="
        return (self.label.get(lang) or self.name).upper()


@dataclass(eq=False)
class CommandSpec:
    """Everything known about one command; the registry creates these."""

    name: str
    aliases: tuple[str, ...]
    roles: frozenset[Role]
    args: tuple[Argument, ...]
    help: dict[str, str]
    handler: Handler
    section: str = "general"
    parent: str | None = None
    free_options: bool = False
    # The reply is for the asker alone: refused in a room others read (the control room).
    private: bool = False

    @property
    def positional(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.args if not a.keyword)

    @property
    def options(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.args if a.keyword)

    @property
    def has_rest(self) -> bool:
        return any(a.rest for a in self.args)


def usage(spec: CommandSpec, lang: str = DEFAULT_LANG) -> str:
    """``client new PSEUDONYM [email=]``: upper-case placeholders, optional ones bracketed."""
    parts = [spec.name]
    for arg in spec.positional + spec.options:
        text = arg.placeholder(lang) + ("…" if arg.rest else "")
        parts.append(text if arg.required else f"[{text}]")
    if spec.free_options:
        parts.append("[key=value…]")
    return " ".join(parts)


# --- resolutions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """Run ``spec.handler(ctx, **bound_args, **kwargs)``."""

    spec: CommandSpec
    bound_args: dict[str, str]
    kwargs: dict[str, str]


@dataclass(frozen=True)
class Unknown:
    """No command of that name for this role; ``suggestions`` are names it may use."""

    name: str
    suggestions: list[str]


@dataclass(frozen=True)
class Denied:
    """The command exists but belongs to other roles (never returned for clients)."""

    spec: CommandSpec


@dataclass(frozen=True)
class MissingArgument:
    spec: CommandSpec
    argument: Argument


@dataclass(frozen=True)
class TooManyArguments:
    spec: CommandSpec


@dataclass(frozen=True)
class UnknownOption:
    """A ``key=value`` the command does not take (usually a typo such as ``emial=``)."""

    spec: CommandSpec
    option: str


Resolution = Resolved | Unknown | Denied | MissingArgument | TooManyArguments | UnknownOption


# --- registry ------------------------------------------------------------------------------


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _check_args(name: str, args: Sequence[Argument]) -> None:
    """Refuse declarations that could never bind, at import time rather than in a chat."""
    seen: set[str] = set()
    positional = [a for a in args if not a.keyword]
    for arg in args:
        if arg.name.lower() in seen or arg.name == "ctx":
            raise ValueError(f"command {name!r}: duplicate or reserved argument {arg.name!r}")
        seen.add(arg.name.lower())
        if not arg.keyword and not arg.name.isidentifier():
            raise ValueError(f"command {name!r}: argument {arg.name!r} is not an identifier")
        if arg.keyword and split_option(f"{arg.name}=") is None:
            raise ValueError(f"command {name!r}: option {arg.name!r} cannot be typed as k=v")
        if arg.keyword and arg.rest:
            raise ValueError(f"command {name!r}: option {arg.name!r} cannot be rest")
    for i, arg in enumerate(positional):
        if arg.rest and i != len(positional) - 1:
            raise ValueError(f"command {name!r}: only the last argument may be rest")
        if arg.required and i and not positional[i - 1].required:
            raise ValueError(f"command {name!r}: required {arg.name!r} after an optional one")


class CommandRegistry:
    """All commands of one bot, looked up by name or alias (case-insensitive)."""

    def __init__(self) -> None:
        self._specs: list[CommandSpec] = []
        self._by_key: dict[str, list[CommandSpec]] = {}
        # What a role's plain sentence (no command word) means, e.g. a client's request.
        self.free_text: dict[Role, Handler] = {}
        # A running dialogue (e.g. triage questions) sees a role's text before the commands;
        # it returns None when the person has none running or typed a command.
        self.dialogue: dict[Role, Handler] = {}
        # The `help` overview once rendered, per renderer, role, language and identity: the
        # commands do not change while the bot runs (bots/framework/help.py).
        self.help_texts: dict[tuple[int, Role, str, str], str] = {}

    def on_dialogue(self, role: Role) -> Callable[[Handler], Handler]:
        """Declare ``async def handler(ctx, parsed) -> str | None`` for ``role``'s dialogues."""

        def register(handler: Handler) -> Handler:
            self.dialogue[role] = handler
            return handler

        return register

    def on_free_text(self, role: Role) -> Callable[[Handler], Handler]:
        """Declare the handler for free text of ``role``; it never receives the text."""

        def register(handler: Handler) -> Handler:
            self.free_text[role] = handler
            return handler

        return register

    @property
    def specs(self) -> tuple[CommandSpec, ...]:
        return tuple(self._specs)

    def include(self, *others: CommandRegistry) -> CommandRegistry:
        """Take over every command, dialogue and free-text handler of ``others``, in order.

        Each capability module declares its commands in its own registry; the composition
        root includes them all into the assistant's (no module registers itself on import).
        """
        for other in others:
            for spec in other.specs:
                self.add(spec)
            for handlers, theirs in (
                (self.free_text, other.free_text),
                (self.dialogue, other.dialogue),
            ):
                for role, handler in theirs.items():
                    if role in handlers:
                        raise ValueError(f"two handlers for {role.name}'s text")
                    handlers[role] = handler
        return self

    def command(
        self,
        name: str,
        *,
        aliases: Iterable[str] = (),
        roles: frozenset[Role] = EVERYONE,
        args: Sequence[Argument] = (),
        help: dict[str, str],
        section: str = "general",
        free_options: bool = False,
        private: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare the decorated ``async def handler(ctx, **kwargs)`` as a command.

        ``name`` may have two words (``client new``) for a subcommand. The same name may be
        declared again for other roles (``cancel`` for clients and for staff). ``private``:
        the reply is for the asker alone (e.g. their own documents), so the command is only
        answered in the asker's service room, never in a room other people read.
        """
        canonical = _key(name)
        words = canonical.split()
        if not 1 <= len(words) <= 2:
            raise ValueError(f"command name must have one or two words: {name!r}")
        if DEFAULT_LANG not in help:
            raise ValueError(f"command {name!r} needs help text in {DEFAULT_LANG!r}")
        if not roles:
            raise ValueError(f"command {name!r} has no roles")
        _check_args(canonical, args)

        def decorator(handler: Handler) -> Handler:
            spec = CommandSpec(
                name=canonical,
                aliases=tuple(_key(a) for a in aliases),
                roles=frozenset(roles),
                args=tuple(args),
                help=dict(help),
                handler=handler,
                section=section,
                parent=words[0] if len(words) == 2 else None,
                free_options=free_options,
                private=private,
            )
            self.add(spec)
            return handler

        return decorator

    def add(self, spec: CommandSpec) -> None:
        """Register a spec; two commands may share a name only for disjoint roles."""
        keys = (spec.name, *spec.aliases)
        for key in keys:
            for other in self._by_key.get(key, []):
                if other.roles & spec.roles:
                    raise ValueError(f"{key!r} is declared twice for the same role")
        self._specs.append(spec)
        self.help_texts.clear()
        for key in dict.fromkeys(keys):
            self._by_key.setdefault(key, []).append(spec)

    # --- lookup ---

    def _lookup(self, key: str, role: Role) -> tuple[CommandSpec | None, CommandSpec | None]:
        """Return (usable spec, denied spec). Clients never learn of others' commands."""
        specs = self._by_key.get(key, [])
        usable = [s for s in specs if may_use(role, s.roles)]
        if usable:
            usable.sort(key=lambda s: role not in s.roles)  # explicit role wins
            return usable[0], None
        if specs and role is not Role.CLIENT:
            return None, specs[0]
        return None, None

    def find(
        self, name: str, words: Sequence[str], role: Role
    ) -> tuple[CommandSpec | None, CommandSpec | None, int]:
        """Match ``name`` plus maybe the first word; return (usable, denied, words used).

        A two-word subcommand wins over the one-word command with an argument, so
        ``client new Anna`` is ``client new``, and ``client 12`` is ``client`` with an ID.
        """
        name = name.lower()
        if words and split_option(words[0]) is None:
            usable, denied = self._lookup(_key(f"{name} {words[0]}"), role)
            if usable or denied:
                return usable, denied, 1
        usable, denied = self._lookup(name, role)
        return usable, denied, 0

    def keys_for(self, role: Role) -> list[str]:
        """Names and aliases this role may type."""
        return [
            k for k, specs in self._by_key.items() if any(may_use(role, s.roles) for s in specs)
        ]

    def suggest(self, typed: str, role: Role, n: int = 3) -> list[str]:
        """Close matches among what the role may use; for a known group, its subcommands."""
        keys = self.keys_for(role)
        typed = _key(typed)
        found = difflib.get_close_matches(typed, keys, n=n, cutoff=0.6)
        first = typed.split()[0] if typed else ""
        if not found and " " in typed:
            found = difflib.get_close_matches(first, keys, n=n, cutoff=0.6)
        if not found:
            found = sorted(k for k in keys if k.startswith(first + " "))[:n]
        return found

    def resolve(self, parsed: ParsedCommand, role: Role) -> Resolution:
        """Find the command for ``parsed`` and bind its words to the declared arguments."""
        words = parsed.words or (
            *parsed.args,
            *(f"{k}={v}" for k, v in parsed.kwargs.items()),
        )
        usable, denied, used = self.find(parsed.name, words, role)
        if denied is not None:
            return Denied(denied)
        if usable is None:
            typed = parsed.name
            if words and any(k.startswith(typed + " ") for k in self.keys_for(role)):
                typed = f"{typed} {words[0].lower()}"
            return Unknown(typed, self.suggest(typed, role))
        return bind(usable, words[used:])

    def commands_for(self, role: Role) -> list[CommandSpec]:
        """Commands the role may use, "general" first, then by section and name."""
        specs = [s for s in self._specs if may_use(role, s.roles)]
        return sorted(specs, key=lambda s: (s.section != "general", s.section, s.name))

    def usage(self, spec: CommandSpec, lang: str = DEFAULT_LANG) -> str:
        return usage(spec, lang)


def bind(spec: CommandSpec, words: Sequence[str]) -> Resolution:
    """Assign typed words to positional arguments and ``key=value`` words to options."""
    declared = {a.name.lower(): a for a in spec.options}
    reserved = {a.name.lower() for a in spec.positional} | {"ctx"}
    positional: list[str] = []
    options: dict[str, str] = {}
    for word in words:
        option = split_option(word)
        if option is not None:
            key, value = option
            if key in declared:
                options[declared[key].name] = value
                continue
            if spec.free_options and key not in reserved:
                options[key] = value
                continue
            if not spec.has_rest:
                return UnknownOption(spec, key)
        positional.append(word)  # free text such as a note may contain "="

    bound: dict[str, str] = {}
    for i, arg in enumerate(spec.positional):
        if arg.rest:
            if positional[i:]:
                bound[arg.name] = " ".join(positional[i:])
            positional = positional[: i + 1]
        elif i < len(positional):
            bound[arg.name] = positional[i]
        if arg.name not in bound and arg.required:
            return MissingArgument(spec, arg)
    if len(positional) > len(spec.positional):
        return TooManyArguments(spec)
    for arg in spec.options:
        if arg.required and arg.name not in options:
            return MissingArgument(spec, arg)
    return Resolved(spec, bound, options)


# --- error replies -------------------------------------------------------------------------


def error_reply(
    resolution: Resolution | ParseError, renderer: Renderer, lang: str = DEFAULT_LANG
) -> str:
    """Render what went wrong and what to type instead, for any failed resolution."""
    if isinstance(resolution, ParseError):
        return renderer.render(lang, "parse_error", problem=resolution.message_key)
    if isinstance(resolution, Unknown):
        return renderer.render(
            lang, "unknown_command", name=resolution.name, suggestions=resolution.suggestions
        )
    if isinstance(resolution, Resolved):
        raise TypeError("error_reply() called for a resolved command")
    spec = resolution.spec
    line = usage(spec, lang)
    if isinstance(resolution, Denied):
        roles = [r.key for r in sorted(spec.roles)]
        return renderer.render(lang, "permission_denied", name=spec.name, usage=line, roles=roles)
    if isinstance(resolution, MissingArgument):
        arg = resolution.argument
        return renderer.render(
            lang,
            "missing_argument",
            name=spec.name,
            usage=line,
            argument=arg.placeholder(lang),
            argument_help=text_for(arg.help, lang),
        )
    if isinstance(resolution, TooManyArguments):
        return renderer.render(lang, "too_many_arguments", name=spec.name, usage=line)
    if isinstance(resolution, UnknownOption):
        return renderer.render(
            lang,
            "unknown_option",
            name=spec.name,
            usage=line,
            option=resolution.option,
            options=[a.name for a in spec.options],
        )
    raise TypeError(f"not an error resolution: {resolution!r}")
