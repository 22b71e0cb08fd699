"""Rows of booking: services, booking windows, appointments, calendar feeds, sent notices.

Booking a time is decided by the database, not by the handler that listed the slot: in one
transaction ``Appointment.reserve`` locks the counsellor's ``booking_lock`` row, lets lapsed
holds go, looks for any active appointment overlapping the new one and only then inserts.
Two clients racing for one slot (or for two overlapping parallel slots) therefore end with
one appointment and one "already taken", on PostgreSQL (row lock) as on SQLite (one writer);
the partial unique index of v25 backs this up for equal starts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg
from mautrix.util.async_db import Connection, Database

from .person import rows_changed

__all__ = [
    "ACTIVE",
    "Appointment",
    "BookingBlocker",
    "BookingJob",
    "BookingOffer",
    "BookingService",
    "BookingWindowRow",
    "CalendarFeed",
    "GroupAppointmentRow",
]

# States in which an appointment takes its counsellor's time (a hold until it lapses).
ACTIVE = "('held', 'requested', 'confirmed')"


@dataclass
class BookingService:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, created_by, title, duration_min, follow_up_min, channel, topic, "
        "description, deleted_at"
    )

    id: int
    centre_id: str
    created_by: str
    title: str
    duration_min: int
    follow_up_min: int
    channel: str
    topic: str | None
    description: str
    deleted_at: int | None = None

    @classmethod
    def _from_row(cls, row: Any) -> BookingService:
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def add(
        cls,
        centre_id: str,
        created_by: str,
        *,
        title: str,
        duration_min: int,
        follow_up_min: int,
        channel: str,
        topic: str | None,
        description: str,
        now: int,
    ) -> int:
        q = (
            "INSERT INTO booking_service (centre_id, created_by, title, duration_min, "
            "follow_up_min, channel, topic, description, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
        )
        args = (title, duration_min, follow_up_min, channel, topic, description, now)
        return int(await cls.db.fetchval(q, centre_id, created_by, *args))

    @classmethod
    async def of_centre(cls, centre_id: str) -> list[BookingService]:
        """The centre's services that are not deleted, by number."""
        q = (
            f"SELECT {cls._columns} FROM booking_service "
            "WHERE centre_id=$1 AND deleted_at IS NULL ORDER BY id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id)]

    @classmethod
    async def get(cls, service_id: int, centre_id: str) -> BookingService | None:
        q = (
            f"SELECT {cls._columns} FROM booking_service "
            "WHERE id=$1 AND centre_id=$2 AND deleted_at IS NULL"
        )
        row = await cls.db.fetchrow(q, service_id, centre_id)
        return cls._from_row(row) if row is not None else None

    async def save(self) -> None:
        q = (
            "UPDATE booking_service SET title=$2, duration_min=$3, follow_up_min=$4, "
            "channel=$5, topic=$6, description=$7 WHERE id=$1"
        )
        await self.db.execute(
            q,
            self.id,
            self.title,
            self.duration_min,
            self.follow_up_min,
            self.channel,
            self.topic,
            self.description,
        )

    @classmethod
    async def delete(cls, service_id: int, centre_id: str, now: int) -> bool:
        """Marks it deleted and drops its windows; booked appointments keep their copy."""
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            result = await conn.execute(
                "UPDATE booking_service SET deleted_at=$3 "
                "WHERE id=$1 AND centre_id=$2 AND deleted_at IS NULL",
                service_id,
                centre_id,
                now,
            )
            if rows_changed(result) != 1:
                return False
            await conn.execute("DELETE FROM booking_window WHERE service_id=$1", service_id)
        return True


@dataclass
class BookingWindowRow:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "w.id, w.counsellor, w.weekday, w.starts_min, w.ends_min, w.service_id, w.horizon_weeks"
    )

    id: int
    counsellor: str
    weekday: int
    starts_min: int
    ends_min: int
    service_id: int
    horizon_weeks: int

    @classmethod
    def _from_row(cls, row: Any) -> BookingWindowRow:
        return cls(**{k[2:]: row[k[2:]] for k in cls._columns.split(", ")})

    @classmethod
    async def add(
        cls,
        counsellor: str,
        weekday: int,
        starts_min: int,
        ends_min: int,
        service_id: int,
        horizon_weeks: int,
        now: int,
    ) -> int:
        q = (
            "INSERT INTO booking_window (counsellor, weekday, starts_min, ends_min, service_id, "
            "horizon_weeks, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        args = (weekday, starts_min, ends_min, service_id, horizon_weeks, now)
        return int(await cls.db.fetchval(q, counsellor, *args))

    @classmethod
    async def of_counsellor(cls, counsellor: str) -> list[BookingWindowRow]:
        q = (
            f"SELECT {cls._columns} FROM booking_window w WHERE w.counsellor=$1 "
            "ORDER BY w.weekday, w.starts_min, w.id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, counsellor)]

    @classmethod
    async def of_centre(cls, centre_id: str) -> list[BookingWindowRow]:
        """Every window of the centre's services (services never cross centres)."""
        q = (
            f"SELECT {cls._columns} FROM booking_window w "
            "JOIN booking_service s ON s.id = w.service_id "
            "WHERE s.centre_id=$1 AND s.deleted_at IS NULL ORDER BY w.id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id)]

    @classmethod
    async def delete(cls, window_id: int, counsellor: str) -> bool:
        """Only the owner deletes their window; booked appointments stay."""
        result = await cls.db.execute(
            "DELETE FROM booking_window WHERE id=$1 AND counsellor=$2", window_id, counsellor
        )
        return rows_changed(result) == 1


@dataclass
class Appointment:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, counsellor, client, service_id, title, channel, starts_at, ends_at, "
        "busy_until, state, held_until, video_url, sequence"
    )

    id: int
    centre_id: str
    counsellor: str
    client: str | None
    service_id: int | None
    title: str
    channel: str
    starts_at: int
    ends_at: int
    busy_until: int
    state: str
    held_until: int | None
    video_url: str | None
    sequence: int

    @classmethod
    def _from_row(cls, row: Any) -> Appointment:
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def reserve(
        cls,
        *,
        centre_id: str,
        counsellor: str,
        client: str | None,
        service_id: int | None,
        title: str,
        channel: str,
        starts_at: int,
        ends_at: int,
        busy_until: int,
        state: str,
        held_until: int | None,
        video_url: str | None,
        now: int,
    ) -> int | None:
        """The new appointment's id, or None when its time is taken (nothing written then).

        ``state`` is ``held`` (with ``held_until``), ``requested`` or ``confirmed``.
        """
        conn: Connection
        try:
            async with cls.db.acquire() as conn, conn.transaction():
                await _lock_counsellor(conn, counsellor)
                if await _taken(conn, counsellor, starts_at, busy_until, now):
                    return None
                q = (
                    "INSERT INTO appointment (centre_id, counsellor, client, service_id, title, "
                    "channel, starts_at, ends_at, busy_until, state, held_until, video_url, "
                    "created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) "
                    "RETURNING id"
                )
                args = (title, channel, starts_at, ends_at, busy_until, state, held_until)
                return int(
                    await conn.fetchval(
                        q, centre_id, counsellor, client, service_id, *args, video_url, now
                    )
                )
        except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
            return None

    @classmethod
    async def release_other_holds(cls, client: str, keep: int, now: int) -> int:
        """A client holds one slot at a time: a new hold frees their earlier ones, so nobody
        keeps a counsellor's afternoon hidden by picking slot after slot."""
        result = await cls.db.execute(
            "UPDATE appointment SET state='cancelled', held_until=NULL, updated_at=$3, "
            "sequence=sequence + 1 WHERE client=$1 AND state='held' AND id<>$2",
            client,
            keep,
            now,
        )
        return rows_changed(result)

    @classmethod
    async def send_hold(cls, appointment_id: int, client: str, now: int) -> bool:
        """Turns the client's hold into a request, only while it has not lapsed.

        One statement: a hold lapsed meanwhile (and perhaps cancelled by another booking in
        ``reserve``) is never requested, so a lapsed slot is never promised twice.
        """
        result = await cls.db.execute(
            "UPDATE appointment SET state='requested', held_until=NULL, updated_at=$3, "
            "sequence=sequence + 1 WHERE id=$1 AND client=$2 AND state='held' "
            "AND held_until > $3",
            appointment_id,
            client,
            now,
        )
        return rows_changed(result) == 1

    @classmethod
    async def set_video_url(cls, appointment_id: int, url: str | None) -> None:
        await cls.db.execute("UPDATE appointment SET video_url=$2 WHERE id=$1", appointment_id, url)

    @classmethod
    async def get(cls, appointment_id: int) -> Appointment | None:
        q = f"SELECT {cls._columns} FROM appointment WHERE id=$1"
        row = await cls.db.fetchrow(q, appointment_id)
        return cls._from_row(row) if row is not None else None

    @classmethod
    async def change_state(
        cls, appointment_id: int, from_states: tuple[str, ...], to: str, now: int
    ) -> bool:
        """Moves it on only from one of ``from_states`` (a second confirm changes nothing)."""
        marks = ", ".join(f"${i}" for i in range(4, 4 + len(from_states)))
        result = await cls.db.execute(
            f"UPDATE appointment SET state=$2, held_until=NULL, updated_at=$3, "
            f"sequence=sequence + 1 WHERE id=$1 AND state IN ({marks})",
            appointment_id,
            to,
            now,
            *from_states,
        )
        return rows_changed(result) == 1

    @classmethod
    async def active_of_centre(cls, centre_id: str, now: int) -> list[Appointment]:
        """What takes counsellors' time from now on (for the free slots)."""
        q = (
            f"SELECT {cls._columns} FROM appointment WHERE centre_id=$1 AND busy_until > $2 "
            f"AND state IN {ACTIVE}"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id, now)]

    @classmethod
    async def of_person(cls, user_id: str, since: int) -> list[Appointment]:
        """A client's or counsellor's appointments ending after ``since``, soonest first."""
        q = (
            f"SELECT {cls._columns} FROM appointment WHERE (client=$1 OR counsellor=$1) "
            "AND busy_until > $2 ORDER BY starts_at, id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, user_id, since)]

    @classmethod
    async def of_centre_between(cls, centre_id: str, start: int, end: int) -> list[Appointment]:
        q = (
            f"SELECT {cls._columns} FROM appointment WHERE centre_id=$1 "
            "AND starts_at < $3 AND busy_until > $2 ORDER BY starts_at, id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id, start, end)]

    @classmethod
    async def of_counsellor_between(
        cls, counsellor: str, start: int, end: int
    ) -> list[Appointment]:
        q = (
            f"SELECT {cls._columns} FROM appointment WHERE counsellor=$1 "
            "AND starts_at < $3 AND busy_until > $2 ORDER BY starts_at, id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, counsellor, start, end)]


@dataclass
class GroupAppointmentRow:
    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "id, centre_id, counsellor, title, remarks, channel, starts_at, ends_at, busy_until, "
        "max_participants, places_taken, bookable, cancelled_at, video_url, sequence"
    )

    id: int
    centre_id: str
    counsellor: str
    title: str
    remarks: str
    channel: str
    starts_at: int
    ends_at: int
    busy_until: int
    max_participants: int
    places_taken: int
    bookable: bool
    cancelled_at: int | None
    video_url: str | None
    sequence: int

    @classmethod
    def _from_row(cls, row: Any) -> GroupAppointmentRow:
        values = {k: row[k] for k in cls._columns.split(", ")}
        values["bookable"] = bool(values["bookable"])
        return cls(**values)

    @classmethod
    async def create(
        cls,
        *,
        centre_id: str,
        counsellor: str,
        title: str,
        remarks: str,
        channel: str,
        starts_at: int,
        ends_at: int,
        busy_until: int,
        max_participants: int,
        bookable: bool,
        now: int,
    ) -> int | None:
        """The new group appointment's id, or None when the counsellor's time is taken.

        Locks the counsellor's row as ``Appointment.reserve`` does, so a client booking the
        same time at the same moment and this never both succeed.
        """
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await _lock_counsellor(conn, counsellor)
            if await _taken(conn, counsellor, starts_at, busy_until, now):
                return None
            q = (
                "INSERT INTO group_appointment (centre_id, counsellor, title, remarks, channel, "
                "starts_at, ends_at, busy_until, max_participants, bookable, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"
            )
            args = (channel, starts_at, ends_at, busy_until, max_participants, bookable, now)
            return int(await conn.fetchval(q, centre_id, counsellor, title, remarks, *args))

    @classmethod
    async def get(cls, group_id: int) -> GroupAppointmentRow | None:
        row = await cls.db.fetchrow(
            f"SELECT {cls._columns} FROM group_appointment WHERE id=$1", group_id
        )
        return cls._from_row(row) if row is not None else None

    @classmethod
    async def join(cls, group_id: int, client: str, now: int) -> str:
        """``joined``, ``full`` (no place left), ``already`` or ``closed``; decided in one
        transaction: the place is taken by a conditional UPDATE before the row is added."""
        conn: Connection
        try:
            async with cls.db.acquire() as conn, conn.transaction():
                result = await conn.execute(
                    "UPDATE group_appointment SET places_taken=places_taken + 1, "
                    "sequence=sequence + 1 WHERE id=$1 AND cancelled_at IS NULL "
                    "AND starts_at > $2 AND places_taken < max_participants",
                    group_id,
                    now,
                )
                if rows_changed(result) != 1:
                    open_ = await conn.fetchval(
                        "SELECT 1 FROM group_appointment WHERE id=$1 AND cancelled_at IS NULL "
                        "AND starts_at > $2",
                        group_id,
                        now,
                    )
                    return "full" if open_ else "closed"
                await conn.execute(
                    "INSERT INTO group_participant (group_appointment_id, client, joined_at) "
                    "VALUES ($1, $2, $3)",
                    group_id,
                    client,
                    now,
                )
        except (asyncpg.UniqueViolationError, sqlite3.IntegrityError) as e:
            if isinstance(e, sqlite3.IntegrityError) and "UNIQUE" not in str(e):
                raise  # a CHECK: a bug, not a second join
            return "already"
        return "joined"

    @classmethod
    async def add_participants(cls, group_id: int, clients: list[str], now: int) -> list[str]:
        """Adds the clients not yet taking part, all or none: the new ones, or [] when they do
        not all fit (a racing ``join`` may have taken places) or it is cancelled or started.

        The places rise by one conditional UPDATE in the same transaction, so staff adding
        and clients joining at once never overfill it.
        """
        conn: Connection
        added: list[str] = []
        try:
            async with cls.db.acquire() as conn, conn.transaction():
                for client in clients:
                    result = await conn.execute(
                        "INSERT INTO group_participant (group_appointment_id, client, joined_at) "
                        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        group_id,
                        client,
                        now,
                    )
                    if rows_changed(result) == 1:
                        added.append(client)
                if not added:
                    return []
                result = await conn.execute(
                    "UPDATE group_appointment SET places_taken=places_taken + $2, "
                    "sequence=sequence + 1 WHERE id=$1 AND cancelled_at IS NULL "
                    "AND starts_at > $3 AND places_taken + $2 <= max_participants",
                    group_id,
                    len(added),
                    now,
                )
                if rows_changed(result) != 1:
                    raise _NoRoom
        except _NoRoom:
            return []  # the transaction rolled the new participants back
        return added

    @classmethod
    async def leave(cls, group_id: int, client: str, now: int) -> bool:
        """The client's place is given back, in one transaction with its removal; False when
        they did not take part or it is cancelled or started (nothing changes then)."""
        conn: Connection
        try:
            async with cls.db.acquire() as conn, conn.transaction():
                result = await conn.execute(
                    "DELETE FROM group_participant WHERE group_appointment_id=$1 AND client=$2",
                    group_id,
                    client,
                )
                if rows_changed(result) != 1:
                    return False
                result = await conn.execute(
                    "UPDATE group_appointment SET places_taken=places_taken - 1, "
                    "sequence=sequence + 1 WHERE id=$1 AND cancelled_at IS NULL "
                    "AND starts_at > $2 AND places_taken > 0",
                    group_id,
                    now,
                )
                if rows_changed(result) != 1:
                    raise _NoRoom
        except _NoRoom:
            return False  # the transaction put the participant back
        return True

    @classmethod
    async def set_video_url(cls, group_id: int, url: str | None) -> None:
        await cls.db.execute("UPDATE group_appointment SET video_url=$2 WHERE id=$1", group_id, url)

    @classmethod
    async def of_centre(cls, centre_id: str, since: int) -> list[GroupAppointmentRow]:
        """The centre's group appointments not over before ``since``, by time."""
        q = (
            f"SELECT {cls._columns} FROM group_appointment WHERE centre_id=$1 "
            "AND busy_until > $2 ORDER BY starts_at, id"
        )
        return [cls._from_row(r) for r in await cls.db.fetch(q, centre_id, since)]

    @classmethod
    async def cancel(cls, group_id: int, now: int) -> bool:
        result = await cls.db.execute(
            "UPDATE group_appointment SET cancelled_at=$2, sequence=sequence + 1 "
            "WHERE id=$1 AND cancelled_at IS NULL",
            group_id,
            now,
        )
        return rows_changed(result) == 1

    @classmethod
    async def participants(cls, group_id: int) -> list[str]:
        q = "SELECT client FROM group_participant WHERE group_appointment_id=$1 ORDER BY client"
        return [r["client"] for r in await cls.db.fetch(q, group_id)]


@dataclass
class BookingBlocker:
    """A time a counsellor keeps free: no slot inside it, no booking into it (``_taken``)."""

    db: ClassVar[Database]
    _columns: ClassVar[str] = "id, centre_id, counsellor, starts_at, ends_at, label"

    id: int
    centre_id: str
    counsellor: str
    starts_at: int
    ends_at: int
    label: str

    @classmethod
    async def add(
        cls, centre_id: str, counsellor: str, starts_at: int, ends_at: int, label: str, now: int
    ) -> int | None:
        """The new blocker's id, or None when an appointment, group appointment or blocker
        of the counsellor meets the time (the counsellor cancels or unblocks that first).

        Under the counsellor's booking lock, so a client booking the same time at the same
        moment and this never both succeed.
        """
        conn: Connection
        async with cls.db.acquire() as conn, conn.transaction():
            await _lock_counsellor(conn, counsellor)
            if await _taken(conn, counsellor, starts_at, ends_at, now):
                return None
            q = (
                "INSERT INTO booking_blocker (centre_id, counsellor, starts_at, ends_at, label, "
                "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
            )
            return int(
                await conn.fetchval(q, centre_id, counsellor, starts_at, ends_at, label, now)
            )

    @classmethod
    async def of_centre(cls, centre_id: str, start: int, end: int) -> list[BookingBlocker]:
        """The centre's blockers meeting [start, end), by time."""
        q = (
            f"SELECT {cls._columns} FROM booking_blocker WHERE centre_id=$1 "
            "AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at, id"
        )
        return [
            cls(**{k: r[k] for k in cls._columns.split(", ")})
            for r in await cls.db.fetch(q, centre_id, start, end)
        ]

    @classmethod
    async def delete(cls, blocker_id: int, counsellor: str) -> bool:
        """Only the counsellor removes their own blocker."""
        result = await cls.db.execute(
            "DELETE FROM booking_blocker WHERE id=$1 AND counsellor=$2", blocker_id, counsellor
        )
        return rows_changed(result) == 1


class _NoRoom(Exception):
    """Rolls back an addition of participants that does not fit."""


async def _lock_counsellor(conn: Connection, counsellor: str) -> None:
    """Take the counsellor's booking row lock for this transaction (see the module)."""
    await conn.execute(
        "INSERT INTO booking_lock (counsellor, version) VALUES ($1, 1) "
        "ON CONFLICT (counsellor) DO UPDATE SET version=booking_lock.version + 1",
        counsellor,
    )


async def _taken(
    conn: Connection, counsellor: str, starts_at: int, busy_until: int, now: int
) -> bool:
    """Whether an active appointment, group appointment or blocker meets [starts_at,
    busy_until)."""
    await conn.execute(
        "UPDATE appointment SET state='cancelled', updated_at=$2, sequence=sequence + 1 "
        "WHERE counsellor=$1 AND state='held' AND held_until <= $2",
        counsellor,
        now,
    )
    found = await conn.fetchval(
        f"SELECT id FROM appointment WHERE counsellor=$1 AND state IN {ACTIVE} "
        "AND starts_at < $3 AND busy_until > $2 "
        "UNION ALL SELECT id FROM group_appointment WHERE counsellor=$1 "
        "AND cancelled_at IS NULL AND starts_at < $3 AND busy_until > $2 "
        "UNION ALL SELECT id FROM booking_blocker WHERE counsellor=$1 "
        "AND starts_at < $3 AND ends_at > $2 LIMIT 1",
        counsellor,
        starts_at,
        busy_until,
    )
    return found is not None


class CalendarFeed:
    """The secret in a counsellor's iCalendar URL; replacing it revokes the old URL."""

    db: ClassVar[Database]

    @classmethod
    async def token_of(cls, counsellor: str) -> str | None:
        q = "SELECT token FROM calendar_feed WHERE counsellor=$1"
        return await cls.db.fetchval(q, counsellor)  # type: ignore[no-any-return]

    @classmethod
    async def replace(cls, counsellor: str, token: str, now: int) -> None:
        await cls.db.execute(
            "INSERT INTO calendar_feed (counsellor, token, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (counsellor) DO UPDATE SET token=excluded.token, "
            "created_at=excluded.created_at",
            counsellor,
            token,
            now,
        )

    @classmethod
    async def counsellor_of(cls, token: str) -> str | None:
        q = "SELECT counsellor FROM calendar_feed WHERE token=$1"
        return await cls.db.fetchval(q, token)  # type: ignore[no-any-return]


class CounsellorVideoLink:
    """A counsellor's own video link, used for their video appointments instead of Jitsi."""

    db: ClassVar[Database]

    @classmethod
    async def of(cls, counsellor: str) -> str | None:
        q = "SELECT url FROM counsellor_video_link WHERE counsellor=$1"
        return await cls.db.fetchval(q, counsellor)  # type: ignore[no-any-return]

    @classmethod
    async def set(cls, counsellor: str, url: str, now: int) -> None:
        await cls.db.execute(
            "INSERT INTO counsellor_video_link (counsellor, url, set_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (counsellor) DO UPDATE SET url=excluded.url, set_at=excluded.set_at",
            counsellor,
            url,
            now,
        )

    @classmethod
    async def clear(cls, counsellor: str) -> None:
        await cls.db.execute("DELETE FROM counsellor_video_link WHERE counsellor=$1", counsellor)


class BookingJob:
    """Reminders and video links waiting to go out; each is claimed by exactly one run."""

    db: ClassVar[Database]
    _columns: ClassVar[str] = "key, kind, subject, subject_id, starts_at, due_at"

    @classmethod
    async def plan(cls, jobs: list[tuple[str, str, str, int, int, int]]) -> None:
        """Adds (key, kind, subject, subject_id, starts_at, due_at); known keys stay as they are."""
        for job in jobs:
            await cls.db.execute(
                f"INSERT INTO booking_job ({cls._columns}) VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT (key) DO NOTHING",
                *job,
            )

    @classmethod
    async def due(cls, now: int) -> list[tuple[str, str, str, int, int, int]]:
        q = (
            f"SELECT {cls._columns} FROM booking_job WHERE sent_at IS NULL AND due_at <= $1 "
            "ORDER BY due_at, key"
        )
        return [
            (r["key"], r["kind"], r["subject"], r["subject_id"], r["starts_at"], r["due_at"])
            for r in await cls.db.fetch(q, now)
        ]

    @classmethod
    async def claim(cls, key: str, now: int) -> bool:
        """True for the one caller that marks the job sent (two runs never both send)."""
        result = await cls.db.execute(
            "UPDATE booking_job SET sent_at=$2 WHERE key=$1 AND sent_at IS NULL", key, now
        )
        return rows_changed(result) == 1


class BookingOffer:
    """The slots a client was last shown, by number: ``book N`` books what they saw."""

    db: ClassVar[Database]

    @classmethod
    async def replace(cls, client: str, keys: list[str], now: int) -> None:
        await cls.db.execute("DELETE FROM booking_offer WHERE client=$1", client)
        for number, key in enumerate(keys, 1):
            await cls.db.execute(
                "INSERT INTO booking_offer (client, number, slot_key, created_at) "
                "VALUES ($1, $2, $3, $4)",
                client,
                number,
                key,
                now,
            )

    @classmethod
    async def set_poll(cls, client: str, room_id: str, event_id: str, now: int) -> None:
        """The client's latest slots poll (one per client; a newer one replaces it)."""
        await cls.db.execute(
            "INSERT INTO booking_poll (client, room_id, event_id, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (client) DO UPDATE SET "
            "room_id=excluded.room_id, event_id=excluded.event_id, created_at=excluded.created_at",
            client,
            room_id,
            event_id,
            now,
        )

    @classmethod
    async def take_poll(cls, client: str) -> tuple[str, str] | None:
        """The client's latest slots poll (room, event), forgotten now that it is ended."""
        row = await cls.db.fetchrow(
            "SELECT room_id, event_id FROM booking_poll WHERE client=$1", client
        )
        if row is None:
            return None
        await cls.db.execute(
            "DELETE FROM booking_poll WHERE client=$1 AND event_id=$2", client, row["event_id"]
        )
        return row["room_id"], row["event_id"]

    @classmethod
    async def keys(cls, client: str) -> list[str]:
        q = "SELECT slot_key FROM booking_offer WHERE client=$1 ORDER BY number"
        return [r["slot_key"] for r in await cls.db.fetch(q, client)]

    @classmethod
    async def key(cls, client: str, number: int) -> str | None:
        q = "SELECT slot_key FROM booking_offer WHERE client=$1 AND number=$2"
        return await cls.db.fetchval(q, client, number)  # type: ignore[no-any-return]
