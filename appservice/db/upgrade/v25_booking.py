"""v25: booking — services, booking windows, appointments, calendar feeds, sent notices.

The integrity of bookings lives here, not in the handler: a partial unique index allows one
active appointment per counsellor and start, and ``booking_lock`` gives every booking of a
counsellor one row to lock, so overlapping (not only equal) times are checked and written
by one transaction at a time on PostgreSQL as on SQLite (see ``appservice/db/booking.py``).
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import serial_key, upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Booking")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v25(conn: Connection, scheme: Scheme) -> None:
    key = serial_key(scheme)
    # A service is the centre's (any counsellor may offer it); deleting one keeps its row
    # (deleted_at) so booked appointments keep their number, and drops its windows.
    await conn.execute(
        f"""CREATE TABLE booking_service (
            id             {key},
            centre_id      TEXT NOT NULL,
            created_by     TEXT NOT NULL,
            title          TEXT NOT NULL,
            duration_min   INTEGER NOT NULL CHECK (duration_min > 0),
            follow_up_min  INTEGER NOT NULL CHECK (follow_up_min >= 0),
            channel        TEXT NOT NULL
                           CHECK (channel IN ('chat', 'video', 'phone', 'onsite')),
            topic          TEXT,
            description    TEXT NOT NULL DEFAULT '',
            created_at     BIGINT NOT NULL,
            deleted_at     BIGINT
        )"""
    )
    await conn.execute("CREATE INDEX booking_service_centre_idx ON booking_service (centre_id)")
    # Local wall-clock minutes of the day in the centre's time zone (see bots/booking/model).
    await conn.execute(
        f"""CREATE TABLE booking_window (
            id             {key},
            counsellor     TEXT NOT NULL,
            weekday        INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
            starts_min     INTEGER NOT NULL CHECK (starts_min BETWEEN 0 AND 1439),
            ends_min       INTEGER NOT NULL CHECK (ends_min BETWEEN 1 AND 1440),
            service_id     BIGINT NOT NULL REFERENCES booking_service (id),
            horizon_weeks  INTEGER NOT NULL CHECK (horizon_weeks IN (1, 2, 4, 8)),
            created_at     BIGINT NOT NULL,
            CHECK (ends_min > starts_min)
        )"""
    )
    await conn.execute("CREATE INDEX booking_window_counsellor_idx ON booking_window (counsellor)")
    # Times in ms since the epoch (UTC); busy_until = end + follow-up, the span others need
    # free. Title and channel are copied from the service when booked.
    await conn.execute(
        f"""CREATE TABLE appointment (
            id             {key},
            centre_id      TEXT NOT NULL,
            counsellor     TEXT NOT NULL,
            client         TEXT,
            service_id     BIGINT,
            title          TEXT NOT NULL DEFAULT '',
            channel        TEXT NOT NULL DEFAULT 'chat',
            starts_at      BIGINT NOT NULL,
            ends_at        BIGINT NOT NULL,
            busy_until     BIGINT NOT NULL,
            state          TEXT NOT NULL
                           CHECK (state IN ('held', 'requested', 'confirmed', 'declined',
                                            'cancelled')),
            held_until     BIGINT,
            video_url      TEXT,
            sequence       INTEGER NOT NULL DEFAULT 0,
            created_at     BIGINT NOT NULL,
            updated_at     BIGINT NOT NULL,
            CHECK (ends_at > starts_at AND busy_until >= ends_at)
        )"""
    )
    # The last line of defence: never two active appointments of one counsellor at one start.
    await conn.execute(
        "CREATE UNIQUE INDEX appointment_active_start_idx ON appointment (counsellor, starts_at) "
        "WHERE state IN ('held', 'requested', 'confirmed')"
    )
    await conn.execute(
        "CREATE INDEX appointment_counsellor_idx ON appointment (counsellor, starts_at)"
    )
    await conn.execute("CREATE INDEX appointment_client_idx ON appointment (client, starts_at)")
    # Group appointments: places_taken rises only by a conditional UPDATE below the maximum
    # (and the CHECK), so racing clients never overfill one (appservice/db/booking.py).
    await conn.execute(
        f"""CREATE TABLE group_appointment (
            id                {key},
            centre_id         TEXT NOT NULL,
            counsellor        TEXT NOT NULL,
            title             TEXT NOT NULL,
            remarks           TEXT NOT NULL DEFAULT '',
            channel           TEXT NOT NULL DEFAULT 'chat',
            starts_at         BIGINT NOT NULL,
            ends_at           BIGINT NOT NULL,
            busy_until        BIGINT NOT NULL,
            max_participants  INTEGER NOT NULL CHECK (max_participants > 0),
            places_taken      INTEGER NOT NULL DEFAULT 0,
            bookable          BOOLEAN NOT NULL DEFAULT false,
            cancelled_at      BIGINT,
            video_url         TEXT,
            sequence          INTEGER NOT NULL DEFAULT 0,
            created_at        BIGINT NOT NULL,
            CHECK (places_taken BETWEEN 0 AND max_participants),
            CHECK (ends_at > starts_at AND busy_until >= ends_at)
        )"""
    )
    await conn.execute(
        "CREATE INDEX group_appointment_counsellor_idx ON group_appointment (counsellor, starts_at)"
    )
    await conn.execute(
        """CREATE TABLE group_participant (
            group_appointment_id  BIGINT NOT NULL REFERENCES group_appointment (id),
            client                TEXT NOT NULL,
            joined_at             BIGINT NOT NULL,
            PRIMARY KEY (group_appointment_id, client)
        )"""
    )
    # One row per counsellor that bookings lock (an upsert), so two bookings of the same
    # counsellor never check for overlaps at the same time.
    await conn.execute(
        """CREATE TABLE booking_lock (
            counsellor  TEXT PRIMARY KEY,
            version     BIGINT NOT NULL
        )"""
    )
    # The secret of a counsellor's iCalendar feed URL; a new one replaces (revokes) the old.
    await conn.execute(
        """CREATE TABLE calendar_feed (
            counsellor  TEXT PRIMARY KEY,
            token       TEXT NOT NULL UNIQUE,
            created_at  BIGINT NOT NULL
        )"""
    )
    # The slots a client was last shown, by number, so `book N` means what they saw even
    # when others booked meanwhile (bots/booking/offering.py).
    await conn.execute(
        """CREATE TABLE booking_offer (
            client      TEXT NOT NULL,
            number      INTEGER NOT NULL,
            slot_key    TEXT NOT NULL,
            created_at  BIGINT NOT NULL,
            PRIMARY KEY (client, number)
        )"""
    )
    # Reminders and video links as persisted jobs (bots/booking/reminders.py): the key holds
    # the appointment's start, so planning twice adds nothing and a moved one gets new jobs;
    # sent_at is set by the one run that claims the job, so none goes out twice.
    await conn.execute(
        """CREATE TABLE booking_job (
            key         TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,
            subject     TEXT NOT NULL,
            subject_id  BIGINT NOT NULL,
            starts_at   BIGINT NOT NULL,
            due_at      BIGINT NOT NULL,
            sent_at     BIGINT
        )"""
    )
    await conn.execute(
        "CREATE INDEX booking_job_due_idx ON booking_job (due_at) WHERE sent_at IS NULL"
    )
