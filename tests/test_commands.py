"""The command registry: resolution per role, argument binding, error replies and help."""

from __future__ import annotations

from typing import Any

import pytest

from appservice.i18n import Renderer
from bots.framework.commands import (
    ADMINS,
    CLIENTS,
    STAFF,
    Argument,
    CommandRegistry,
    Denied,
    MissingArgument,
    Resolved,
    Role,
    TooManyArguments,
    Unknown,
    UnknownOption,
    error_reply,
    usage,
)
from bots.framework.help import render_help
from bots.framework.parsing import ParseError, parse

C, S, A = Role.CLIENT, Role.COUNSELLOR, Role.ADMIN


async def _noop(ctx: Any, **kwargs: Any) -> None:
    """Handlers are not run here; resolution is what is tested."""


def build_registry() -> CommandRegistry:
    """A small registry shaped like the real bots'."""
    reg = CommandRegistry()
    reg.command(
        "help",
        aliases=("hilfe",),
        args=(Argument("topic", required=False, rest=True),),
        help={"de": "Zeigt die Befehle", "en": "Shows the commands"},
    )(_noop)
    reg.command(
        "request",
        aliases=("anfrage",),
        roles=CLIENTS,
        help={"de": "Stellt eine Anfrage", "en": "Asks for counselling"},
        section="requests",
    )(_noop)
    reg.command(
        "counsellor",
        aliases=("berater",),
        roles=CLIENTS,
        help={"de": "Zeigt Ihre:n Berater:in", "en": "Shows your counsellor"},
    )(_noop)
    reg.command(
        "status",
        roles=STAFF,
        args=(Argument("state"),),
        help={"de": "Setzt Ihren Status", "en": "Sets your status"},
    )(_noop)
    reg.command(
        "cancel",
        aliases=("absagen",),
        roles=CLIENTS,
        args=(Argument("id"),),
        help={"de": "Sagt einen Termin ab", "en": "Cancels an appointment"},
        section="booking",
    )(_noop)
    reg.command(
        "cancel",
        roles=STAFF,
        args=(Argument("id"), Argument("reason", required=False, rest=True)),
        help={"de": "Sagt einen Termin ab (Team)", "en": "Cancels an appointment (staff)"},
        section="booking",
    )(_noop)
    reg.command(
        "client",
        roles=STAFF,
        args=(Argument("id"),),
        help={"de": "Zeigt eine:n Ratsuchende:n", "en": "Shows a client"},
        section="clients",
    )(_noop)
    reg.command(
        "client new",
        aliases=("klient neu",),
        roles=STAFF,
        args=(Argument("pseudonym"), Argument("email", required=False, keyword=True)),
        help={"de": "Legt eine:n Ratsuchende:n an", "en": "Creates a client"},
        section="clients",
    )(_noop)
    reg.command(
        "note",
        roles=STAFF,
        args=(Argument("client"), Argument("text", rest=True)),
        help={"de": "Schreibt eine Notiz", "en": "Writes a note"},
        section="clients",
    )(_noop)
    reg.command(
        "counsellor new",
        roles=ADMINS,
        args=(
            Argument("login"),
            Argument("name"),
            Argument("email", keyword=True),
            Argument("role", required=False, keyword=True),
        ),
        help={"de": "Legt eine:n Berater:in an", "en": "Creates a counsellor"},
        section="admin",
    )(_noop)
    reg.command(
        "settings",
        roles=ADMINS,
        free_options=True,
        help={"de": "Zeigt oder ändert Einstellungen", "en": "Shows or changes settings"},
        section="admin",
    )(_noop)
    return reg


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


@pytest.fixture
def renderer() -> Renderer:
    return Renderer.default()


RESOLVED_CASES = [
    ("help", C, "help", {}, {}),
    ("!HILFE", C, "help", {}, {}),
    ("hilfe client new", S, "help", {"topic": "client new"}, {}),
    ("anfrage", C, "request", {}, {}),
    ("Berater", C, "counsellor", {}, {}),
    ("status online", S, "status", {"state": "online"}, {}),
    ("status away", A, "status", {"state": "away"}, {}),
    ("client 12", S, "client", {"id": "12"}, {}),
    ("client new Anna", S, "client new", {"pseudonym": "Anna"}, {}),
    ("Client New Anna email=a@b.de", A, "client new", {"pseudonym": "Anna"}, {"email": "a@b.de"}),
    ("klient neu Anna", S, "client new", {"pseudonym": "Anna"}, {}),
    ('note 12 "long text" x=y more', S, "note", {"client": "12", "text": "long text x=y more"}, {}),
    (
        'counsellor new kim "Kim K" email=k@c.de role=admin',
        A,
        "counsellor new",
        {"login": "kim", "name": "Kim K"},
        {"email": "k@c.de", "role": "admin"},
    ),
    (
        "settings fallback=@kim:x grace-days=30",
        A,
        "settings",
        {},
        {"fallback": "@kim:x", "grace-days": "30"},
    ),
    ("absagen 7", C, "cancel", {"id": "7"}, {}),
    ("cancel 7 krank", S, "cancel", {"id": "7", "reason": "krank"}, {}),
]


