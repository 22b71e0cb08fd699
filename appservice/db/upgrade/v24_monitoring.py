"""v24: monitorings (the documentation record of a contact) and the dialogue filling one in.

What was typed into a monitoring (subject, minutes, choices) is sealed at rest as one JSON
value, like notes; only what the lists need to choose rows stays in clear: centre, client,
counsellor, the request it belongs to and the day of the contact.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Monitorings")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v24(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        f"""CREATE TABLE monitoring (
            id             {serial_key(scheme)},
            centre_id      TEXT NOT NULL,
            client_id      TEXT NOT NULL,
            counsellor_id  TEXT NOT NULL,
            request_id     BIGINT,
            contact_date   TEXT NOT NULL,
            sealed_values  TEXT NOT NULL,
            created_at     BIGINT NOT NULL,
            edited_at      BIGINT
        )"""
    )
    await conn.execute("CREATE INDEX monitoring_centre_idx ON monitoring (centre_id, contact_date)")
    # One half-filled form per counsellor, so a restart asks the same question again; the
    # state holds what was typed so far, so it is sealed too. ``step`` is the key of the field
    # asked (no content) and ``poll_event_id`` the poll offering it: only a vote on that poll
    # answers it.
    await conn.execute(
        """CREATE TABLE monitoring_dialogue (
            counsellor_id  TEXT PRIMARY KEY,
            centre_id      TEXT NOT NULL,
            client_id      TEXT NOT NULL,
            request_id     BIGINT,
            sealed_state   TEXT NOT NULL,
            step           TEXT NOT NULL,
            poll_event_id  TEXT,
            started_at     BIGINT NOT NULL
        )"""
    )
