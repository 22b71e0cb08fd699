"""Pure rules of staff accounts: logins, addresses, profile keys, roles, the last admin,
which centre rooms a role belongs in, and which control-room messages are commands."""

from __future__ import annotations

import pytest

from appservice.app import command_registry
from bots.accounts.staff_rules import (
    ProfileChanges,
    ProfileProblem,
    check_email,
    check_login,
    leaves_no_admin,
    parse_languages,
    parse_profile,
    parse_role,
    parse_yes_no,
    staff_status,
)
from bots.centre.control_room import addressed_to_bot
from bridge.centre_rooms import wanted_kinds


@pytest.mark.parametrize(
    ("login", "problem"),
    [
        ("m.weber", None),
        ("anna_k-2", None),
        ("x=y/z+1", None),
        ("@m.weber:lotse.test", None),  # a full Matrix id is reduced to its localpart
        ("", "empty"),
        ("Anna", "upper_case"),
        ("anna meier", "bad_characters"),
        ("jürgen", "bad_characters"),
        ("anna!", "bad_characters"),
        ("lotse", "reserved"),
        ("lotse_steward", "reserved"),
        ("lotsenboot", "reserved"),
        ("_anna", "underscore"),
        ("12345", "numeric"),
        ("a" * 250, "too_long"),
    ],
)
def test_check_login(login: str, problem: str | None) -> None:
    assert check_login(login, "lotse", "lotse.test") == problem


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("m.weber@example.org", True),
        ("a+b@sub.example.de", True),
        ("anna@", False),
        ("@example.org", False),
        ("anna@example", False),
        ("anna example@x.org", False),
        ("anna@@x.org", False),
        ("a@" + "b" * 250 + ".de", False),
    ],
)
def test_check_email(address: str, ok: bool) -> None:
    assert check_email(address) is ok


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", True),
        ("JA", True),
        ("on", True),
        ("nein", False),
        ("off", False),
        ("vielleicht", None),
    ],
)
def test_parse_yes_no(text: str, value: bool | None) -> None:
    assert parse_yes_no(text) is value


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("de,en", ("de", "en")),
        ("EN, de ,en", ("en", "de")),
        ("tr;ar", ("tr", "ar")),
        ("xx", None),
        ("deutsch", None),
        ("", None),
        (",", None),
    ],
)
def test_parse_languages(text: str, codes: tuple[str, ...] | None) -> None:
    assert parse_languages(text) == codes


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"name": " Maria Weber "}, {"display_name": "Maria Weber"}),
        ({"beschreibung": "Systemische Beratung"}, {"description": "Systemische Beratung"}),
        ({"description": "-"}, {"description": None}),
        ({"sprachen": "de,EN"}, {"languages": "de,en"}),
        ({"languages": ""}, {"languages": None}),
        ({"team": "ja", "krise": "no"}, {"team_page": True, "crisis_contact": False}),
        ({"crisis": "on"}, {"crisis_contact": True}),
        ({"foo": "1"}, ProfileProblem("unknown_key", "foo")),
        ({"team": "maybe"}, ProfileProblem("bad_yes_no", "team", "maybe")),
        ({"languages": "de,xx"}, ProfileProblem("bad_languages", "languages", "de,xx")),
        ({"name": ""}, ProfileProblem("bad_name", "name", "")),
        ({"name": "a" * 81}, ProfileProblem("too_long", "name", limit=80)),
        ({"description": "b" * 501}, ProfileProblem("too_long", "description", limit=500)),
        (
            {"description": "x", "beschreibung": "y"},
            ProfileProblem("repeated", "beschreibung"),
        ),
        # One bad key refuses the whole command, also after good ones.
        (
            {"name": "Maria", "team": "vielleicht"},
            ProfileProblem("bad_yes_no", "team", "vielleicht"),
        ),
    ],
)
def test_parse_profile(options: dict[str, str], expected: object) -> None:
    result = parse_profile(options)
    if isinstance(expected, ProfileProblem):
        assert result == expected
    else:
        assert isinstance(result, ProfileChanges) and result.values == expected


@pytest.mark.parametrize(
    ("text", "role"),
    [("admin", "admin"), ("Counsellor", "counsellor"), ("beraterin", "counsellor"), ("boss", None)],
)
def test_parse_role(text: str, role: str | None) -> None:
    assert parse_role(text) == role


@pytest.mark.parametrize(
    ("admins", "target", "stays", "alone"),
    [
        ({"@a": True}, "@a", False, True),  # the only admin steps down
        ({"@a": True, "@b": True}, "@a", False, False),
        ({"@a": True, "@b": False}, "@a", False, True),  # the other one is locked or deleted
        ({"@a": True}, "@a", True, False),
        ({"@a": True}, "@c", False, False),  # a counsellor changes, the admin stays
        ({}, "@c", False, True),
    ],
)
def test_leaves_no_admin(admins: dict[str, bool], target: str, stays: bool, alone: bool) -> None:
    assert leaves_no_admin(admins, target, stays) is alone


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        ((True, True, True, True, 5), "deleted"),
        ((False, True, True, True, 5), "deactivated"),
        ((False, False, True, False, None), "activated"),
        ((False, False, False, True, 5), "activated"),  # logged in: Synapse saw them
        ((False, False, False, True, None), "invited"),
        ((False, False, False, False, None), "no_access"),
    ],
)
def test_staff_status(facts: tuple[bool, bool, bool, bool, int | None], status: str) -> None:
    assert staff_status(*facts) == status


@pytest.mark.parametrize(
    ("role", "deleted", "kinds"),
    [
        ("admin", False, {"space", "staff", "admin"}),
        ("counsellor", False, {"space", "staff"}),
        ("client", False, set()),
        ("admin", True, set()),
        ("counsellor", True, set()),
    ],
)
def test_wanted_kinds(role: str, deleted: bool, kinds: set[str]) -> None:
    assert wanted_kinds(role, deleted) == kinds


@pytest.mark.parametrize(
    ("text", "addressed"),
    [
        ("counsellors", True),
        ("hilfe", True),
        ("counsellor new anna Anna email=a@x.org", True),
        ("!was auch immer", True),
        ("Hallo zusammen, wer übernimmt heute?", False),
        ("ok", False),
        ('"offen', False),
        ("", False),
    ],
)
def test_addressed_to_bot(text: str, addressed: bool) -> None:
    assert addressed_to_bot(text, command_registry()) is addressed
