"""Booking rows on SQLite and PostgreSQL: the database decides races for slots.

200 clients race for 20 slots: exactly 20 appointments, every other attempt is told
"taken" (None) and wrote nothing; overlapping parallel slots and lapsed holds follow the
same rule; a service of one centre is invisible to another.
"""

from __future__ import annotations

import asyncio
import random

from appservice.db.scrub import scrub
from tests.conftest import opened

MIN = 60_000
T0 = 1_900_000_000_000  # some time in 2030


def _booking(counsellor: str, client: str, start: int, minutes: int = 30, **kw: object) -> dict:
    base: dict = dict(
        centre_id="nord",
        counsellor=counsellor,
        client=client,
        service_id=None,
        title="Beratung",
        channel="chat",
        starts_at=start,
        ends_at=start + minutes * MIN,
        busy_until=start + minutes * MIN,
        state="requested",
        held_until=None,
        video_url=None,
        now=T0 - 60 * MIN,
    )
    base.update(kw)
    return base


def _group(counsellor: str, start: int, minutes: int, *, places: int) -> dict:
    """A bookable group appointment's fields, created an hour before T0."""
    return dict(
        centre_id="nord",
        counsellor=counsellor,
        title="Gruppe",
        remarks="",
        channel="chat",
        starts_at=start,
        ends_at=start + minutes * MIN,
        busy_until=start + minutes * MIN,
        max_participants=places,
        bookable=True,
        now=T0 - 60 * MIN,
    )


async def test_200_clients_race_for_20_slots(database_url: str) -> None:
    """Exactly one appointment per slot; the 180 others get None and leave no row."""
    async with opened(database_url) as db:
        # Two counsellors, ten slots each, every slot wanted by ten clients.
        slots = [(f"@c{c}:x", T0 + i * 30 * MIN) for c in range(2) for i in range(10)]
        attempts = [(who, start, f"@client{n}:x") for n in range(10) for who, start in slots]
        random.Random(7).shuffle(attempts)
        results = await asyncio.gather(
            *(
                db.rows.Appointment.reserve(**_booking(who, client, start))
                for who, start, client in attempts
            )
        )
        won = [r for r in results if r is not None]
        assert len(won) == 20 and len(set(won)) == 20
        assert results.count(None) == 180
        rows = await db.main.fetch("SELECT counsellor, starts_at FROM appointment")
        assert sorted((r["counsellor"], r["starts_at"]) for r in rows) == sorted(slots)


async def test_overlapping_parallel_slots_and_lapsed_holds(database_url: str) -> None:
    """A slot overlapping a booked one (another window's grid) is taken; a lapsed hold frees."""
    async with opened(database_url) as db:
        first = await db.rows.Appointment.reserve(**_booking("@c:x", "@a:x", T0, 45))
        assert first is not None
        # Starts inside the first (other start time: the unique index alone would not see it).
        assert await db.rows.Appointment.reserve(**_booking("@c:x", "@b:x", T0 + 30 * MIN)) is None
        # Follow-up time counts: busy until T0 + 60.
        held = await db.rows.Appointment.reserve(
            **_booking("@c:x", "@b:x", T0 + 60 * MIN, state="held", held_until=T0 - 50 * MIN)
        )
        assert held is not None
        assert await db.rows.Appointment.reserve(**_booking("@d:x", "@b:x", T0)) is not None
        # The hold lapsed at T0 - 50 min: at T0 - 40 min somebody else gets the time.
        later = _booking("@c:x", "@e:x", T0 + 60 * MIN, now=T0 - 40 * MIN)
        assert await db.rows.Appointment.reserve(**later) is not None
        lapsed = await db.rows.Appointment.get(held)
        assert lapsed is not None and lapsed.state == "cancelled"
        # A declined appointment frees its time; a second confirm changes nothing.
        assert await db.rows.Appointment.change_state(
            first, ("requested",), "declined", T0 - 30 * MIN
        )
        assert not await db.rows.Appointment.change_state(first, ("requested",), "confirmed", T0)
        assert await db.rows.Appointment.reserve(**_booking("@c:x", "@f:x", T0)) is not None


