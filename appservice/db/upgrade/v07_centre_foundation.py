"""v7: display names (a client's pseudonym), account facts, centre settings, audit log."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Display names, account facts, centre settings, audit log")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v7(conn: Connection, scheme: Scheme) -> None:
    # A client's pseudonym or a counsellor's name shown to clients. Pseudonyms are unique per
    # centre regardless of case, so that "client Anna" always means one person.
    await conn.execute("ALTER TABLE person ADD COLUMN display_name TEXT")
    await conn.execute(
        "CREATE UNIQUE INDEX person_pseudonym_idx ON person (centre_id, lower(display_name)) "
        "WHERE role = 'client' AND display_name IS NOT NULL"
    )
    # Account facts the reference shows (assisto "Status"): the address for invitations and
    # notices, a phone number (admins only), and when the account was invited, activated
    # (password set), locked, or marked for deletion (erased after the grace period).
    for column in (
        "email TEXT",
        "phone TEXT",
        "invited_at BIGINT",
        "activated_at BIGINT",
        "locked_at BIGINT",
        "deleted_at BIGINT",
        # A counsellor's public profile (team page, `counsellor` for clients) and what the
        # assignment policy matches on: languages and topics as comma-separated codes.
        "description TEXT",
        "languages TEXT",
        "topics TEXT",
        "team_page BOOLEAN NOT NULL DEFAULT false",
        "crisis_contact BOOLEAN NOT NULL DEFAULT false",
    ):
        await conn.execute(f"ALTER TABLE person ADD COLUMN {column}")
    # What an admin changed with `settings k=v`; the config file gives the defaults.
    await conn.execute(
        """CREATE TABLE centre_setting (
            centre_id   TEXT NOT NULL,
            key         TEXT NOT NULL,
            value       TEXT NOT NULL,
            changed_by  TEXT NOT NULL,
            changed_at  BIGINT NOT NULL,
            PRIMARY KEY (centre_id, key)
        )"""
    )
    # Who did what to whom, when: never content (no message text, no note text).
    key = serial_key(scheme)
    await conn.execute(
        f"""CREATE TABLE audit_log (
            id          {key},
            centre_id   TEXT NOT NULL,
            actor_id    TEXT NOT NULL,
            action      TEXT NOT NULL,
            target      TEXT NOT NULL DEFAULT '',
            detail      TEXT NOT NULL DEFAULT '',
            created_at  BIGINT NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX audit_log_centre_idx ON audit_log (centre_id, id)")
