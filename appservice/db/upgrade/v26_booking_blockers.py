"""v26: blockers — a counsellor keeps a time free of bookable slots (`block`, `unblock`) —
and each client's latest slots poll, so it is closed once they booked.

Bookings check blockers in the same locked transaction as appointments
(``appservice/db/booking.py``), so a blocker and a booking racing for one time never both win.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Booking blockers")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v26(conn: Connection, scheme: Scheme) -> None:
    key = serial_key(scheme)
    # Times in ms since the epoch (UTC), end exclusive; the label is the counsellor's own
    # short word for it (like an absence's), shown only in the staff calendar.
    await conn.execute(
        f"""CREATE TABLE booking_blocker (
            id          {key},
            centre_id   TEXT NOT NULL,
            counsellor  TEXT NOT NULL,
            starts_at   BIGINT NOT NULL,
            ends_at     BIGINT NOT NULL,
            label       TEXT NOT NULL DEFAULT '',
            created_at  BIGINT NOT NULL,
            CHECK (ends_at > starts_at)
        )"""
    )
    await conn.execute(
        "CREATE INDEX booking_blocker_counsellor_idx ON booking_blocker (counsellor, ends_at)"
    )
    # The slots poll a client was last sent (the assistant's event), ended after a booking.
    await conn.execute(
        """CREATE TABLE booking_poll (
            client      TEXT PRIMARY KEY,
            room_id     TEXT NOT NULL,
            event_id    TEXT NOT NULL,
            created_at  BIGINT NOT NULL
        )"""
    )
