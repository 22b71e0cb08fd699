"""Rules of self-registration without I/O: pseudonyms people may choose, their user names.

Self-registration (DESIGN.md, "Invitation") is double opt-in: a pseudonym and an address are
asked for, a link goes to the address, and only its use creates the account, which then
sets its password on the invitation page.
"""

from __future__ import annotations

import unicodedata

PSEUDONYM_MIN = 2
PSEUDONYM_MAX = 40
VALID_HOURS = 24
HOUR_MS = 3600 * 1000

TOO_SHORT = "pseudonym_short"
TOO_LONG = "pseudonym_long"
BAD_CHARS = "pseudonym_chars"
BAD_EMAIL = "email"

_ALLOWED_EXTRA = set(" -_.")


def normalise_pseudonym(text: str) -> str:
    """Trimmed, inner runs of spaces made one, Unicode composed (NFC)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def pseudonym_problems(pseudonym: str) -> list[str]:
    """Letters (any script), digits, space, ``-``, ``_``, ``.``; 2 to 40 characters."""
    problems: list[str] = []
    if len(pseudonym) < PSEUDONYM_MIN:
        problems.append(TOO_SHORT)
    if len(pseudonym) > PSEUDONYM_MAX:
        problems.append(TOO_LONG)
    if any(not (c.isalnum() or c in _ALLOWED_EXTRA) for c in pseudonym):
        problems.append(BAD_CHARS)
    return problems
