"""The invitation page's password policy: a table of passwords and the rules they break."""

from __future__ import annotations

import pytest

from bots.accounts.password_policy import MAX_LENGTH, PasswordPolicy, check_password

DEFAULT = PasswordPolicy()

CASES: list[tuple[str, list[str]]] = [
    ("Abcdef1!", []),
    ("Sommer2024!", []),
    ("Äpfel und Birnen 7?", []),
    ("ÄÖÜäöü9#", []),
    ("Ab1!", ["too_short"]),
    ("abcdefg1!", ["no_upper"]),
    ("ABCDEFG1!", ["no_lower"]),
    ("äöüßäöü1!", ["no_upper"]),
    ("ÄÖÜÄÖÜÄ1!", ["no_lower"]),
    ("Abcdefgh!", ["no_digit"]),
    ("Abcdefgh1", ["no_special"]),
    ("Abcd efgh1", ["no_special"]),
    ("Abcdefg1€", []),
    ("Abcdefg1_", []),
    ("abc", ["too_short", "no_upper", "no_digit", "no_special"]),
    ("", ["blank", "too_short", "no_upper", "no_lower", "no_digit", "no_special"]),
    ("          ", ["blank", "no_upper", "no_lower", "no_digit", "no_special"]),
    ("\t\n  \u3000   ", ["blank", "no_upper", "no_lower", "no_digit", "no_special"]),
    ("Aa1!" * 128, []),
    ("Aa1!" * 128 + "x", ["too_long"]),
]


@pytest.mark.parametrize(("password", "expected"), CASES)
def test_default_policy(password: str, expected: list[str]) -> None:
    """The default policy reports exactly the broken rules, in the documented order."""
    assert check_password(password, DEFAULT) == expected


RELAXED_CASES: list[tuple[PasswordPolicy, str, list[str]]] = [
    (PasswordPolicy(require_upper=False), "abcdefg1!", []),
    (PasswordPolicy(require_lower=False), "ABCDEFG1!", []),
    (PasswordPolicy(require_digit=False), "Abcdefgh!", []),
    (PasswordPolicy(require_special=False), "Abcdefgh1", []),
    (PasswordPolicy(min_length=12), "Abcdef1!", ["too_short"]),
    (PasswordPolicy(min_length=1), "Ab1!", []),
    (
        PasswordPolicy(
            min_length=4,
            require_upper=False,
            require_lower=False,
            require_digit=False,
            require_special=False,
        ),
        "abcd",
        [],
    ),
    (
        PasswordPolicy(
            min_length=0,
            require_upper=False,
            require_lower=False,
            require_digit=False,
            require_special=False,
        ),
        "    ",
        ["blank"],
    ),
    (
        PasswordPolicy(
            min_length=0,
            require_upper=False,
            require_lower=False,
            require_digit=False,
            require_special=False,
        ),
        "x" * (MAX_LENGTH + 1),
        ["too_long"],
    ),
]


@pytest.mark.parametrize(("policy", "password", "expected"), RELAXED_CASES)
def test_rules_switched_off(policy: PasswordPolicy, password: str, expected: list[str]) -> None:
    """A rule that the centre switched off is never reported; blank and too long always are."""
    assert check_password(password, policy) == expected


def test_policy_is_frozen() -> None:
    """A policy cannot be changed after loading, so one centre cannot alter another's."""
    with pytest.raises(AttributeError):
        DEFAULT.min_length = 4  # type: ignore[misc]
