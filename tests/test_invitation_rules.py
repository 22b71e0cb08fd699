"""Invitation rules without I/O: tokens, hashes, links, who may be invited, password answers."""

from __future__ import annotations

import pytest

from appservice.config import PasswordPolicyConfig
from bots.accounts.invitation_rules import (
    DAY_MS,
    account_in_use,
    expiry,
    hash_token,
    invitation_link,
    localpart,
    looks_like_token,
    new_token,
    password_problems,
    policy_of,
    why_not_invitable,
)
from bots.accounts.invitations import delivery_of
from bots.accounts.password_policy import PasswordPolicy
from bots.accounts.registration_rules import (
    BAD_CHARS,
    TOO_LONG,
    TOO_SHORT,
    normalise_pseudonym,
    pseudonym_problems,
)


def test_tokens_are_unguessable_and_url_safe() -> None:
    """43 URL-safe characters (256 random bits), never the same twice."""
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(looks_like_token(t) for t in tokens)


def test_hash_is_stable_and_hides_the_token() -> None:
    token = new_token()
    assert hash_token(token) == hash_token(token)
    assert hash_token(token) != hash_token(new_token())
    assert token not in hash_token(token) and len(hash_token(token)) == 64


@pytest.mark.parametrize(
    "text",
    ["", "short", "a" * 42, "a" * 44, "a" * 42 + ".", "a" * 42 + "/", "../../etc/passwd", "ä" * 43],
)
def test_malformed_tokens_rejected_before_the_database(text: str) -> None:
    assert not looks_like_token(text)


def test_link_and_expiry() -> None:
    assert invitation_link("https://lotse.example/", "T") == "https://lotse.example/invite/T"
    assert expiry(1000, 7) == 1000 + 7 * DAY_MS


@pytest.mark.parametrize(
    ("deleted_at", "locked_at", "expected"),
    [(None, None, None), (1, None, "deleted"), (None, 1, "locked"), (1, 1, "deleted")],
)
def test_who_may_be_invited(deleted_at: int | None, locked_at: int | None, expected: str) -> None:
    assert why_not_invitable(deleted_at, locked_at) == expected


DEFAULT = PasswordPolicy()


@pytest.mark.parametrize(
    ("password", "repeat", "policy", "expected"),
    [
        ("Sicher!2026", "Sicher!2026", DEFAULT, []),
        ("Sicher!2026", "Sicher!2025", DEFAULT, ["mismatch"]),
        ("abc", "abc", DEFAULT, ["too_short", "no_upper", "no_digit", "no_special"]),
        ("password", "password", DEFAULT, ["no_upper", "no_digit", "no_special"]),
        ("PASSWORT1!", "PASSWORT1!", DEFAULT, ["no_lower"]),
        ("Passwort!!", "Passwort!!", DEFAULT, ["no_digit"]),
        ("Passwort12", "Passwort12", DEFAULT, ["no_special"]),
        ("", "", DEFAULT, ["blank", "too_short", "no_upper", "no_lower", "no_digit", "no_special"]),
        ("longenough", "longenough", PasswordPolicy(10, False, True, False, False), []),
        ("short", "short", PasswordPolicy(10, False, True, False, False), ["too_short"]),
    ],
)
def test_password_problems(
    password: str, repeat: str, policy: PasswordPolicy, expected: list[str]
) -> None:
    """Every unmet rule is named (in a stable order), the repeat is compared last."""
    assert password_problems(password, repeat, policy) == expected


def test_policy_from_config() -> None:
    """The config section maps field by field onto the pure policy."""
    assert policy_of(PasswordPolicyConfig()) == PasswordPolicy()
    custom = PasswordPolicyConfig(min_length=12, require_special=False)
    assert policy_of(custom) == PasswordPolicy(min_length=12, require_special=False)


@pytest.mark.parametrize(
    ("email", "mail_enabled", "expected"),
    [
        (None, True, (None, "no_email")),
        ("", True, (None, "no_email")),
        ("wolke@example.org", False, (None, "mail_off")),
        ("not an address", True, (None, "bad_email")),
        ("Wolke <wolke@example.org>", True, (None, "bad_email")),
        ("wolke@example.org", True, ("wolke@example.org", "email")),
    ],
)
def test_how_the_link_is_delivered(
    email: str | None, mail_enabled: bool, expected: tuple[str | None, str]
) -> None:
    """By mail only to a plain address with mail switched on; otherwise the reply shows it."""
    assert delivery_of(email, mail_enabled) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("  Wolke   7 ", "Wolke 7"), ("Ma\u0308dchen", "Mädchen"), ("", "")],
)
def test_pseudonym_normalised(typed: str, expected: str) -> None:
    assert normalise_pseudonym(typed) == expected


@pytest.mark.parametrize(
    ("pseudonym", "expected"),
    [
        ("Wolke 7", []),
        ("Ölbaum_3.", []),
        ("Звезда", []),
        ("W", [TOO_SHORT]),
        ("W" * 41, [TOO_LONG]),
        ("<script>", [BAD_CHARS]),
        ("a@b", [BAD_CHARS]),
        ("Tab\there", [BAD_CHARS]),
    ],
)
def test_pseudonym_rules(pseudonym: str, expected: list[str]) -> None:
    assert pseudonym_problems(pseudonym) == expected


@pytest.mark.parametrize(
    ("activated_at", "last_seen", "devices", "in_use"),
    [
        (None, None, 0, False),  # made by Lotse, nobody ever logged in: an invitation may go
        (1_000, None, 0, True),  # a password set through Lotse (or `lotse dev`)
        (None, 1_700_000_000_000, 0, True),  # Synapse saw it in use (password from elsewhere)
        (None, None, 1, True),  # logged in right now, last-seen not written yet
        (1_000, 1_700_000_000_000, 2, True),
    ],
)
def test_account_in_use(
    activated_at: int | None, last_seen: int | None, devices: int, in_use: bool
) -> None:
    """Any trace of a used password makes the account the person's: no invitation then."""
    assert account_in_use(activated_at, last_seen, devices) is in_use


def test_links_per_purpose_and_user_names() -> None:
    assert invitation_link("https://l.example/", "T") == "https://l.example/invite/T"
    assert invitation_link("https://l.example", "T", "reset") == "https://l.example/reset/T"
    with pytest.raises(KeyError):
        invitation_link("https://l.example", "T", "steal")
    assert localpart("@anna-1a2b:lotse.example") == "anna-1a2b"
