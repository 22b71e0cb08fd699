"""The rules of invitation and reset links, without I/O: tokens, their hashes, who may get one.

A token is 32 random bytes from ``secrets`` (43 URL-safe characters); only its SHA-256 is
stored, which is enough because the token itself is unguessable (no salt or slow hash
needed). The link is the only secret of the invitation page, so it also serves as its CSRF
token.

A person's account is theirs (DESIGN.md, privacy point 7): staff hand over the *first*
password link of an account nobody has used yet; a password of an account in use is reset
only through a link mailed to the person's own confirmed address.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import asdict
from typing import Any

from bots.framework.dates import DAY_MS

from .password_policy import PasswordPolicy, check_password

TOKEN_BYTES = 32
# After this many refused passwords on one link the link is revoked (hammering stops here,
# before it reaches Synapse's password hashing).
MAX_FAILED_ATTEMPTS = 20

# Reset links are short-lived; a person asks for at most this many an hour.
RESETS_PER_PERSON_PER_HOUR = 3

# The page path of each link purpose (appservice.db.invitation.PURPOSES).
LINK_PATHS = {"invitation": "invite", "reset": "reset", "keep": "keep"}

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(text: str) -> bool:
    """Cheap shape check before any database lookup."""
    return _TOKEN_RE.fullmatch(text) is not None


def invitation_link(base_url: str, token: str, purpose: str = "invitation") -> str:
    return f"{base_url.rstrip('/')}/{LINK_PATHS[purpose]}/{token}"


def localpart(user_id: str) -> str:
    """The user name people type to log in: ``@anna-1a2b:example.org`` → ``anna-1a2b``."""
    return user_id.removeprefix("@").split(":", 1)[0]


def expiry(now_ms: int, valid_days: int) -> int:
    return now_ms + valid_days * DAY_MS


def why_not_invitable(deleted_at: int | None, locked_at: int | None) -> str | None:
    """``deleted`` or ``locked`` when the person must not get a link; None when they may."""
    if deleted_at is not None:
        return "deleted"
    if locked_at is not None:
        return "locked"
    return None


def account_in_use(activated_at: int | None, last_seen_ts: int | None, devices: int) -> bool:
    """Whether the account has had a password that someone used.

    Lotse's own record (``activated_at``: a password was set through an invitation, or
    ``lotse dev`` gave one) or Synapse's traces of a login: a device, or a last-seen time.
    Accounts Lotse creates have no password, so without either sign nobody has logged in.
    """
    return activated_at is not None or last_seen_ts is not None or devices > 0


def policy_of(settings: Any) -> PasswordPolicy:
    """The config's ``password_policy`` section (any dataclass with the same fields)."""
    return PasswordPolicy(**asdict(settings))


def password_problems(password: str, repeat: str, policy: PasswordPolicy) -> list[str]:
    """Policy codes (bots.accounts.password_policy) and ``mismatch`` when the repeat differs."""
    problems = check_password(password, policy)
    if password != repeat:
        problems.append("mismatch")
    return problems
