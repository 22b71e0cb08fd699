"""Pure rules of client management: logins, input checks, search/filter/sort, permissions.

No I/O: the commands in bots/records/clients.py and bots/records/client_admin.py feed facts
in and act on what comes out, and tests/test_client_rules.py checks every rule from a table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bots.framework.dates import DAY_MS

MAX_LOGIN = 32
MAX_PSEUDONYM = 64
MAX_VALUE = 200
SORTS = ("name", "login")
# What `client set` calls the account fields (German aliases typed by German centres).
ACCOUNT_KEYS = {
    "pseudonym": "pseudonym",
    "name": "pseudonym",
    "email": "email",
    "mail": "email",
    "phone": "phone",
    "telefon": "phone",
}
MINE = ("mine", "meine")
ALL = ("all", "alle")

# How many suffixed logins are tried when the derived one is taken.
LOGIN_ATTEMPTS = 8
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "o"})
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_PHONE = re.compile(r"\+?[0-9(][0-9 ()/-]{2,30}")


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


def login_candidates(pseudonym: str, reserved_prefix: str, suffixes: Iterable[str]) -> list[str]:
    """The derived login first, then the same with each (random) suffix, for taken ones."""
    base = derive_login(pseudonym, reserved_prefix)
    return [base, *(with_suffix(base, s) for s in suffixes)]


def pseudonym_problem(text: str) -> str | None:
    """Why a pseudonym cannot be used (a template code), or None."""
    if not text.strip():
        return "pseudonym_empty"
    if len(text) > MAX_PSEUDONYM:
        return "pseudonym_too_long"
    if text.startswith("@") or any(unicodedata.category(c).startswith("C") for c in text):
        return "pseudonym_invalid"
    if not any(c.isalnum() for c in text):
        return "pseudonym_invalid"
    return None


def phone_problem(text: str) -> str | None:
    return None if not text or _PHONE.fullmatch(text.strip()) else "phone_invalid"


@dataclass(frozen=True)
class Changes:
    """What ``client new``/``client set`` options mean, sorted by where they go."""

    account: dict[str, str] = field(default_factory=dict)
    master_data: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    too_long: list[str] = field(default_factory=list)


def sort_options(options: Mapping[str, str], field_keys: Iterable[str]) -> Changes:
    """Split ``key=value`` options into account fields, master data and unknown keys."""
    known = set(field_keys)
    changes = Changes()
    for key, value in options.items():
        key = key.lower()
        value = value.strip()
        if len(value) > MAX_VALUE:
            changes.too_long.append(key)
        elif key in ACCOUNT_KEYS:
            changes.account[ACCOUNT_KEYS[key]] = value
        elif key in known:
            changes.master_data[key] = value
        else:
            changes.unknown.append(key)
    return changes


# --- listing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientQuery:
    """``clients [mine|all|@counsellor] [TEXT]``: whose clients, and a search text."""

    scope: str = "all"  # all | mine | counsellor
    counsellor: str = ""
    text: str = ""


def parse_query(words: Sequence[str]) -> ClientQuery:
    """The first word may choose the scope; everything else is the search text."""
    if not words:
        return ClientQuery()
    first, rest = words[0], " ".join(words[1:]).strip()
    if first.lower() in MINE:
        return ClientQuery("mine", "", rest)
    if first.lower() in ALL:
        return ClientQuery("all", "", rest)
    if first.startswith("@") and len(first) > 1:
        return ClientQuery("counsellor", first, rest)
    return ClientQuery("all", "", " ".join(words).strip())


@dataclass(frozen=True)
class ClientFacts:
    """One client as the list needs them; ``last_seen`` in ms, from Synapse."""

    user_id: str
    name: str
    home_counsellor_id: str | None
    account_status: str
    last_seen: int | None = None


def matches(client: ClientFacts, text: str) -> bool:
    """The search text is found in the pseudonym or the login (any case)."""
    if not text:
        return True
    needle = text.casefold()
    login = client.user_id.removeprefix("@").split(":", 1)[0]
    return needle in client.name.casefold() or needle in login.casefold()


def select(
    clients: Iterable[ClientFacts], scope: str, home_id: str | None, text: str, sort: str
) -> list[ClientFacts]:
    """Filter by home counsellor (``home_id`` for ``mine``/``counsellor``) and text, then sort:
    ``name`` alphabetically, ``login`` most recent login first (never logged in last)."""
    chosen = [
        c
        for c in clients
        if (scope == "all" or c.home_counsellor_id == home_id) and matches(c, text)
    ]
    by_name = sorted(chosen, key=lambda c: (c.name.casefold(), c.user_id))
    if sort == "login":
        return sorted(by_name, key=lambda c: (c.last_seen is None, -(c.last_seen or 0)))
    return by_name


def shown_status(account_status: str, last_seen: int | None) -> str:
    """Someone who has logged in is activated, however their password was set."""
    if account_status in ("invited", "no_access") and last_seen:
        return "activated"
    return account_status


# --- permissions and deadlines ------------------------------------------------------------


def may_see_contact(role: str) -> bool:
    """E-mail and phone are shown to admins only (reference: "Zugriff nur für Admins")."""
    return role == "admin"


def home_problem(counsellor_role: str | None, deleted: bool) -> str | None:
    """Only a present counsellor or admin of the same centre can be home counsellor."""
    if counsellor_role not in ("counsellor", "admin"):
        return "counsellor_not_found"
    if deleted:
        return "counsellor_deleted"
    return None


def erase_at(deleted_at: int, grace_days: int) -> int:
    """When a deleted account is erased for good (ms)."""
    return deleted_at + grace_days * DAY_MS


def restorable(deleted_at: int, grace_days: int, now: int) -> bool:
    return now < erase_at(deleted_at, grace_days)