async def test_a_hold_is_sent_only_by_its_client_before_it_lapses(database_url: str) -> None:
    """`absenden`: held → requested once, by its client, before held_until; never after a
    lapse, even when nobody took the time meanwhile."""
    async with opened(database_url) as db:
        now = T0 - 60 * MIN
        hold = _booking("@c:x", "@a:x", T0, state="held", held_until=now + 10 * MIN)
        held = await db.rows.Appointment.reserve(**hold)
        assert held is not None
        assert not await db.rows.Appointment.send_hold(held, "@b:x", now + MIN)  # not theirs
        assert await db.rows.Appointment.send_hold(held, "@a:x", now + MIN)
        assert not await db.rows.Appointment.send_hold(held, "@a:x", now + 2 * MIN)  # sent already
        row = await db.rows.Appointment.get(held)
        assert row is not None and row.state == "requested" and row.held_until is None
        late = _booking("@d:x", "@a:x", T0, state="held", held_until=now + 10 * MIN)
        lapsing = await db.rows.Appointment.reserve(**late)
        assert lapsing is not None
        assert not await db.rows.Appointment.send_hold(lapsing, "@a:x", now + 10 * MIN)
        row = await db.rows.Appointment.get(lapsing)
        assert row is not None and row.state == "held"
        # A new hold frees the client's other holds (not their requests, not others' holds).
        other = _booking("@e:x", "@b:x", T0, state="held", held_until=now + 10 * MIN)
        others = await db.rows.Appointment.reserve(**other)
        newer = _booking("@f:x", "@a:x", T0, state="held", held_until=now + 10 * MIN)
        kept = await db.rows.Appointment.reserve(**newer)
        assert kept is not None and others is not None
        assert await db.rows.Appointment.release_other_holds("@a:x", kept, now) == 1
        states = {
            i: (await db.rows.Appointment.get(i)).state for i in (held, lapsing, kept, others)
        }  # type: ignore[union-attr]
        assert states == {held: "requested", lapsing: "cancelled", kept: "held", others: "held"}


async def test_blockers_and_bookings_exclude_each_other(database_url: str) -> None:
    """No booking into a blocker, no blocker over a booking (also racing); only the owner
    removes a blocker, and then the time is bookable again."""
    async with opened(database_url) as db:
        now = T0 - 60 * MIN
        bid = await db.rows.BookingBlocker.add("nord", "@c:x", T0, T0 + 60 * MIN, "Team", now)
        assert bid is not None
        assert await db.rows.Appointment.reserve(**_booking("@c:x", "@a:x", T0 + 45 * MIN)) is None
        assert (
            await db.rows.Appointment.reserve(**_booking("@c:x", "@a:x", T0 - 30 * MIN)) is not None
        )
        assert await db.rows.BookingBlocker.add("nord", "@c:x", T0 - 10 * MIN, T0, "", now) is None
        assert (
            await db.rows.BookingBlocker.add("nord", "@c:x", T0 + 30 * MIN, T0 + 90 * MIN, "", now)
            is None
        )
        assert (
            await db.rows.BookingBlocker.add("nord", "@d:x", T0, T0 + 60 * MIN, "", now) is not None
        )
        # A blocker and a booking of the same time at once: exactly one wins.
        start = T0 + 120 * MIN
        outcomes = await asyncio.gather(
            db.rows.BookingBlocker.add("nord", "@c:x", start, start + 30 * MIN, "", now),
            db.rows.Appointment.reserve(**_booking("@c:x", "@b:x", start)),
        )
        assert sum(o is not None for o in outcomes) == 1
        assert [b.id for b in await db.rows.BookingBlocker.of_centre("nord", T0, T0 + MIN)][
            0
        ] == bid
        assert await db.rows.BookingBlocker.of_centre("sued", 0, 2**62) == []
        assert not await db.rows.BookingBlocker.delete(bid, "@d:x")
        assert await db.rows.BookingBlocker.delete(bid, "@c:x")
        assert (
            await db.rows.Appointment.reserve(**_booking("@c:x", "@a:x", T0 + 15 * MIN)) is not None
        )


