"""Pure rules of client management, table-driven: logins, input checks, lists, permissions."""

from __future__ import annotations

import pytest

from bots.records import client_rules as rules
from bots.records.client_rules import (
    MAX_LOGIN,
    ClientFacts,
    ClientQuery,
    derive_login,
    login_candidates,
    with_suffix,
)


@pytest.mark.parametrize(
    ("pseudonym", "login"),
    [
        ("Wolke", "wolke"),
        ("Anna Maria", "anna-maria"),
        ("Jürgen Weiß", "juergen-weiss"),
        ("Ångström", "angstroem"),
        ("Café", "cafe"),
        ("  --Anna__  ", "anna"),
        ("Anna!!!Maria", "anna-maria"),
        ("R2-D2.", "r2-d2"),
        ("12345", "c-12345"),
        ("Lotse", "c-lotse"),
        ("lotsenfisch", "c-lotsenfisch"),
        ("Lotse_Fan", "c-lotse_fan"),
        ("星", "client"),
        ("!!!", "client"),
        ("x" * 40, "x" * MAX_LOGIN),
        ("lotse" + "y" * 40, ("c-lotse" + "y" * 40)[:MAX_LOGIN]),
    ],
)
def test_derive_login(pseudonym: str, login: str) -> None:
    """Lower case, safe characters only, never the appservice prefix, never all digits."""
    assert derive_login(pseudonym, "lotse") == login


def test_suffix_keeps_length() -> None:
    """A suffix for a taken login never makes it longer than allowed."""
    assert with_suffix("anna", "3f9a") == "anna-3f9a"
    assert len(with_suffix("x" * MAX_LOGIN, "3f9a")) == MAX_LOGIN
    assert login_candidates("Anna", "lotse", ["1a", "2b"]) == ["anna", "anna-1a", "anna-2b"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Wolke", None),
        ("Anna Maria", None),
        ("", "pseudonym_empty"),
        ("   ", "pseudonym_empty"),
        ("x" * 65, "pseudonym_too_long"),
        ("@anna", "pseudonym_invalid"),
        ("Anna\u0000", "pseudonym_invalid"),
        ("Anna\u200b", "pseudonym_invalid"),
        ("---", "pseudonym_invalid"),
    ],
)
def test_pseudonym_problem(text: str, code: str | None) -> None:
    assert rules.pseudonym_problem(text) == code


@pytest.mark.parametrize(
    ("text", "ok"),
    [("+49 40 123456", True), ("040/123-45", True), ("(040) 1234", True), ("", True)]
    + [("call me", False), ("12", False), ("+", False), ("1" * 40, False)],
)
def test_phone(text: str, ok: bool) -> None:
    assert (rules.phone_problem(text) is None) is ok


def test_sort_options() -> None:
    """Options go to account fields (with German aliases), master data, or unknown."""
    changes = rules.sort_options(
        {"EMAIL": " a@b.de ", "telefon": "040 1", "age_group": "20-29", "colour": "red"},
        ["age_group", "postcode"],
    )
    assert changes.account == {"email": "a@b.de", "phone": "040 1"}
    assert changes.master_data == {"age_group": "20-29"}
    assert changes.unknown == ["colour"]
    assert rules.sort_options({"postcode": "x" * 201}, ["postcode"]).too_long == ["postcode"]
    assert rules.sort_options({"name": "Neu"}, []).account == {"pseudonym": "Neu"}


@pytest.mark.parametrize(
    ("words", "query"),
    [
        ([], ClientQuery()),
        (["mine"], ClientQuery("mine")),
        (["meine", "an"], ClientQuery("mine", "", "an")),
        (["ALLE"], ClientQuery("all")),
        (["@berta", "wo"], ClientQuery("counsellor", "@berta", "wo")),
        (["@"], ClientQuery("all", "", "@")),
        (["anna", "maria"], ClientQuery("all", "", "anna maria")),
    ],
)
def test_parse_query(words: list[str], query: ClientQuery) -> None:
    assert rules.parse_query(words) == query


CLIENTS = [
    ClientFacts("@wolke:x", "Wolke", "@berta:x", "activated", last_seen=300),
    ClientFacts("@anna:x", "anna", "@carl:x", "no_access", last_seen=None),
    ClientFacts("@c-12:x", "Zora", "@berta:x", "deleted", last_seen=900),
    ClientFacts("@bea:x", "Bea", None, "invited", last_seen=100),
]


@pytest.mark.parametrize(
    ("scope", "home", "text", "sort", "expected"),
    [
        ("all", None, "", "name", ["anna", "Bea", "Wolke", "Zora"]),
        ("all", None, "", "login", ["Zora", "Wolke", "Bea", "anna"]),
        ("mine", "@berta:x", "", "name", ["Wolke", "Zora"]),
        ("counsellor", "@carl:x", "", "name", ["anna"]),
        ("mine", "@nobody:x", "", "name", []),
        ("all", None, "OL", "name", ["Wolke"]),
        ("all", None, "c-1", "name", ["Zora"]),  # the login is searched too
        ("mine", "@berta:x", "zo", "login", ["Zora"]),
    ],
)
def test_select(scope: str, home: str | None, text: str, sort: str, expected: list[str]) -> None:
    """Filter by home counsellor, search pseudonym and login, sort by name or last login."""
    assert [c.name for c in rules.select(CLIENTS, scope, home, text, sort)] == expected


@pytest.mark.parametrize(
    ("status", "seen", "shown"),
    [
        ("no_access", None, "no_access"),
        ("no_access", 5, "activated"),
        ("invited", 5, "activated"),
        ("locked", 5, "locked"),
        ("deleted", 5, "deleted"),
    ],
)
def test_shown_status(status: str, seen: int | None, shown: str) -> None:
    """Who has logged in is activated, however their password was set."""
    assert rules.shown_status(status, seen) == shown


@pytest.mark.parametrize(
    ("role", "sees"), [("admin", True), ("counsellor", False), ("client", False)]
)
def test_contact_only_for_admins(role: str, sees: bool) -> None:
    assert rules.may_see_contact(role) is sees


@pytest.mark.parametrize(
    ("role", "deleted", "code"),
    [
        ("counsellor", False, None),
        ("admin", False, None),
        ("client", False, "counsellor_not_found"),
        (None, False, "counsellor_not_found"),
        ("counsellor", True, "counsellor_deleted"),
    ],
)
def test_home_problem(role: str | None, deleted: bool, code: str | None) -> None:
    assert rules.home_problem(role, deleted) == code


@pytest.mark.parametrize(
    ("grace", "age_ms", "restorable"),
    [
        (30, 0, True),
        (30, 30 * rules.DAY_MS - 1, True),
        (30, 30 * rules.DAY_MS, False),
        (0, 0, False),
        (1, rules.DAY_MS + 5, False),
    ],
)
def test_grace_period(grace: int, age_ms: int, restorable: bool) -> None:
    """Restorable strictly before deleted_at + grace days; erased from then on."""
    deleted_at = 1_000_000
    assert rules.restorable(deleted_at, grace, deleted_at + age_ms) is restorable
    assert rules.erase_at(deleted_at, grace) == deleted_at + grace * rules.DAY_MS
