"""Sealing free text at rest: notes and document references are stored AES-GCM encrypted.

A database dump (backup, support case, stolen disk) must never show what a counsellor
wrote about a client, nor the key to a client's file. The key is derived from the
``encryption.sealing_key`` secret (HKDF-SHA256, one key per purpose; installs from before
that setting use ``encryption.pickle_key``), which lives in the config or the environment,
never in the database.

Each sealed value names its key (``v2:<key id>:…``, the id a one-way derivation of the
secret), so values under an old and a new key can lie side by side while ``lotse rotate-key``
(appservice/rotation.py) re-seals them. Values from before key ids (``v1:…``) carry none: they
were sealed with the pickle key and open with whichever key the opener holds.

While a rotation runs, Lotse seals with the new key and still opens values under the keys
named in ``encryption.previous_sealing_keys``: a sealer is made with the earlier secrets it
may open with (``previous``; it still seals with its own). The app passes them from its config,
so two apps in one process never share keys.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "PREFIXES",
    "SealError",
    "Sealer",
    "key_id",
    "key_id_of",
    "previous_of",
    "sealer",
]

# Stored values start with the format version so that a later scheme can sit beside this one.
# v1: no key id (sealed before key rotation existed); v2: "v2:<key id>:" then the ciphertext.
LEGACY_PREFIX = "v1:"
PREFIX = "v2:"
PREFIXES = (LEGACY_PREFIX, PREFIX)
NONCE_BYTES = 12


def previous_of(current: str, previous: Iterable[str]) -> tuple[str, ...]:
    """The earlier secrets a sealer of ``current`` opens with: each once, never ``current``."""
    return tuple(p for p in dict.fromkeys(previous) if p and p != current)


def key_id(secret: str) -> str:
    """A short public name of ``secret``: tells which key sealed a value, reveals nothing."""
    digest = HKDF(
        algorithm=hashes.SHA256(), length=6, salt=None, info=b"lotse sealing key id v1"
    ).derive(secret.encode())
    return digest.hex()


def key_id_of(stored: str) -> str | None:
    """The key id a stored value names; None for the legacy format (no id)."""
    if stored.startswith(PREFIX):
        kid, sep, _ = stored[len(PREFIX) :].partition(":")
        return kid if sep else None
    return None


class SealError(ValueError):
    """A sealed value is damaged, was moved to another row, or the key changed."""


class Sealer:
    """Encrypts and decrypts short texts bound to a context (e.g. the client they are about).

    The context is authenticated but not stored: a sealed note copied onto another client's
    row no longer opens. Values under the ``previous`` secrets (a rotation under way) open too.
    """

    def __init__(self, secret: str, purpose: str, previous: Iterable[str] = ()) -> None:
        if not secret:
            raise ValueError("an empty secret cannot seal anything")
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=f"lotse {purpose} v1".encode(),
        ).derive(secret.encode())
        self._aead = AESGCM(key)
        self._secret = secret
        self._purpose = purpose
        self.previous = previous_of(secret, previous)
        self.key_id = key_id(secret)
        self._head = f"{PREFIX}{self.key_id}:"

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return self._head + base64.b64encode(nonce + sealed).decode("ascii")

    def sealed_by_me(self, stored: str) -> bool:
        """Whether ``stored`` names this sealer's key (a rotation leaves such values alone)."""
        return stored.startswith(self._head)

    def _previous(self) -> list[Sealer]:
        return [sealer(p, self._purpose) for p in self.previous]

    def open(self, stored: str, context: str) -> str:
        """The plain text; values under an accepted previous key open too."""
        if stored.startswith(PREFIX) and not self.sealed_by_me(stored):
            for other in self._previous():
                if other.sealed_by_me(stored):
                    return other._open_own(stored, context)
            raise SealError("sealed under another key")
        try:
            return self._open_own(stored, context)
        except SealError:
            if not stored.startswith(LEGACY_PREFIX):
                raise
            for other in self._previous():  # v1 names no key: try each
                try:
                    return other._open_own(stored, context)
                except SealError:
                    pass
            raise

    def _open_own(self, stored: str, context: str) -> str:
        if stored.startswith(PREFIX):
            if not self.sealed_by_me(stored):
                raise SealError("sealed under another key")
            body = stored[len(self._head) :]
        elif stored.startswith(LEGACY_PREFIX):
            body = stored[len(LEGACY_PREFIX) :]
        else:
            raise SealError("unknown format")
        try:
            raw = base64.b64decode(body, validate=True)
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (ValueError, InvalidTag) as e:
            raise SealError("cannot open") from e
        return plain.decode()


def sealer(secret: str, purpose: str, previous: Iterable[str] = ()) -> Sealer:
    """One Sealer per secret, purpose and previous secrets: HKDF runs once, not on every note."""
    return _sealer(secret, purpose, previous_of(secret, previous))


@functools.lru_cache(maxsize=32)
def _sealer(secret: str, purpose: str, previous: tuple[str, ...]) -> Sealer:
    return Sealer(secret, purpose, previous)