async def test_services_windows_feeds_notices(database_url: str) -> None:
    """Services are per centre; deleting one drops its windows; feeds and notices are unique."""
    async with opened(database_url) as db:
        sid = await db.rows.BookingService.add(
            "nord",
            "@c:x",
            title="Erstgespräch",
            duration_min=30,
            follow_up_min=10,
            channel="chat",
            topic=None,
            description="",
            now=T0,
        )
        assert await db.rows.BookingService.get(sid, "sued") is None
        assert [s.id for s in await db.rows.BookingService.of_centre("nord")] == [sid]
        wid = await db.rows.BookingWindowRow.add("@c:x", 0, 9 * 60, 12 * 60, sid, 4, T0)
        assert [w.id for w in await db.rows.BookingWindowRow.of_centre("nord")] == [wid]
        assert await db.rows.BookingWindowRow.of_centre("sued") == []
        assert not await db.rows.BookingWindowRow.delete(wid, "@other:x")
        assert await db.rows.BookingService.delete(sid, "nord", T0)
        assert await db.rows.BookingWindowRow.of_counsellor("@c:x") == []
        assert await db.rows.BookingService.of_centre("nord") == []

        await db.rows.CalendarFeed.replace("@c:x", "old", T0)
        await db.rows.CalendarFeed.replace("@c:x", "new", T0)
        assert await db.rows.CalendarFeed.counsellor_of("old") is None
        assert await db.rows.CalendarFeed.counsellor_of("new") == "@c:x"

        job = ("reminder:appointment:1:9:60", "reminder", "appointment", 1, T0, T0 - 60 * MIN)
        await db.rows.BookingJob.plan([job, job])
        await db.rows.BookingJob.plan([job])
        assert await db.rows.BookingJob.due(T0 - 61 * MIN) == []
        assert await db.rows.BookingJob.due(T0) == [job]
        results = await asyncio.gather(*(db.rows.BookingJob.claim(job[0], T0) for _ in range(20)))
        assert results.count(True) == 1
        assert await db.rows.BookingJob.due(T0) == []


async def test_race_for_overlapping_parallel_slots(database_url: str) -> None:
    """100 clients pick two overlapping slots of different windows at once: one wins."""
    async with opened(database_url) as db:
        tries = [
            _booking("@c:x", f"@k{n}:x", T0 + (n % 2) * 30 * MIN, 45 if n % 2 == 0 else 30)
            for n in range(100)
        ]
        results = await asyncio.gather(*(db.rows.Appointment.reserve(**t) for t in tries))
        assert len([r for r in results if r is not None]) == 1
        assert await db.main.fetchval("SELECT COUNT(*) FROM appointment") == 1


async def test_erasure_leaves_no_booking_row_naming_the_person(database_url: str) -> None:
    """A client's appointments, offers and jobs go; a counsellor's stay under the reference."""
    async with opened(database_url) as db:
        sid = await db.rows.BookingService.add(
            "nord",
            "@c:x",
            title="t",
            duration_min=30,
            follow_up_min=0,
            channel="chat",
            topic=None,
            description="",
            now=T0,
        )
        await db.rows.BookingWindowRow.add("@c:x", 0, 9 * 60, 12 * 60, sid, 4, T0)
        kept = await db.rows.Appointment.reserve(**_booking("@c:x", "@other:x", T0 + 60 * MIN))
        gone = await db.rows.Appointment.reserve(**_booking("@c:x", "@k:x", T0))
        assert kept is not None and gone is not None
        await db.rows.BookingOffer.replace("@k:x", ["@c:x|1|1|1"], T0)
        await db.rows.BookingJob.plan(
            [(f"reminder:appointment:{gone}:1:1", "reminder", "appointment", gone, T0, T0)]
        )
        await db.rows.CalendarFeed.replace("@c:x", "tok", T0)
        async with db.main.acquire() as conn, conn.transaction():
            await scrub(conn, db.main.scheme, "@k:x", "erased:1")
            await scrub(conn, db.main.scheme, "@c:x", "erased:2")
        for table in (
            "appointment",
            "booking_offer",
            "booking_job",
            "booking_window",
            "booking_lock",
            "calendar_feed",
            "booking_service",
        ):
            rows = await db.main.fetch(f"SELECT * FROM {table}")
            text = " ".join(str(v) for r in rows for v in dict(r).values())
            assert "@k:x" not in text and "@c:x" not in text, (table, text)
        left = await db.rows.Appointment.get(kept)
        assert left is not None and left.counsellor == "erased:2"


