"""Rows of the ``person`` table: who belongs to which centre, in which role."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from mautrix.util.async_db import Connection, Database

from appservice import contact_data as cd
from appservice.contact_data import ContactData

from .rows import rows_changed

ROLES = ("client", "counsellor", "admin")


@dataclass
class Person:
    db: ClassVar[Database]
    contact: ClassVar[ContactData]
    _columns: ClassVar[str] = (
        "user_id, centre_id, role, language, service_room_id, welcomed, created_at, "
        "status, capacity, home_counsellor_id, display_name, email, phone, invited_at, "
        "activated_at, locked_at, deleted_at, description, languages, topics, team_page, "
        "crisis_contact, service_room_renew, service_room_notice"
    )

    user_id: str
    centre_id: str
    role: str
    language: str | None = None
    service_room_id: str | None = None
    welcomed: bool = False
    created_at: int = 0
    status: str = "online"
    capacity: int | None = None
    home_counsellor_id: str | None = None
    # A client's pseudonym, or a counsellor's name as clients see it.
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    # ms since the epoch; None = never / not now.
    invited_at: int | None = None
    activated_at: int | None = None
    locked_at: int | None = None
    deleted_at: int | None = None
    # Public profile of staff; languages and topics are comma-separated codes.
    description: str | None = None
    languages: str | None = None
    topics: str | None = None
    team_page: bool = False
    crisis_contact: bool = False
    # Why the service room must be replaced ("upgrade", "others"); None when it is fine.
    service_room_renew: str | None = None
    # What to tell the person when they join their new service room (the same reasons).
    service_room_notice: str | None = None

    @property
    def account_status(self) -> str:
        """As in the reference: deleted, locked, activated, invited, or no_access."""
        if self.deleted_at is not None:
            return "deleted"
        if self.locked_at is not None:
            return "locked"
        if self.activated_at is not None:
            return "activated"
        if self.invited_at is not None:
            return "invited"
        return "no_access"

    @property
    def name(self) -> str:
        """What people are shown: the display name, else the Matrix id."""
        return self.display_name or self.user_id

    @classmethod
    def _from_row(cls, row: Any) -> Person | None:
        if row is None:
            return None
        return cls(
            user_id=row["user_id"],
            centre_id=row["centre_id"],
            role=row["role"],
            language=row["language"],
            service_room_id=row["service_room_id"],
            welcomed=bool(row["welcomed"]),
            created_at=row["created_at"],
            status=row["status"],
            capacity=row["capacity"],
            home_counsellor_id=row["home_counsellor_id"],
            display_name=row["display_name"],
            # Sealed at rest (appservice/contact_data.py).
            email=cls.contact.open_value(row["email"], cd.person_context(row["user_id"], "email")),
            phone=cls.contact.open_value(row["phone"], cd.person_context(row["user_id"], "phone")),
            invited_at=row["invited_at"],
            activated_at=row["activated_at"],
            locked_at=row["locked_at"],
            deleted_at=row["deleted_at"],
            description=row["description"],
            languages=row["languages"],
            topics=row["topics"],
            team_page=bool(row["team_page"]),
            crisis_contact=bool(row["crisis_contact"]),
            service_room_renew=row["service_room_renew"],
            service_room_notice=row["service_room_notice"],
        )

    @classmethod
    async def get(cls, user_id: str) -> Person | None:
        q = f"SELECT {cls._columns} FROM person WHERE user_id=$1"
        return cls._from_row(await cls.db.fetchrow(q, user_id))

    @classmethod
    async def by_service_room(cls, room_id: str) -> Person | None:
        q = f"SELECT {cls._columns} FROM person WHERE service_room_id=$1"
        return cls._from_row(await cls.db.fetchrow(q, room_id))

    @classmethod
    async def all_in_centre(
        cls, centre_id: str, roles: tuple[str, ...] | None = None
    ) -> list[Person]:
        """The centre's people, or only those in ``roles``: asking for the staff must not read
        (and open the sealed contact data of) every client of a big centre."""
        if roles is None:
            q = f"SELECT {cls._columns} FROM person WHERE centre_id=$1 ORDER BY user_id"
            return [p for p in map(cls._from_row, await cls.db.fetch(q, centre_id)) if p]
        marks = ", ".join(f"${i + 2}" for i in range(len(roles)))
        q = f"SELECT {cls._columns} FROM person WHERE centre_id=$1 AND role IN ({marks}) "
        q += "ORDER BY user_id"
        return [p for p in map(cls._from_row, await cls.db.fetch(q, centre_id, *roles)) if p]

    @classmethod
    async def find_in_centre(
        cls, centre_id: str, text: str, roles: tuple[str, ...] = ROLES
    ) -> Person | None:
        """One person of ``centre_id`` by Matrix id, localpart or display name (any case).

        Only people of that centre are ever found: this is where centres stay apart.
        """
        text = text.strip()
        if not text:
            return None
        local = text.removeprefix("@").split(":", 1)[0]
        pattern = "@" + local.replace("!", "!!").replace("%", "!%").replace("_", "!_") + ":%"
        q = (
            f"SELECT {cls._columns} FROM person WHERE centre_id=$1 AND "
            "(user_id=$2 OR lower(display_name)=lower($2) OR user_id LIKE $3 ESCAPE '!')"
        )
        rows = await cls.db.fetch(q, centre_id, text, pattern)
        people = [p for p in map(cls._from_row, rows) if p and p.role in roles]
        if not people:
            return None
        exact = [p for p in people if p.user_id == text or p.name.lower() == text.lower()]
        if exact:
            return exact[0]
        return people[0] if len(people) == 1 else None

    @classmethod
    async def clients_page(
        cls,
        centre_id: str,
        home_id: str | None,
        text: str,
        by_login: bool,
        limit: int,
        offset: int,
    ) -> tuple[list[Person], int]:
        """One page of the centre's clients and how many there are in all.

        ``home_id`` keeps a home counsellor's clients only; ``text`` is searched in the
        pseudonym and the login (any case: SQLite folds ASCII letters only, so a name with
        Ä is found by typing Ä). Sorted by name, or by the last login Lotse last read from
        Synapse (``last_seen_at``, most recent first, never seen last).
        """
        where = "centre_id=$1 AND role='client'"
        args: list[Any] = [centre_id]
        if home_id is not None:
            args.append(home_id)
            where += f" AND home_counsellor_id=${len(args)}"
        if text:
            needle = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            args += [f"%{needle.lower()}%", f"%{needle}%", f"@%{needle.lower()}%:%"]
            n = len(args)
            where += (
                f" AND (lower(display_name) LIKE ${n - 2} ESCAPE '!' OR display_name LIKE "
                f"${n - 1} ESCAPE '!' OR lower(user_id) LIKE ${n} ESCAPE '!')"
            )
        total = await cls.db.fetchval(f"SELECT COUNT(*) FROM person WHERE {where}", *args)
        order = "lower(COALESCE(display_name, user_id)), user_id"
        if by_login:
            order = f"(last_seen_at IS NULL), last_seen_at DESC, {order}"
        q = (
            f"SELECT {cls._columns} FROM person WHERE {where} ORDER BY {order} "
            f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        )
        rows = await cls.db.fetch(q, *args, limit, offset)
        return [p for p in map(cls._from_row, rows) if p], int(total or 0)

    @classmethod
    async def record_last_seen(cls, seen: dict[str, int | None]) -> None:
        """Keep the last logins just read from Synapse (``clients sort=login`` sorts by them)."""
        for user_id, at in seen.items():
            if at is not None:
                q = "UPDATE person SET last_seen_at=$2 WHERE user_id=$1"
                await cls.db.execute(q, user_id, at)

    async def set_display_name(self, name: str | None) -> bool:
        """False when another client of the centre already has this pseudonym."""
        try:
            async with savepoint(self.db) as conn:
                await conn.execute(
                    "UPDATE person SET display_name=$2 WHERE user_id=$1", self.user_id, name
                )
        except Exception as e:  # asyncpg UniqueViolationError / sqlite3.IntegrityError
            if "unique" in str(e).lower():
                return False
            raise
        self.display_name = name
        return True

    @classmethod
    async def upsert(cls, user_id: str, centre_id: str, role: str) -> Person:
        """Create the person or change their centre/role; their service room stays."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        q = (
            "INSERT INTO person (user_id, centre_id, role, created_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (user_id) DO UPDATE SET centre_id=excluded.centre_id, role=excluded.role"
        )
        await cls.db.execute(q, user_id, centre_id, role, int(time.time() * 1000))
        person = await cls.get(user_id)
        assert person is not None
        return person

    async def set_service_room(self, room_id: str | None) -> None:
        """Point the person at a new service room; the welcome is due again there."""
        await self._point_at(room_id, "welcomed=false, service_room_notice=NULL")
        self.welcomed = False
        self.service_room_notice = None

    async def move_service_room(self, room_id: str, notice: str) -> None:
        """The person's room was replaced: the new one gets ``notice``, not a second welcome."""
        await self._point_at(room_id, "service_room_notice=$3", notice)
        self.service_room_notice = notice

    async def _point_at(self, room_id: str | None, assignments: str, *args: Any) -> None:
        conn: Connection
        async with self.db.acquire() as conn, conn.transaction():
            if room_id is not None:
                await conn.execute(
                    "UPDATE person SET service_room_id=NULL WHERE service_room_id=$1", room_id
                )
            await conn.execute(
                "UPDATE person SET service_room_id=$2, service_room_renew=NULL, "
                f"{assignments} WHERE user_id=$1",
                self.user_id,
                room_id,
                *args,
            )
        self.service_room_id = room_id
        self.service_room_renew = None

    async def mark_for_renewal(self, room_id: str, reason: str) -> bool:
        """Mark ``room_id`` as to be replaced; False if it is no longer the person's room."""
        result = await self.db.execute(
            "UPDATE person SET service_room_renew=$3 WHERE user_id=$1 AND service_room_id=$2",
            self.user_id,
            room_id,
            reason,
        )
        if rows_changed(result) == 0:
            return False
        self.service_room_renew = reason
        return True

    @classmethod
    async def due_for_renewal(cls) -> list[Person]:
        """People whose service room must be replaced (deleted people are left alone)."""
        q = (
            f"SELECT {cls._columns} FROM person WHERE service_room_renew IS NOT NULL "
            "AND service_room_id IS NOT NULL AND deleted_at IS NULL ORDER BY user_id"
        )
        return [p for p in map(cls._from_row, await cls.db.fetch(q)) if p]

    async def notice_told(self, notice: str) -> None:
        """The notice about the new room was sent: it is not sent again."""
        q = "UPDATE person SET service_room_notice=NULL WHERE user_id=$1 AND service_room_notice=$2"
        await self.db.execute(q, self.user_id, notice)
        self.service_room_notice = None

    async def set_status(self, status: str) -> None:
        await self.db.execute("UPDATE person SET status=$2 WHERE user_id=$1", self.user_id, status)
        self.status = status

    async def set_capacity(self, capacity: int | None) -> None:
        q = "UPDATE person SET capacity=$2 WHERE user_id=$1"
        await self.db.execute(q, self.user_id, capacity)
        self.capacity = capacity

    async def set_home_counsellor(self, counsellor_id: str | None) -> None:
        q = "UPDATE person SET home_counsellor_id=$2 WHERE user_id=$1"
        await self.db.execute(q, self.user_id, counsellor_id)
        self.home_counsellor_id = counsellor_id

    @classmethod
    async def drop_home_counsellor(cls, counsellor_id: str) -> int:
        """A departing counsellor is nobody's home counsellor any more; how many had them."""
        result = await cls.db.execute(
            "UPDATE person SET home_counsellor_id=NULL WHERE home_counsellor_id=$1", counsellor_id
        )
        return rows_changed(result)

    _ACCOUNT_FIELDS: ClassVar[tuple[str, ...]] = (
        "email",
        "phone",
        "invited_at",
        "activated_at",
        "locked_at",
        "deleted_at",
    )
    _PROFILE_FIELDS: ClassVar[tuple[str, ...]] = (
        "display_name",
        "description",
        "languages",
        "topics",
        "team_page",
        "crisis_contact",
    )

    async def set_account(self, **values: Any) -> None:
        """Change account facts (``email``, ``phone``, the ``*_at`` times); others refused."""
        await self._update(self._ACCOUNT_FIELDS, values)

    async def set_profile(self, **values: Any) -> None:
        """Change public-profile fields; for a client's pseudonym use set_display_name."""
        await self._update(self._PROFILE_FIELDS, values)

    async def _update(self, allowed: tuple[str, ...], values: dict[str, Any]) -> None:
        unknown = set(values) - set(allowed)
        if unknown or not values:
            raise ValueError(f"not allowed here: {sorted(unknown) or 'nothing given'}")
        stored = dict(values)
        for name in ("email", "phone"):
            if name in values:
                stored[name] = self.contact.seal(
                    values[name], cd.person_context(self.user_id, name)
                )
        if "email" in values:
            stored["email_hash"] = self.contact.lookup(values["email"])
        names = list(stored)
        assignments = ", ".join(f"{name}=${i + 2}" for i, name in enumerate(names))
        q = f"UPDATE person SET {assignments} WHERE user_id=$1"
        await self.db.execute(q, self.user_id, *(stored[n] for n in names))
        for name in values:
            setattr(self, name, values[name])

    async def delete(self) -> None:
        """Remove the row (a client whose creation failed half-way)."""
        await self.db.execute("DELETE FROM person WHERE user_id=$1", self.user_id)

    async def mark_welcomed(self) -> bool:
        """Mark the welcome as sent; False if it already was (so it goes out only once)."""
        result = await self.db.execute(
            "UPDATE person SET welcomed=true WHERE user_id=$1 AND welcomed=false", self.user_id
        )
        self.welcomed = True
        return rows_changed(result) > 0


@asynccontextmanager
async def savepoint(db: Database) -> AsyncIterator[Connection]:
    """A statement whose failure the caller expects (a unique violation) in its own nested
    transaction: inside a command's transaction (appservice/once.py) PostgreSQL would
    otherwise refuse every later statement of the command."""
    conn: Connection
    async with db.acquire() as conn, conn.transaction():
        yield conn