@pytest.mark.parametrize(("text", "role", "name", "bound", "kwargs"), RESOLVED_CASES)
def test_resolved(
    registry: CommandRegistry,
    text: str,
    role: Role,
    name: str,
    bound: dict[str, str],
    kwargs: dict[str, str],
) -> None:
    """Aliases, subcommands, options and rest text bind to the declared arguments."""
    parsed = parse(text)
    assert parsed is not None
    resolution = registry.resolve(parsed, role)
    assert isinstance(resolution, Resolved), resolution
    assert (resolution.spec.name, resolution.bound_args, resolution.kwargs) == (name, bound, kwargs)


ERROR_CASES = [
    ("status", C, Unknown),  # clients never learn staff commands exist
    ("counsellor new kim Kim", C, TooManyArguments),  # falls back to their `counsellor`
    ("settings", C, Unknown),
    ("settings", S, Denied),
    ("counsellor new kim Kim email=x", S, Denied),
    ("request", S, Denied),
    ("request", A, Denied),
    ("status", S, MissingArgument),
    ("client new", S, MissingArgument),
    ("counsellor new kim Kim", A, MissingArgument),  # required option email=
    ("status online now", S, TooManyArguments),
    ("client new Anna Berta", S, TooManyArguments),
    ("client new Anna emial=a@b.de", S, UnknownOption),
    ("settings ctx=1", A, UnknownOption),
    ("hlep", C, Unknown),
    ("frobnicate", A, Unknown),
]


@pytest.mark.parametrize(("text", "role", "expected"), ERROR_CASES)
def test_errors(registry: CommandRegistry, text: str, role: Role, expected: type) -> None:
    """Each kind of bad input gets its own resolution, and roles see only their commands."""
    parsed = parse(text)
    assert parsed is not None
    assert type(registry.resolve(parsed, role)) is expected


@pytest.mark.parametrize(
    ("text", "role", "expected"),
    [
        ("hlep", C, "help"),
        ("anfarge", C, "anfrage"),
        ("staus online", S, "status"),
        ("klient nue Anna", S, "klient neu"),
    ],
)
def test_suggestions(registry: CommandRegistry, text: str, role: Role, expected: str) -> None:
    """Typos get the closest command the role may use."""
    parsed = parse(text)
    assert parsed is not None
    resolution = registry.resolve(parsed, role)
    assert isinstance(resolution, Unknown)
    assert expected in resolution.suggestions


def test_suggestions_do_not_leak(registry: CommandRegistry) -> None:
    """A client's typo is never answered with a staff or admin command."""
    parsed = parse("statuss")
    assert parsed is not None
    resolution = registry.resolve(parsed, C)
    assert isinstance(resolution, Unknown)
    assert "status" not in resolution.suggestions


def test_missing_argument_names_it(registry: CommandRegistry) -> None:
    """MissingArgument says which argument is missing."""
    parsed = parse("client new")
    assert parsed is not None
    resolution = registry.resolve(parsed, S)
    assert isinstance(resolution, MissingArgument)
    assert resolution.argument.name == "pseudonym"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("client new", "client new PSEUDONYM [email=]"),
        ("counsellor new", "counsellor new LOGIN NAME email= [role=]"),
        ("note", "note CLIENT TEXT…"),
        ("help", "help [TOPIC…]"),
        ("settings", "settings [key=value…]"),
    ],
)
def test_usage(registry: CommandRegistry, name: str, expected: str) -> None:
    """Usage lines are built from the declared arguments."""
    spec = next(s for s in registry.specs if s.name == name)
    assert usage(spec, "de") == expected


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        (C, {"help", "request", "counsellor", "cancel"}, {"status", "client new", "settings"}),
        (S, {"help", "status", "client new", "note"}, {"request", "counsellor new", "settings"}),
        (A, {"status", "client new", "counsellor new", "settings"}, {"request", "counsellor"}),
    ],
)
def test_commands_for(
    registry: CommandRegistry, role: Role, present: set[str], absent: set[str]
) -> None:
    """Clients get client commands; admins get staff commands plus their own."""
    names = {s.name for s in registry.commands_for(role)}
    assert present <= names
    assert not absent & names