async def test_race_for_the_last_places_of_a_group_appointment(database_url: str) -> None:
    """50 clients race for a group appointment's last 3 places: exactly 3 join, nobody twice,
    and the counsellor's time is taken for single bookings."""
    async with opened(database_url) as db:
        gid = await db.rows.GroupAppointmentRow.create(**_group("@g:x", T0, 90, places=5))
        assert gid is not None
        for early in ("@early1:x", "@early2:x"):
            assert await db.rows.GroupAppointmentRow.join(gid, early, T0 - 50 * MIN) == "joined"
        assert await db.rows.GroupAppointmentRow.join(gid, "@early1:x", T0 - 50 * MIN) == "already"
        results = await asyncio.gather(
            *(
                db.rows.GroupAppointmentRow.join(gid, f"@late{n}:x", T0 - 40 * MIN)
                for n in range(50)
            )
        )
        assert results.count("joined") == 3 and results.count("full") == 47
        assert len(await db.rows.GroupAppointmentRow.participants(gid)) == 5
        row = await db.rows.GroupAppointmentRow.get(gid)
        assert row is not None and row.places_taken == 5
        assert await db.rows.GroupAppointmentRow.join(gid, "@late0:x", T0 + MIN) == "closed"
        # The group's time is the counsellor's: a single booking over it is refused, and a
        # second group appointment over a booked appointment too.
        assert await db.rows.Appointment.reserve(**_booking("@g:x", "@k:x", T0 + 30 * MIN)) is None
        assert (
            await db.rows.Appointment.reserve(**_booking("@g:x", "@k:x", T0 + 120 * MIN))
            is not None
        )
        clash = await db.rows.GroupAppointmentRow.create(
            **_group("@g:x", T0 + 100 * MIN, 30, places=5)
        )
        assert clash is None


async def test_staff_adding_and_clients_joining_never_overfill(database_url: str) -> None:
    """Staff add participants all or nothing; racing with clients who join, the places hold."""
    async with opened(database_url) as db:
        now = T0 - 60 * MIN
        gid = await db.rows.GroupAppointmentRow.create(**_group("@h:x", T0, 60, places=4))
        assert gid is not None
        assert await db.rows.GroupAppointmentRow.add_participants(gid, ["@a:x"], now) == ["@a:x"]
        # Already there: skipped; four new ones do not fit in the three left: nobody added.
        assert await db.rows.GroupAppointmentRow.add_participants(gid, ["@a:x"], now) == []
        many = ["@b:x", "@c:x", "@d:x", "@e:x"]
        assert await db.rows.GroupAppointmentRow.add_participants(gid, many, now) == []
        assert await db.rows.GroupAppointmentRow.participants(gid) == ["@a:x"]
        # Two places left, staff add two while three clients join at once.
        outcomes = await asyncio.gather(
            db.rows.GroupAppointmentRow.add_participants(gid, ["@b:x", "@c:x"], now),
            *(db.rows.GroupAppointmentRow.join(gid, f"@j{n}:x", now) for n in range(3)),
        )
        people = await db.rows.GroupAppointmentRow.participants(gid)
        assert len(people) == 4, (outcomes, people)
        row = await db.rows.GroupAppointmentRow.get(gid)
        assert row is not None and row.places_taken == 4
        assert await db.rows.GroupAppointmentRow.cancel(gid, now)
        assert await db.rows.GroupAppointmentRow.add_participants(gid, ["@z:x"], now) == []
