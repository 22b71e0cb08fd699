"""v9: one-time invitation links (set a password) and pending self-registrations."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="One-time invitation links, self-registrations")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v9(conn: Connection, scheme: Scheme) -> None:
    # Only the SHA-256 of the token is stored: a copy of the database opens no account.
    # A newer invitation revokes the older ones (revoked_at); using one sets used_at.
    # sent_to is the address the link was mailed to (NULL: handed over in person), so that a
    # used invitation also proves the person reads that mailbox.
    key = serial_key(scheme)
    await conn.execute(
        f"""CREATE TABLE invitation (
            id              {key},
            token_hash      TEXT NOT NULL UNIQUE,
            user_id         TEXT NOT NULL,
            centre_id       TEXT NOT NULL,
            created_by      TEXT NOT NULL,
            created_at      BIGINT NOT NULL,
            expires_at      BIGINT NOT NULL,
            sent_to         TEXT,
            used_at         BIGINT,
            revoked_at      BIGINT,
            failed_attempts INTEGER NOT NULL DEFAULT 0
        )"""
    )
    await conn.execute("CREATE INDEX invitation_user_idx ON invitation (user_id)")
    # Self-registration with double opt-in: nothing exists on Synapse until the address is
    # confirmed through the mailed link (hash only); then user_id names the new account.
    await conn.execute(
        f"""CREATE TABLE registration (
            id              {key},
            token_hash      TEXT NOT NULL UNIQUE,
            centre_id       TEXT NOT NULL,
            pseudonym       TEXT NOT NULL,
            email           TEXT NOT NULL,
            created_at      BIGINT NOT NULL,
            expires_at      BIGINT NOT NULL,
            confirmed_at    BIGINT,
            user_id         TEXT
        )"""
    )
    await conn.execute("CREATE INDEX registration_email_idx ON registration (email, created_at)")
