"""v8: notes and documents on clients (sealed at rest), groups of clients with their rooms."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Client notes, client documents, client groups")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v8(conn: Connection, scheme: Scheme) -> None:
    key = serial_key(scheme)
    # Free text about a client, visible to the centre's counsellors. ``sealed_text`` is
    # AES-GCM ciphertext (appservice/sealing.py): a dump never shows what was written.
    await conn.execute(
        f"""CREATE TABLE client_note (
            id           {key},
            centre_id    TEXT NOT NULL,
            client_id    TEXT NOT NULL,
            author_id    TEXT NOT NULL,
            sealed_text  TEXT NOT NULL,
            created_at   BIGINT NOT NULL,
            edited_at    BIGINT
        )"""
    )
    await conn.execute("CREATE INDEX client_note_client_idx ON client_note (client_id, id)")
    # A file a counsellor attached to a client. The file stays (encrypted, as sent) in
    # Synapse's media repository; ``sealed_ref`` holds its mxc URI, decryption key and name,
    # sealed like notes. Kind and size are plain: they say nothing about the client.
    await conn.execute(
        f"""CREATE TABLE client_document (
            id           {key},
            centre_id    TEXT NOT NULL,
            client_id    TEXT NOT NULL,
            uploader_id  TEXT NOT NULL,
            kind         TEXT NOT NULL,
            size         BIGINT NOT NULL,
            sealed_ref   TEXT NOT NULL,
            created_at   BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        "CREATE INDEX client_document_owner_idx ON client_document (uploader_id, client_id, id)"
    )
    # A group of clients with its steward-owned group room. Names are unique per centre (any
    # case) so that `group add Name …` always means one group.
    await conn.execute(
        f"""CREATE TABLE client_group (
            id           {key},
            centre_id    TEXT NOT NULL,
            name         TEXT NOT NULL,
            description  TEXT NOT NULL DEFAULT '',
            creator_id   TEXT NOT NULL,
            room_id      TEXT,
            created_at   BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        "CREATE UNIQUE INDEX client_group_name_idx ON client_group (centre_id, lower(name))"
    )
    await conn.execute(
        """CREATE TABLE client_group_member (
            group_id   BIGINT NOT NULL,
            client_id  TEXT NOT NULL,
            added_at   BIGINT NOT NULL,
            PRIMARY KEY (group_id, client_id)
        )"""
    )
