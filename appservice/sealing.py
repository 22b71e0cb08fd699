"""Sealing free text at rest: notes and document references are stored AES-GCM encrypted.

A database dump (backup, support case, stolen disk) must never show what a counsellor
wrote about a client, nor the key to a client's file. The key is derived from the
``encryption.pickle_key`` secret (HKDF-SHA256, one key per purpose), which lives in the
config or the environment, never in the database. Changing the pickle key makes sealed
rows unreadable, exactly like the bot's crypto store.
"""

from __future__ import annotations

import base64
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SealError", "Sealer", "sealer"]

# Stored values start with the format version so that a later scheme can sit beside this one.
PREFIX = "v1:"
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value is damaged, was moved to another row, or the key changed."""


class Sealer:
    """Encrypts and decrypts short texts bound to a context (e.g. the client they are about).

    The context is authenticated but not stored: a sealed note copied onto another client's
    row no longer opens.
    """

    def __init__(self, secret: str, purpose: str) -> None:
        if not secret:
            raise ValueError("an empty secret cannot seal anything")
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=f"lotse {purpose} v1".encode(),
        ).derive(secret.encode())
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, context: str) -> str:
        if not stored.startswith(PREFIX):
            raise SealError("unknown format")
        try:
            raw = base64.b64decode(stored[len(PREFIX) :], validate=True)
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (ValueError, InvalidTag) as e:
            raise SealError("cannot open") from e
        return plain.decode()


@functools.lru_cache(maxsize=8)
def sealer(secret: str, purpose: str) -> Sealer:
    """One Sealer per secret and purpose: HKDF runs once, not on every note."""
    return Sealer(secret, purpose)
