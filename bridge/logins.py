"""Matrix logins derived from pseudonyms: a pure rule, so it is tested from a table."""

from __future__ import annotations

import re
import unicodedata

MAX_LOGIN = 32

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "o"})
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def derive_login(pseudonym: str, reserved_prefix: str) -> str:
    """A Matrix localpart from a pseudonym: lower case, ASCII, ``a-z 0-9 . _ -``.

    Never empty, never all digits (Synapse keeps those for guests), never starting with
    the appservice's exclusive prefix (Synapse refuses to create such users for us).
    """
    text = unicodedata.normalize("NFKD", pseudonym.lower().translate(_TRANSLIT))
    text = "".join(c for c in text if not unicodedata.combining(c))
    login = _UNSAFE.sub("-", text).strip("-._")
    login = re.sub(r"-{2,}", "-", login)[:MAX_LOGIN].rstrip("-._")
    if not login or login.isdigit() or login.startswith(reserved_prefix.lower()):
        login = f"c-{login}"[:MAX_LOGIN].rstrip("-._") if login else "client"
    return login


def with_suffix(login: str, suffix: str) -> str:
    """``anna`` + ``3f9a`` → ``anna-3f9a``, still within the length limit."""
    return f"{login[: MAX_LOGIN - len(suffix) - 1]}-{suffix}"