def test_commands_for_order(registry: CommandRegistry) -> None:
    """The general section comes first, then sections and names in order."""
    keys = [(s.section != "general", s.section, s.name) for s in registry.commands_for(A)]
    assert keys[0][1] == "general"
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "help", "help": {"de": "x"}}, "twice"),
        ({"name": "a b c", "help": {"de": "x"}}, "one or two words"),
        ({"name": "x", "help": {"en": "x"}}, "help text"),
        (
            {"name": "x", "help": {"de": "x"}, "args": (Argument("a", rest=True), Argument("b"))},
            "last",
        ),
        (
            {
                "name": "x",
                "help": {"de": "x"},
                "args": (Argument("a", required=False), Argument("b")),
            },
            "optional",
        ),
        (
            {
                "name": "x",
                "help": {"de": "x"},
                "args": (Argument("a"), Argument("a", keyword=True)),
            },
            "duplicate",
        ),
    ],
)
def test_bad_declarations(registry: CommandRegistry, kwargs: dict[str, Any], message: str) -> None:
    """Declarations that could never work fail at import time, not in a chat."""
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=message):
        registry.command(name, **kwargs)(_noop)


async def test_calling_convention(registry: CommandRegistry) -> None:
    """The documented call ``handler(ctx, **bound_args, **kwargs)`` reaches the handler."""
    seen: dict[str, Any] = {}

    @registry.command(
        "echo", roles=STAFF, args=(Argument("a"), Argument("k", keyword=True)), help={"de": "x"}
    )
    async def echo(ctx: Any, a: str, k: str) -> None:
        seen.update(ctx=ctx, a=a, k=k)

    parsed = parse("echo 1 k=2")
    assert parsed is not None
    res = registry.resolve(parsed, A)
    assert isinstance(res, Resolved)
    await res.spec.handler("ctx", **res.bound_args, **res.kwargs)
    assert seen == {"ctx": "ctx", "a": "1", "k": "2"}


@pytest.mark.parametrize(
    ("text", "role", "lang", "snippets"),
    [
        ("hlep", C, "de", ["„hlep“", "`help`", "hilfe"]),
        ("hlep", C, "en", ["“hlep”", "`help`"]),
        ("settings", S, "de", ["Admins der Beratungsstelle", "wenden Sie sich"]),
        ("settings", S, "en", ["admins of the centre", "ask an admin"]),
        ("client new", S, "de", ["`PSEUDONYM`", "`client new PSEUDONYM [email=]`"]),
        ("client new", S, "en", ["`PSEUDONYM`", "Usage: `client new PSEUDONYM [email=]`"]),
        ("status a b", S, "de", ["So geht es: `status STATE`"]),
        ("client new A emial=x", S, "en", ["`emial=`", "`email=`"]),
    ],
)
def test_error_reply(
    registry: CommandRegistry,
    renderer: Renderer,
    text: str,
    role: Role,
    lang: str,
    snippets: list[str],
) -> None:
    """Every error says what was wrong and shows what to type instead."""
    parsed = parse(text)
    assert parsed is not None
    reply = error_reply(registry.resolve(parsed, role), renderer, lang)
    for snippet in snippets:
        assert snippet in reply


@pytest.mark.parametrize(("lang", "snippet"), [("de", "Anführungszeichen"), ("en", "quote")])
def test_error_reply_parse_error(renderer: Renderer, lang: str, snippet: str) -> None:
    """An open quote is explained, in the person's language."""
    with pytest.raises(ParseError) as info:
        parse('note 1 "open')
    assert snippet in error_reply(info.value, renderer, lang)


def test_error_reply_refuses_resolved(registry: CommandRegistry, renderer: Renderer) -> None:
    """A successful resolution is not an error and must not be rendered as one."""
    parsed = parse("help")
    assert parsed is not None
    with pytest.raises(TypeError):
        error_reply(registry.resolve(parsed, C), renderer, "de")


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        (C, ["`request`", "Stellt eine Anfrage"], ["status", "counsellor new"]),
        (S, ["`status STATE`", "`client new PSEUDONYM [email=]`"], ["request", "counsellor new"]),
        (A, ["`counsellor new LOGIN NAME email= [role=]`", "`status STATE`"], ["`request`"]),
    ],
)
def test_help_lists_role_commands(
    registry: CommandRegistry, renderer: Renderer, role: Role, present: list[str], absent: list[str]
) -> None:
    """Help shows exactly the commands the role may use, from the registry metadata."""
    text = render_help(registry, role, renderer, "de")
    assert text.startswith("**Lotse")
    assert "optional" in text  # the `!` hint
    for snippet in present:
        assert snippet in text
    for snippet in absent:
        assert snippet not in text


