"""The password policy of the invitation page (DESIGN.md, "Invitation").

Pure and standard library only, so the web page, the bots and the tests share one rule set.
Rules come back as stable codes, never as prose, so the caller can translate them.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH = 512
"""Synapse's admin ``PUT /v2/users`` refuses longer passwords (400 "Invalid password"), and
hashing huge ones is a cheap denial of service: say so before Synapse does."""

TOO_SHORT = "too_short"
TOO_LONG = "too_long"
NO_UPPER = "no_upper"
NO_LOWER = "no_lower"
NO_DIGIT = "no_digit"
NO_SPECIAL = "no_special"
BLANK = "blank"


@dataclass(frozen=True)
class PasswordPolicy:
    """A centre's configurable policy; the default is DESIGN.md's (8, upper/lower/digit/special)."""

    min_length: int = 8
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True
    require_special: bool = True


def _is_special(char: str) -> bool:
    """Anything that is neither a letter nor a digit nor whitespace (``!``, ``€``, ``_``…)."""
    return not char.isalnum() and not char.isspace()


def check_password(password: str, policy: PasswordPolicy) -> list[str]:
    """The rules ``password`` breaks, as codes in a stable order; ``[]`` means acceptable.

    Order: ``blank``, ``too_short``, ``too_long``, ``no_upper``, ``no_lower``, ``no_digit``,
    ``no_special``. Unicode letters and digits count (``ä`` is lower, ``Ä`` upper). A password
    of only whitespace (or empty) is ``blank`` whatever the policy. Length counts code points.
    """
    problems: list[str] = []
    if not password.strip():
        problems.append(BLANK)
    if len(password) < policy.min_length:
        problems.append(TOO_SHORT)
    if len(password) > MAX_LENGTH:
        problems.append(TOO_LONG)
    if policy.require_upper and not any(c.isupper() for c in password):
        problems.append(NO_UPPER)
    if policy.require_lower and not any(c.islower() for c in password):
        problems.append(NO_LOWER)
    if policy.require_digit and not any(c.isdigit() for c in password):
        problems.append(NO_DIGIT)
    if policy.require_special and not any(_is_special(c) for c in password):
        problems.append(NO_SPECIAL)
    return problems
