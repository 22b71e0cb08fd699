"""Rows of ``account_code``: a confirmation code a person must type back (v21).

Only a keyed hash of the code is stored; the caller gives the key (a secret from the config),
so a dump of the table does not reveal which short code would match.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import ClassVar

from mautrix.util.async_db import Database


def _digest(key: bytes, user_id: str, purpose: str, code: str) -> str:
    message = f"{purpose}\x00{user_id}\x00{code.strip().upper()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class AccountCode:
    db: ClassVar[Database]

    @classmethod
    async def issue(
        cls, key: bytes, user_id: str, purpose: str, code: str, expires_at: int
    ) -> None:
        """Store ``code`` for the person and purpose; an older one is replaced."""
        await cls.db.execute(
            "INSERT INTO account_code (user_id, purpose, code_hash, expires_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, purpose) "
            "DO UPDATE SET code_hash=excluded.code_hash, expires_at=excluded.expires_at",
            user_id,
            purpose,
            _digest(key, user_id, purpose, code),
            expires_at,
        )

    @classmethod
    async def check(cls, key: bytes, user_id: str, purpose: str, code: str, now: int) -> str:
        """``ok``, ``wrong``, ``expired`` or ``none``; only ``ok`` uses the code up."""
        row = await cls.db.fetchrow(
            "SELECT code_hash, expires_at FROM account_code WHERE user_id=$1 AND purpose=$2",
            user_id,
            purpose,
        )
        if row is None:
            return "none"
        if row["expires_at"] <= now:
            return "expired"
        if not hmac.compare_digest(row["code_hash"], _digest(key, user_id, purpose, code)):
            return "wrong"
        await cls.db.execute(
            "DELETE FROM account_code WHERE user_id=$1 AND purpose=$2", user_id, purpose
        )
        return "ok"
