"""Pure rules for staff accounts and profiles: logins, e-mail addresses, profile keys.

No I/O: the counsellor and profile commands ask these functions first and change nothing
when one of them says no. Each problem is a short code that names a template variant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ISO_639_1",
    "PROFILE_KEYS",
    "ProfileChanges",
    "ProfileProblem",
    "check_email",
    "check_login",
    "leaves_no_admin",
    "parse_languages",
    "parse_profile",
    "parse_role",
    "parse_yes_no",
    "staff_status",
]

# Matrix localpart characters as Synapse accepts them for new users (lower case only).
_LOCALPART_RE = re.compile(r"[a-z0-9._=\-/+]+")
_MAX_USER_ID = 255
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
MAX_NAME = 80
MAX_DESCRIPTION = 500

# ISO 639-1: the two-letter language codes a counsellor may list.
ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu
    cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho
    hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv
    kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr
    nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq
    sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh
    yi yo za zh zu""".split()
)

_YES = frozenset({"yes", "ja", "y", "j", "on", "an", "true", "1"})
_NO = frozenset({"no", "nein", "n", "off", "aus", "false", "0"})

# What a counsellor may type in `profile k=v` (English and German) → Person column.
PROFILE_KEYS: dict[str, str] = {
    "name": "display_name",
    "description": "description",
    "beschreibung": "description",
    "languages": "languages",
    "sprachen": "languages",
    "team": "team_page",
    "teamseite": "team_page",
    "crisis": "crisis_contact",
    "krise": "crisis_contact",
    "krisenkontakt": "crisis_contact",
}
_CLEAR = frozenset({"", "-"})


def check_login(login: str, reserved_prefix: str, domain: str) -> str | None:
    """None if ``login`` can become ``@login:domain`` for a person, else the problem.

    Codes: ``empty``, ``upper_case``, ``bad_characters``, ``reserved`` (the appservice's
    namespace: Synapse refuses it and it would look like a bot), ``underscore`` and
    ``numeric`` (Synapse keeps those for itself and for guests), ``too_long``.
    """
    if not login:
        return "empty"
    if login.startswith("@"):
        login = login[1:].split(":", 1)[0]
    if login != login.lower() and _LOCALPART_RE.fullmatch(login.lower()):
        return "upper_case"
    if not _LOCALPART_RE.fullmatch(login):
        return "bad_characters"
    if reserved_prefix and login.startswith(reserved_prefix.lower()):
        return "reserved"
    if login.startswith("_"):
        return "underscore"
    if login.isdigit():
        return "numeric"
    if len(f"@{login}:{domain}") > _MAX_USER_ID:
        return "too_long"
    return None


def check_email(address: str) -> bool:
    """A plausible address (one @, a domain with a dot); delivery proves the rest."""
    return len(address) <= 254 and _EMAIL_RE.fullmatch(address) is not None


def parse_yes_no(text: str) -> bool | None:
    """yes/no in English or German (ja/nein, on/off); None when it is neither."""
    value = text.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    return None


def parse_languages(text: str) -> tuple[str, ...] | None:
    """``de,en`` → ("de", "en") in typed order without repeats; None if a code is unknown."""
    codes = [c.strip().lower() for c in text.replace(";", ",").split(",") if c.strip()]
    if not codes or any(c not in ISO_639_1 for c in codes):
        return None
    return tuple(dict.fromkeys(codes))


@dataclass(frozen=True)
class ProfileProblem:
    """Why ``profile k=v`` was refused: ``code`` names the template case, ``key`` what was typed."""

    code: str  # unknown_key, bad_yes_no, bad_languages, bad_name, too_long, repeated
    key: str
    value: str = ""
    limit: int = 0


@dataclass(frozen=True)
class ProfileChanges:
    """Column values for ``Person.set_profile``; ``display_name`` also goes to Synapse."""

    values: dict[str, Any] = field(default_factory=dict)


def parse_profile(options: Mapping[str, str]) -> ProfileChanges | ProfileProblem:
    """Check every ``key=value`` first; the first problem refuses the whole command."""
    values: dict[str, Any] = {}
    for typed, raw in options.items():
        key = typed.lower()
        column = PROFILE_KEYS.get(key)
        if column is None:
            return ProfileProblem("unknown_key", typed)
        if column in values:
            return ProfileProblem("repeated", typed)
        value = raw.strip()
        if column == "display_name":
            if not value or any(not ch.isprintable() for ch in value):
                return ProfileProblem("bad_name", typed, value)
            if len(value) > MAX_NAME:
                return ProfileProblem("too_long", typed, limit=MAX_NAME)
            values[column] = value
        elif column == "description":
            if len(value) > MAX_DESCRIPTION:
                return ProfileProblem("too_long", typed, limit=MAX_DESCRIPTION)
            values[column] = None if value in _CLEAR else value
        elif column == "languages":
            if value in _CLEAR:
                values[column] = None
                continue
            codes = parse_languages(value)
            if codes is None:
                return ProfileProblem("bad_languages", typed, value)
            values[column] = ",".join(codes)
        else:
            flag = parse_yes_no(value)
            if flag is None:
                return ProfileProblem("bad_yes_no", typed, value)
            values[column] = flag
    return ProfileChanges(values)


ROLE_WORDS: dict[str, str] = {
    "admin": "admin",
    "administrator": "admin",
    "administratorin": "admin",
    "counsellor": "counsellor",
    "counselor": "counsellor",
    "berater": "counsellor",
    "beraterin": "counsellor",
}


def parse_role(text: str) -> str | None:
    """``admin`` or ``counsellor`` (German words too); None for anything else."""
    return ROLE_WORDS.get(text.strip().lower())


def leaves_no_admin(
    admins: Mapping[str, bool], target: str, target_stays_admin: bool = False
) -> bool:
    """Would the change leave the centre without an admin who can log in?

    ``admins`` maps each admin of the centre to whether they are active (not locked, not
    deleted); the change takes ``target`` out of that set unless it stays admin.
    """
    if target_stays_admin:
        return False
    return not any(active for user_id, active in admins.items() if user_id != target)


def staff_status(
    deleted: bool, locked: bool, activated: bool, invited: bool, last_seen_ms: int | None
) -> str:
    """The account status shown in ``counsellors``: the reference's words, where someone who
    has logged in (Synapse saw them) counts as activated even without a Lotse invitation."""
    if deleted:
        return "deleted"
    if locked:
        return "deactivated"
    if activated or last_seen_ms:
        return "activated"
    if invited:
        return "invited"
    return "no_access"