def test_help_languages_differ(registry: CommandRegistry, renderer: Renderer) -> None:
    """German and English help use their own texts; unknown languages get German."""
    de = render_help(registry, C, renderer, "de")
    en = render_help(registry, C, renderer, "en")
    assert de != en
    assert "Stellt eine Anfrage" in de and "Asks for counselling" in en
    assert render_help(registry, C, renderer, "fr") == de


def test_help_is_rendered_once_per_role_language_and_identity(
    registry: CommandRegistry, renderer: Renderer
) -> None:
    """The overview is kept once rendered (half of an encrypted `help`'s time went into
    rendering it); each role, language and identity has its own, and a command added later
    shows up."""
    first = render_help(registry, C, renderer, "en", identity="AAAA")
    assert render_help(registry, C, renderer, "en", identity="AAAA") is first
    assert render_help(registry, S, renderer, "en", identity="AAAA") != first
    assert "BBBB" in render_help(registry, C, renderer, "en", identity="BBBB")
    assert "AAAA" in first and "BBBB" not in first

    @registry.command("zzz-later", roles=frozenset({C}), help={"de": "Später", "en": "Later"})
    async def later(ctx: object) -> str:
        return ""

    assert "zzz-later" in render_help(registry, C, renderer, "en", identity="AAAA")


@pytest.mark.parametrize(
    ("topic", "role", "snippets"),
    [
        (
            "klient neu",
            S,
            ["`client new PSEUDONYM [email=]`", "Legt eine:n Ratsuchende:n an", "`klient neu`"],
        ),
        ("!hilfe", C, ["`help [TOPIC…]`", "`hilfe`"]),
        ("cancel", C, ["`cancel ID`", "Sagt einen Termin ab"]),
        ("cancel", S, ["`cancel ID [REASON…]`", "(Team)"]),
        ("status", C, ["nicht verstanden"]),  # unknown to clients: no leak
        ("settings", S, ["Admins der Beratungsstelle"]),
        ("hlep", C, ["nicht verstanden", "`help`"]),
    ],
)
def test_help_topic(
    registry: CommandRegistry, renderer: Renderer, topic: str, role: Role, snippets: list[str]
) -> None:
    """Help on one command shows its usage and help, or the right error for the role."""
    text = render_help(registry, role, renderer, "de", topic)
    for snippet in snippets:
        assert snippet in text


# --- replies for the asker alone ------------------------------------------------------------


async def test_private_command_is_refused_in_a_shared_room_and_runs_in_ones_own() -> None:
    """A command declared ``private`` is not run in a room others read (the admin control
    room): the asker is told where to type it; in their own room it runs as usual."""
    from bots.framework.dispatch import CommandContext, run_command

    ran: list[str] = []

    async def mine(ctx: Any) -> str:
        ran.append(ctx.room_id)
        return "only for you"

    reg = build_registry()
    reg.command("secret", roles=STAFF, private=True, help={"de": "Nur für Sie"})(mine)
    renderer = Renderer.default()

    def ctx(room: str, shared: bool) -> CommandContext:
        return CommandContext(
            user_id="@a:x", role=A, centre_id="nord", centre_name="Nord", lang="de",
            room_id=room, event_id="$e", renderer=renderer, registry=reg, shared_room=shared,
        )  # fmt: skip

    refused = await run_command("secret", ctx("!control", shared=True))
    assert refused is not None and "`secret`" in refused and "nur Ihnen allein" in refused
    assert ran == []
    assert await run_command("secret", ctx("!own", shared=False)) == "only for you"
    assert ran == ["!own"]
    # Other commands answer in the shared room as before.
    assert await run_command("status online", ctx("!control", shared=True)) is None


def test_commands_for_the_asker_alone_are_declared_private() -> None:
    """Documents (uploader only), bookmarks, one's own address and notification settings, and
    invitation links (a password link for one person), and a monitoring's questions, export
    and chart, one's data export and account deletion (the asker's own room) are never
    answered where others read."""
    from appservice.app import command_registry

    private = {spec.name for spec in command_registry().specs if spec.private}
    assert private == {
        "doc",
        "docs",
        "doc get",
        "doc delete",
        "bookmark",
        "bookmarks",
        "email",
        "notifications",
        "client invite",
        "counsellor invite",
        "monitoring new",
        "monitoring export",
        "statistik",
        "export",
        "delete account",
        "ical",
        "ical new",
    }
