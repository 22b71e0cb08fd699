"""Contact data sealed at rest: addresses, phone numbers and clients' master data.

A database dump (backup, support case, stolen disk) must not show how to reach a client, nor
what the centre recorded about them (age group, postcode …). These values are sealed like
notes (AES-GCM, the row's context bound in: a value copied onto another row does not open).
Finding a row by address (bounces, "who uses this address", at most N mails a day to one
address) uses a keyed hash of the normalised address instead (HMAC-SHA256): equal addresses
give equal hashes, and without the key a guessed address cannot be tested.

Both keys come from the secret a :class:`ContactData` is made with (``encryption.sealing_key``,
see appservice/sealing.py), never from the database; ``lotse rotate-key`` re-seals the values
and recomputes the hashes under a new one (appservice/rotation.py). The app builds one
ContactData from its config and gives it to its database (``LotseDatabase``): the row classes
bound to that database (appservice/db/bound.py) call its :meth:`~ContactData.seal`,
:meth:`~ContactData.open_value` and :meth:`~ContactData.lookup` as ``cls.contact``; there is no
process-wide key, so two apps in one process keep theirs apart. While a rotation runs, rows
carry hashes under either key: queries that find rows by address use
:meth:`~ContactData.lookups` (one hash per accepted key) and :func:`any_of`.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .sealing import PREFIXES, Sealer, previous_of

__all__ = [
    "HASH_PREFIX",
    "ContactData",
    "any_of",
    "is_sealed",
    "normalize",
]

HASH_PREFIX = "h1:"
_PURPOSE = "contact data"


def contact_sealer(secret: str, previous: tuple[str, ...] = ()) -> Sealer:
    """The sealer of contact values under ``secret`` (also for ``lotse rotate-key``)."""
    return Sealer(secret, _PURPOSE, previous)


def lookup_key_of(secret: str) -> bytes:
    """The HMAC key of the lookup hashes under ``secret``."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"lotse contact lookup v1"
    ).derive(secret.encode())


def lookup_with(key: bytes, address: str) -> str:
    """The keyed hash of ``address`` under ``key`` (see :meth:`ContactData.lookup`)."""
    return HASH_PREFIX + hmac.new(key, normalize(address).encode(), hashlib.sha256).hexdigest()


def normalize(address: str) -> str:
    """The key of an address: trimmed and lower-cased."""
    return address.strip().lower()


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PREFIXES)


def any_of(column: str, first: int, count: int) -> str:
    """SQL matching ``column`` against ``count`` parameters from ``$first`` on (SQLite has no
    ``= ANY``): pass the :meth:`ContactData.lookups` there."""
    if count == 0:
        return "1=0"
    marks = ", ".join(f"${first + i}" for i in range(count))
    return f"{column} IN ({marks})"


class ContactData:
    """The keys of one app's contact data: seals and opens values, hashes addresses.

    Made from ``encryption.sealing_key`` and the ``previous`` keys a running rotation still
    accepts; given to the app's database, whose row classes carry it (``cls.contact``)."""

    def __init__(self, secret: str, previous: tuple[str, ...] = ()) -> None:
        self.previous = previous_of(secret, previous)
        self.sealer = contact_sealer(secret, self.previous)
        self.lookup_key = lookup_key_of(secret)
        self.previous_lookup_keys = tuple(lookup_key_of(p) for p in self.previous)

    def seal(self, value: str | None, context: str) -> str | None:
        """The stored form of ``value`` (None and "" stay as they are: nothing to hide)."""
        if not value:
            return value
        return self.sealer.seal(value, context)

    def open_value(self, stored: str | None, context: str) -> str | None:
        """The value of a stored (sealed) form; raises SealError if it was moved or the key
        changed (values under a previous key open)."""
        if not stored:
            return stored
        return self.sealer.open(stored, context)

    def lookup(self, address: str | None) -> str | None:
        """The keyed hash rows are found by; None for no address."""
        if address is None or not address.strip():
            return None
        return lookup_with(self.lookup_key, address)

    def lookups(self, address: str | None) -> list[str]:
        """The hashes a row with ``address`` may carry: under the key and each previous key."""
        current = self.lookup(address)
        if current is None or address is None:
            return []
        return [current, *(lookup_with(k, address) for k in self.previous_lookup_keys)]


# The context each sealed value is bound to: the row it belongs in.
def person_context(user_id: str, field: str) -> str:
    return f"person:{user_id}:{field}"


def master_context(user_id: str, key: str) -> str:
    return f"master:{user_id}:{key}"


def preference_context(user_id: str) -> str:
    return f"preference:{user_id}"


def token_context(table: str, token_hash: str) -> str:
    """For rows keyed by a link's hash (confirmations, invitations, registrations)."""
    return f"{table}:{token_hash}"


def outbox_context(recipient_hash: str) -> str:
    return f"outbox:{recipient_hash}"
