"""Booking through real E2EE clients against real Synapse.

A counsellor sets up a service and booking times (bad input answered, nothing changed), two
clients see the same numbered slots, one books, the other is told it is taken, the
counsellor is told in their service room and by a content-free mail, confirms, and the client
is told both ways. A counsellor of another centre cannot touch the service.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from icalendar import Calendar

from appservice import clock
from appservice.app import LotseApp
from appservice.dev.client import Human, Seen, ask
from bots.booking.feed import initials
from bots.booking.shell import jobs as booking_jobs
from tests.conftest import MailSink, MakeHuman
from tests.mail_helpers import give_confirmed_address, mails_to, readable, wait_for_mails
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

DAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


def _number(text: str) -> str:
    match = re.search(r"Nr\. (\d+)", text)
    assert match, text
    return match.group(1)


async def test_client_books_counsellor_confirms_both_told(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("terminberatung", centre="nord", role="counsellor")
    client = await make_human("terminklient", centre="nord", role="client")
    rival = await make_human("terminrivale", centre="nord", role="client")
    outsider = await make_human("terminsued", centre="south", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (counsellor, client, rival, outsider)}
    c_room, k_room, r_room = (rooms[h.user_id] for h in (counsellor, client, rival))
    _, c_address = await give_confirmed_address(running.mail_rows, counsellor)
    _, k_address = await give_confirmed_address(running.mail_rows, client)

    # Bad input: a clear answer, and nothing is stored.
    services_before = len(await running.rows.BookingService.of_centre("nord"))
    fax = await ask(counsellor, c_room, bot, "service new Erstgespräch duration=30 channel=fax")
    assert "Kanal" in fax.body and "nichts geändert" in fax.body
    no_duration = await ask(counsellor, c_room, bot, "service new Erstgespräch channel=chat")
    assert "Dauer" in no_duration.body
    assert len(await running.rows.BookingService.of_centre("nord")) == services_before

    created = await ask(
        counsellor,
        c_room,
        bot,
        'service new Erstgespräch duration=30 channel=chat description="Kennenlernen"',
    )
    sid = _number(created.body)
    day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=2)
    weekday = DAYS[day.weekday()]
    for text, expected in (
        (f"hours add {weekday} 12:00 9:00 {sid}", "nicht nach dem Anfang"),
        (f"hours add {weekday} 9:00 12:00 {sid} weeks=3", "1, 2, 4 oder 8"),
        (f"hours add {weekday} 9:00 12:00 999999", "gibt es nicht"),
    ):
        refused = await ask(counsellor, c_room, bot, text)
        assert expected in refused.body and "nichts geändert" in refused.body, refused.body
    assert await running.rows.BookingWindowRow.of_counsellor(counsellor.user_id) == []
    added = await ask(counsellor, c_room, bot, f"hours add {weekday} 9:00 12:00 {sid} weeks=1")
    assert "angelegt" in added.body
    overlap = await ask(counsellor, c_room, bot, f"hours add {weekday} 10:00 11:00 {sid}")
    assert "überschneidet" in overlap.body
    assert len(await running.rows.BookingWindowRow.of_counsellor(counsellor.user_id)) == 1
    foreign = await ask(outsider, rooms[outsider.user_id], bot, f"service edit {sid} duration=45")
    assert "Your centre has no service" in foreign.body  # south speaks English

    # Both clients see the same first slot (09:00 on that day).
    shown = await ask(client, k_room, bot, "termine")
    first = f"1. {DAYS[day.weekday()]} {day:%d.%m.%Y} 09:00 Uhr"
    assert first in shown.body and "6." in shown.body and "7." not in shown.body, shown.body
    assert "Erstgespräch" not in shown.body  # the internal title is for staff only
    rival_shown = await ask(rival, r_room, bot, "termine")
    assert first in rival_shown.body
    first_poll = await rival.wait_until(
        lambda: (rival.polls(r_room, bot) or [None])[0], what="the first slots poll"
    )
    old_answers = first_poll.content["org.matrix.msc3381.poll.start"]["answers"]
    assert len(old_answers) == 6 and "09:00" in old_answers[0]["org.matrix.msc1767.text"]
    unknown = await ask(client, k_room, bot, "buchen 99")
    assert "nicht angeboten" in unknown.body

    # `buchen 1` holds the slot (hidden from the rival) and asks to send the request; the
    # counsellor hears of it only once it is sent.
    before = len(counsellor.notices(c_room, bot))
    booked = await ask(client, k_room, bot, "buchen 1")
    assert "reserviert" in booked.body and "absenden" in booked.body, booked.body
    appointment_id = _number(booked.body)
    taken = await ask(rival, r_room, bot, "buchen 1")
    assert "schon vergeben" in taken.body
    held = await running.rows.Appointment.get(int(appointment_id))
    assert held is not None and held.state == "held" and held.held_until is not None
    # Booked: the client's slots poll is closed and the numbers shown are spent.
    client_poll = client.polls(k_room, bot)[-1]
    await client.wait_until(
        lambda: next(
            (
                e
                for e in client.polls(k_room, bot, "poll_end")
                if e.reply_to == client_poll.event_id
            ),
            None,
        ),
        what="the end of the slots poll",
    )
    assert "nicht angeboten" in (await ask(client, k_room, bot, "buchen 2")).body
    foreign_send = await ask(rival, r_room, bot, f"absenden {appointment_id}")
    assert "gibt es bei Ihnen nicht" in foreign_send.body
    await ask(counsellor, c_room, bot, "hours")  # a marker: nothing was told before it
    assert not any("Terminanfrage" in n.body for n in counsellor.notices(c_room, bot)[before:])
    sent = await ask(client, k_room, bot, f"absenden {appointment_id}")
    assert "angefragt" in sent.body, sent.body
    twice_sent = await ask(client, k_room, bot, f"absenden {appointment_id}")
    assert "nicht (mehr) für Sie reserviert" in twice_sent.body
    told = await counsellor.next_notice(c_room, bot, before, contains="Terminanfrage")
    assert f"confirm {appointment_id}" in told.body and "terminklient" in told.body.lower()
    [request_mail] = await wait_for_mails(mail_sink, c_address)
    assert "terminklient" not in readable(request_mail).lower()
    assert "09:00" not in readable(request_mail)

    # The slot is gone for everyone else.
    again = await ask(rival, r_room, bot, "termine")
    assert first not in again.body

    before = len(client.notices(k_room, bot))
    confirmed = await ask(counsellor, c_room, bot, f"confirm {appointment_id}")
    assert "bestätigt" in confirmed.body
    told_client = await client.next_notice(k_room, bot, before, contains="bestätigt")
    assert f"Nr. {appointment_id}" in told_client.body
    [decided_mail] = await wait_for_mails(mail_sink, k_address)
    assert "09:00" not in readable(decided_mail)
    twice = await ask(counsellor, c_room, bot, f"confirm {appointment_id}")
    assert "wartet nicht auf eine Entscheidung" in twice.body
    foreign_confirm = await ask(outsider, rooms[outsider.user_id], bot, f"confirm {appointment_id}")
    assert "You have no appointment" in foreign_confirm.body
    row = await running.rows.Appointment.get(int(appointment_id))
    assert row is not None and row.state == "confirmed" and row.client == client.user_id
    listed = await ask(client, k_room, bot, "meine-termine")
    assert "bestätigt" in listed.body and f"Nr. {appointment_id}" in listed.body
    assert isinstance(day, date)

    # The rival books the next slot by voting in the poll beside the list (a vote on the
    # first, older poll counts no more); the counsellor declines it with a reason.
    old_poll = rival.polls(r_room, bot)[0]
    polls_before = len(rival.polls(r_room, bot))
    await ask(rival, r_room, bot, "termine")
    poll = await rival.wait_until(
        lambda: (rival.polls(r_room, bot)[polls_before:] or [None])[0], what="the slots poll"
    )
    answers = poll.content["org.matrix.msc3381.poll.start"]["answers"]
    assert "09:30" in answers[0]["org.matrix.msc1767.text"]
    stale = await _vote(rival, r_room, bot, old_poll.event_id, old_answers[0]["id"])
    assert "nicht angeboten" in stale.body
    before = len(rival.notices(r_room, bot))
    voted = await _vote(rival, r_room, bot, poll.event_id, answers[0]["id"])
    assert "reserviert" in voted.body, voted.body
    second = _number(voted.body)
    assert "angefragt" in (await ask(rival, r_room, bot, f"absenden {second}")).body
    declined = await ask(counsellor, c_room, bot, f"decline {second} Fortbildung")
    assert "abgelehnt" in declined.body
    told_rival = await rival.next_notice(r_room, bot, before, contains="abgelehnt")
    assert "Fortbildung" in told_rival.body

    # Reminders: persisted jobs, sent once, none for the declined appointment.
    services = running.assistant.services
    start = row.starts_at
    before = len(client.notices(k_room, bot))
    rival_before = len(rival.notices(r_room, bot))
    assert await booking_jobs.run(services, now=start - 23 * 3600_000) == 1  # the 24 h one
    reminded = await client.next_notice(k_room, bot, before, contains="Erinnerung")
    assert f"Nr. {appointment_id}" in reminded.body and "09:00" in reminded.body
    reminder_mail = await _mail_with(mail_sink, k_address, "Erinnerung an Ihren Termin")
    assert "09:00" not in readable(reminder_mail)
    await counsellor.next_notice(c_room, bot, 0, contains="Erinnerung")
    assert await booking_jobs.run(services, now=start - 23 * 3600_000) == 0
    assert await booking_jobs.run(services, now=start - 30 * 60_000) == 1  # the 1 h one
    assert await booking_jobs.run(services, now=start - 10 * 60_000) == 0
    marker = await ask(rival, r_room, bot, "meine-termine")
    assert not any("Erinnerung" in n.body for n in rival.notices(r_room, bot)[rival_before:])
    assert "abgelehnt" in marker.body or "keine" in marker.body

    # A confirmed appointment cancelled by the client sends no reminder; the counsellor needs
    # a reason to cancel.
    await ask(client, k_room, bot, "termine")
    third = _number((await ask(client, k_room, bot, "buchen 1")).body)
    await ask(client, k_room, bot, f"absenden {third}")
    await ask(counsellor, c_room, bot, f"confirm {third}")
    no_reason = await ask(counsellor, c_room, bot, f"absagen {third}")
    assert "Grund" in no_reason.body
    before = len(counsellor.notices(c_room, bot))
    cancelled = await ask(client, k_room, bot, f"absagen {third}")
    assert "abgesagt" in cancelled.body
    await counsellor.next_notice(c_room, bot, before, contains=f"Termin Nr. {third}")
    cancel_mail = await _mail_with(mail_sink, c_address, "Ein Termin wurde abgesagt")
    assert "terminklient" not in readable(cancel_mail).lower()
    assert "09:" not in readable(cancel_mail) and f"Nr. {third}" not in readable(cancel_mail)
    third_row = await running.rows.Appointment.get(int(third))
    assert third_row is not None and third_row.state == "cancelled"
    assert await booking_jobs.run(services, now=third_row.starts_at - 10 * 60_000) == 0
    again_cancelled = await ask(client, k_room, bot, f"absagen {third}")
    assert "schon entschieden" in again_cancelled.body

    # calendar day|week|month: the confirmed appointment with the client's pseudonym, free
    # slots in the day view; bad words and another centre's counsellor are refused.
    table = await ask(counsellor, c_room, bot, f"calendar day {day:%d.%m.%Y}")
    assert "09:00–09:30" in table.body and "bestätigt" in table.body, table.body
    assert f"Nr. {appointment_id}" in table.body and "terminklient" in table.body.lower()
    assert "frei" in table.body  # 10:00 onwards is still free
    month = await ask(counsellor, c_room, bot, f"kalender month {day:%d.%m.%Y} all")
    assert f"Nr. {appointment_id}" in month.body and "frei" not in month.body
    bad = await ask(counsellor, c_room, bot, "calendar gestern week")
    assert "verstehe ich nicht" in bad.body
    foreign_calendar = await ask(counsellor, c_room, bot, f"calendar week {outsider.user_id}")
    assert "keine Beraterin" in foreign_calendar.body

    # The counsellor's calendar: a secret URL, valid iCalendar, no client name; revocable.
    shown_link = await ask(counsellor, c_room, bot, "ical")
    url = _calendar_url(shown_link.body)
    same = _calendar_url((await ask(counsellor, c_room, bot, "ical")).body)
    assert same == url
    status, body = await _get(url)
    assert status == 200
    calendar = Calendar.from_ical(body)
    events = {str(c["UID"]).split("@")[0]: c for c in calendar.walk("VEVENT")}
    assert set(events) == {f"appointment-{n}" for n in (appointment_id, second, third)}
    event = events[f"appointment-{appointment_id}"]
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(events[f"appointment-{second}"]["STATUS"]) == "CANCELLED"  # declined
    starts = event.decoded("DTSTART").astimezone(ZoneInfo("Europe/Berlin"))
    assert (starts.date(), starts.hour, starts.minute) == (day, 9, 0)
    assert "terminklient" not in body.decode().lower()
    assert str(event["SUMMARY"]) == "Erstgespräch"  # initials are off by default
    # The centre setting ical_initials adds the pseudonym's initials, still no name.
    pseudonym = (await running.rows.Person.get(client.user_id)).name  # type: ignore[union-attr]
    await running.rows.CentreSettingRow.set("nord", "ical_initials", "ja", "@t:x")
    try:
        with_initials = Calendar.from_ical((await _get(url))[1])
    finally:
        await running.rows.CentreSettingRow.db.execute(
            "DELETE FROM centre_setting WHERE centre_id='nord' AND key='ical_initials'"
        )
    titled = {str(c["UID"]).split("@")[0]: str(c["SUMMARY"]) for c in with_initials.walk("VEVENT")}
    assert titled[f"appointment-{appointment_id}"] == f"Erstgespräch · {initials(pseudonym)}"
    assert initials(pseudonym) and pseudonym.lower() not in with_initials.to_ical().decode().lower()
    renewed = _calendar_url((await ask(counsellor, c_room, bot, "ical new")).body)
    assert renewed != url
    assert (await _get(url))[0] == 404
    assert (await _get(renewed))[0] == 200
    assert (await _get(url.replace(".ics", "x.ics")))[0] == 404


async def _vote(human: Human, room: str, bot: str, poll: str, answer: str) -> Seen:
    """Vote as Element does and return the assistant's answer (a reply to the poll)."""
    before = len(human.notices(room, bot))
    await human.vote(room, poll, answer)
    return await human.wait_until(
        lambda: next((s for s in human.notices(room, bot)[before:] if s.reply_to == poll), None),
        what=f"the answer to the vote {answer}",
    )


async def _mail_with(sink: MailSink, address: str, subject: str) -> EmailMessage:
    """The first mail to ``address`` whose subject holds ``subject`` (waits for it)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        found = [m for m in mails_to(sink, address) if subject in str(m["Subject"])]
        if found:
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, f"no mail {subject!r} to {address}"
        await asyncio.sleep(0.1)


def _calendar_url(text: str) -> str:
    match = re.search(r"https?://\S+/calendar/[A-Za-z0-9_-]+\.ics", text)
    assert match, text
    return match.group(0)


async def _get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.read()


async def test_clients_racing_through_synapse_get_one_booking(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Four clients type `buchen 1` for the same slot at once: one request, three "taken"."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("rennberatung", centre="nord", role="counsellor")
    clients = [await make_human(f"renner{n}", centre="nord", role="client") for n in range(4)]
    c_room = await _service_room(counsellor, bot)
    rooms = [await _service_room(c, bot) for c in clients]
    created = await ask(counsellor, c_room, bot, "service new Rennen duration=45 channel=video")
    sid = _number(created.body)
    day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=3)
    await ask(counsellor, c_room, bot, f"hours add {DAYS[day.weekday()]} 7:00 7:45 {sid} weeks=1")
    for client, room in zip(clients, rooms, strict=True):
        shown = await ask(client, room, bot, f"termine {sid}")  # only this service's slots
        assert "1. " in shown.body and "07:00" in shown.body and "2. " not in shown.body
    answers = await asyncio.gather(
        *(ask(c, r, bot, "buchen 1") for c, r in zip(clients, rooms, strict=True))
    )
    won = [a for a in answers if "reserviert" in a.body]
    assert len(won) == 1, [a.body for a in answers]
    assert sum("schon vergeben" in a.body for a in answers) == 3
    rows = await running.rows.Appointment.of_person(counsellor.user_id, 0)
    assert len(rows) == 1 and rows[0].state == "held"


async def test_lapsed_hold_frees_the_slot_and_is_never_sent(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A hold not sent in time: the slot is offered again, the late `absenden` is refused
    (nothing changes), and another client gets the slot."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("halteberatung", centre="nord", role="counsellor")
    slow = await make_human("halteslow", centre="nord", role="client")
    quick = await make_human("haltequick", centre="nord", role="client")
    c_room = await _service_room(counsellor, bot)
    s_room, q_room = await _service_room(slow, bot), await _service_room(quick, bot)
    sid = _number((await ask(counsellor, c_room, bot, "service new Halten duration=60")).body)
    day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=5)
    await ask(counsellor, c_room, bot, f"hours add {DAYS[day.weekday()]} 8:00 9:00 {sid} weeks=1")
    assert "08:00" in (await ask(slow, s_room, bot, f"termine {sid}")).body
    hold = _number((await ask(slow, s_room, bot, "buchen 1")).body)
    assert "kein Termin frei" in (await ask(quick, q_room, bot, f"termine {sid}")).body
    # Ten minutes pass: the hold's end is moved into the past as the clock would.
    await running.rows.Appointment.db.execute(
        "UPDATE appointment SET held_until=held_until - 3600000 WHERE id=$1", int(hold)
    )
    assert "08:00" in (await ask(quick, q_room, bot, f"termine {sid}")).body
    late = await ask(slow, s_room, bot, f"absenden {hold}")
    assert "abgelaufen" in late.body and "nichts geändert" in late.body, late.body
    row = await running.rows.Appointment.get(int(hold))
    assert row is not None and row.state == "held"
    assert "reserviert" in (await ask(quick, q_room, bot, "buchen 1")).body
    lapsed = await running.rows.Appointment.get(int(hold))
    assert lapsed is not None and lapsed.state == "cancelled"
    assert "nicht (mehr)" in (await ask(slow, s_room, bot, f"absenden {hold}")).body


async def test_group_appointment_places_go_once(make_human: MakeHuman, running: LotseApp) -> None:
    """A bookable group appointment with two places: two clients join, the third hears it is
    full, nobody joins twice; bad input changes nothing; its time is no free slot."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("gruppenberatung", centre="nord", role="counsellor")
    clients = [await make_human(f"gruppe{n}", centre="nord", role="client") for n in range(3)]
    c_room = await _service_room(counsellor, bot)
    rooms = [await _service_room(c, bot) for c in clients]
    day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=4)
    date_text = f"{day:%d.%m.%Y}"
    for text, expected in (
        (f"groupappointment new {date_text} 19:00 18:00 Elternabend max=2", "nicht nach"),
        (f"groupappointment new {date_text} 18:00 19:00 Elternabend max=0", "Plätze"),
        (f"groupappointment new {date_text} 18:00 19:00 Elternabend max=2 channel=fax", "Kanal"),
    ):
        refused = await ask(counsellor, c_room, bot, text)
        assert expected in refused.body and "nichts geändert" in refused.body, refused.body
    assert "keine Gruppentermine" in (await ask(counsellor, c_room, bot, "gruppentermine")).body
    created = await ask(
        counsellor,
        c_room,
        bot,
        f"groupappointment new {date_text} 18:00 19:00 Elternabend max=2 bookable=ja",
    )
    gid = _number(created.body)
    listed = await ask(clients[0], rooms[0], bot, "gruppentermine")
    assert f"Nr. {gid}" in listed.body and "noch 2 von 2" in listed.body
    before = len(counsellor.notices(c_room, bot))
    first = await ask(clients[0], rooms[0], bot, f"join {gid}")
    assert "dabei" in first.body
    await counsellor.next_notice(c_room, bot, before, contains="nimmt am Gruppentermin")
    twice = await ask(clients[0], rooms[0], bot, f"teilnehmen {gid}")
    assert "schon dabei" in twice.body
    answers = await asyncio.gather(
        *(ask(c, r, bot, f"join {gid}") for c, r in zip(clients[1:], rooms[1:], strict=True))
    )
    assert sorted("dabei" in a.body for a in answers) == [False, True], [a.body for a in answers]
    assert any("voll" in a.body for a in answers)
    assert len(await running.rows.GroupAppointmentRow.participants(int(gid))) == 2
    unknown = await ask(clients[0], rooms[0], bot, "join 999999")
    assert "gibt es nicht" in unknown.body
    # Leaving: only one's own place; the counsellor is told; the place is free again.
    joined = [
        c
        for c, r in zip(clients, rooms, strict=True)
        if c.user_id in await running.rows.GroupAppointmentRow.participants(int(gid))
    ]
    outside = next(c for c in clients if c not in joined)
    out_room = rooms[clients.index(outside)]
    not_in = await ask(outside, out_room, bot, f"leave {gid}")
    assert "nicht angemeldet" in not_in.body, not_in.body
    assert "gibt es nicht" in (await ask(outside, out_room, bot, "verlassen 999999")).body
    assert len(await running.rows.GroupAppointmentRow.participants(int(gid))) == 2
    before = len(counsellor.notices(c_room, bot))
    left = await ask(clients[0], rooms[0], bot, f"verlassen {gid}")
    assert "abgemeldet" in left.body, left.body
    told = await counsellor.next_notice(c_room, bot, before, contains="abgemeldet")
    assert f"Nr. {gid}" in told.body
    assert clients[0].user_id not in await running.rows.GroupAppointmentRow.participants(int(gid))
    twice_left = await ask(clients[0], rooms[0], bot, f"leave {gid}")
    assert "nicht angemeldet" in twice_left.body
    refill = await ask(outside, out_room, bot, f"join {gid}")
    assert "dabei" in refill.body, refill.body
    # The counsellor's group time is no bookable slot.
    service = _number((await ask(counsellor, c_room, bot, "service new Abend duration=30")).body)
    await ask(
        counsellor, c_room, bot, f"hours add {DAYS[day.weekday()]} 17:00 20:00 {service} weeks=1"
    )
    slots = await ask(clients[2], rooms[2], bot, f"termine {service}")
    assert "17:30" in slots.body and "18:00" not in slots.body and "19:00" in slots.body

    # A single appointment without booking times: refused over the group, confirmed otherwise.
    target = clients[2]
    unknown_client = await ask(
        counsellor, c_room, bot, f"appointment new niemand {date_text} 10:00 {service}"
    )
    assert "finde keine" in unknown_client.body
    over_group = await ask(
        counsellor, c_room, bot, f"appointment new {target.user_id} {date_text} 18:30 {service}"
    )
    assert "schon einen Termin" in over_group.body
    before = len(target.notices(rooms[2], bot))
    single = await ask(
        counsellor, c_room, bot, f"appointment new {target.user_id} {date_text} 17:00 {service}"
    )
    assert "bestätigt" in single.body, single.body
    told = await target.next_notice(rooms[2], bot, before, contains="bestätigt")
    assert "17:00" in told.body
    again = await ask(clients[0], rooms[0], bot, f"termine {service}")
    assert "17:00" not in again.body and "17:30" in again.body

    # The group appointment is in the counsellor's calendar table and iCalendar feed.
    table = await ask(counsellor, c_room, bot, f"calendar day {date_text}")
    assert "Elternabend" in table.body and "18:00" in table.body, table.body
    url = _calendar_url((await ask(counsellor, c_room, bot, "ical")).body)
    status, body = await _get(url)
    assert status == 200
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(body).walk("VEVENT")]
    assert any("Elternabend" in summary for summary in summaries), summaries


async def test_blocker_keeps_time_free_and_is_listed(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """`block` hides the slots inside it (and refuses a time already booked), the calendar
    lists it with its number, `unblock` frees the time; bad input changes nothing."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("blockberatung", centre="nord", role="counsellor")
    colleague = await make_human("blockkollegin", centre="nord", role="counsellor")
    client = await make_human("blockklient", centre="nord", role="client")
    c_room, o_room = await _service_room(counsellor, bot), await _service_room(colleague, bot)
    k_room = await _service_room(client, bot)
    sid = _number((await ask(counsellor, c_room, bot, "service new Block duration=30")).body)
    day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=6)
    text = f"{day:%d.%m.%Y}"
    await ask(counsellor, c_room, bot, f"hours add {DAYS[day.weekday()]} 9:00 11:00 {sid} weeks=1")
    yesterday = f"{day - timedelta(days=8):%d.%m.%Y}"
    for typed, expected in (
        (f"block {text} 11:00 10:00", "nicht nach dem Anfang"),
        (f"block {text} 10:00 elf", "keine Uhrzeiten"),
        (f"block {yesterday} 10:00 11:00", "Vergangenheit"),
        (f"block {text} 10:00 11:00 {'x' * 81}", "zu lang"),
    ):
        refused = await ask(counsellor, c_room, bot, typed)
        assert expected in refused.body and "nichts geändert" in refused.body, refused.body
    assert "gibt es nicht" in (await ask(counsellor, c_room, bot, "unblock 999999")).body
    assert await running.rows.BookingBlocker.of_centre("nord", 0, 2**62) == []

    made = await ask(counsellor, c_room, bot, f"blocker add {text} 9:30 10:30 Teamsitzung")
    assert "angelegt" in made.body, made.body
    bid = _number(made.body)
    shown = await ask(client, k_room, bot, f"termine {sid}")
    assert "09:00" in shown.body and "10:30" in shown.body, shown.body
    assert "09:30" not in shown.body and "10:00" not in shown.body
    table = await ask(counsellor, c_room, bot, f"calendar day {text}")
    assert "09:30–10:30" in table.body and "Teamsitzung" in table.body, table.body
    assert f"Nr. {bid}" in table.body

    # A held slot is taken time: a blocker over it is refused and nothing is stored.
    held = _number((await ask(client, k_room, bot, "buchen 1")).body)  # 09:00
    over = await ask(counsellor, c_room, bot, f"block {text} 8:45 9:15")
    assert "schon einen Termin oder einen Blocker" in over.body
    assert (
        "schon einen Termin"
        in (await ask(counsellor, c_room, bot, f"block {text} 10:00 11:00")).body
    )
    assert len(await running.rows.BookingBlocker.of_centre("nord", 0, 2**62)) == 1
    assert "abgesagt" in (await ask(client, k_room, bot, f"absagen {held}")).body

    foreign = await ask(colleague, o_room, bot, f"unblock {bid}")
    assert "gibt es nicht" in foreign.body
    freed = await ask(counsellor, c_room, bot, f"unblock {bid}")
    assert "aufgehoben" in freed.body
    again = await ask(client, k_room, bot, f"termine {sid}")
    assert "09:30" in again.body and "10:00" in again.body


async def test_group_appointment_participants_reminders_cancel(
    make_human: MakeHuman, running: LotseApp, mail_sink: MailSink
) -> None:
    """Staff add a client and a whole group (all or nothing, within the places), the added
    are told in their rooms and by a content-free mail; reminders and the video link reach
    whoever takes part; cancelling tells every participant and stops the jobs."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("gtberatung", centre="nord", role="counsellor")
    colleague = await make_human("gtkollegin", centre="nord", role="counsellor")
    single = await make_human("gtklient0", centre="nord", role="client")
    member = await make_human("gtklient1", centre="nord", role="client")
    other = await make_human("gtklient2", centre="nord", role="client")
    c_room, o_room = await _service_room(counsellor, bot), await _service_room(colleague, bot)
    rooms = {h.user_id: await _service_room(h, bot) for h in (single, member, other)}
    _, m_address = await give_confirmed_address(running.mail_rows, member)
    found = await running.rows.ClientGroup.create("nord", "Gtgruppe", "", counsellor.user_id)
    assert found is not None
    for who in (member, other):
        await found.add_member(who.user_id)
    await running.rows.CentreSettingRow.set(
        "nord", "video_base_url", "https://meet.example.org", "@t:x"
    )
    await running.rows.CentreSettingRow.set("nord", "video_link_minutes", "90", "@t:x")
    try:
        day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=3)
        text = f"{day:%d.%m.%Y}"
        created = await ask(
            counsellor,
            c_room,
            bot,
            f"groupappointment new {text} 10:00 11:00 Gtabend max=3 channel=video",
        )
        gid = _number(created.body)
        row = await running.rows.GroupAppointmentRow.get(int(gid))
        assert row is not None and row.video_url is not None
        assert re.fullmatch(r"https://meet\.example\.org/[0-9a-f]{32}", row.video_url)
        small = _number(
            (
                await ask(
                    counsellor, c_room, bot, f"groupappointment new {text} 12:00 13:00 Klein max=1"
                )
            ).body
        )

        # Bad input: a clear answer, nobody added.
        for who, room, typed, expected in (
            (counsellor, c_room, "groupappointment add 999999 gtklient0", "gibt es nicht"),
            (counsellor, c_room, f"groupappointment add {gid} niemand", "finde keine"),
            (counsellor, c_room, f"groupappointment add {gid} group:keine", "finde keine"),
            (colleague, o_room, f"groupappointment add {gid} {single.user_id}", "gibt es nicht"),
            (counsellor, c_room, f"groupappointment add {small} group:Gtgruppe", "nicht mehr frei"),
        ):
            refused = await ask(who, room, bot, typed)
            assert expected in refused.body, refused.body
        assert await running.rows.GroupAppointmentRow.participants(int(gid)) == []
        assert await running.rows.GroupAppointmentRow.participants(int(small)) == []

        before = len(single.notices(rooms[single.user_id], bot))
        added = await ask(counsellor, c_room, bot, f"groupappointment add {gid} {single.user_id}")
        assert "eingetragen" in added.body, added.body
        told = await single.next_notice(rooms[single.user_id], bot, before, contains="eingetragen")
        assert "Gtabend" in told.body and f"Nr. {gid}" in told.body
        again = await ask(counsellor, c_room, bot, f"groupappointment add {gid} {single.user_id}")
        assert "schon dabei" in again.body
        whole = await ask(counsellor, c_room, bot, f"groupappointment add {gid} group:Gtgruppe")
        assert "eingetragen" in whole.body and "gtklient1" in whole.body.lower(), whole.body
        members = {single.user_id, member.user_id, other.user_id}
        assert set(await running.rows.GroupAppointmentRow.participants(int(gid))) == members
        [invited] = await wait_for_mails(mail_sink, m_address)
        assert "Gtabend" not in readable(invited) and "10:00" not in readable(invited)

        # The 24 h reminder, then the video link (90 minutes before here), to all four.
        services = running.assistant.services
        start = row.starts_at
        before = {h.user_id: len(h.notices(rooms[h.user_id], bot)) for h in (single, member)}
        assert await booking_jobs.run(services, now=start - 23 * 3600_000) >= 1
        for human in (single, member):
            reminded = await human.next_notice(
                rooms[human.user_id], bot, before[human.user_id], contains="Erinnerung"
            )
            assert f"Gruppentermin Nr. {gid}" in reminded.body
        await counsellor.next_notice(c_room, bot, 0, contains=f"Gruppentermin Nr. {gid}")
        reminder_mail = (await wait_for_mails(mail_sink, m_address, 2))[1]
        assert "Gtabend" not in readable(reminder_mail)
        assert await booking_jobs.run(services, now=start - 75 * 60_000) >= 1
        link = await other.next_notice(rooms[other.user_id], bot, 0, contains="Videoberatung")
        assert row.video_url in link.body

        # Cancelling: a reason is needed; every participant is told; no job runs after.
        assert (
            "Grund" in (await ask(counsellor, c_room, bot, f"groupappointment cancel {gid}")).body
        )
        foreign = await ask(colleague, o_room, bot, f"groupappointment cancel {gid} weg")
        assert "gibt es nicht" in foreign.body
        before = len(member.notices(rooms[member.user_id], bot))
        cancelled = await ask(counsellor, c_room, bot, f"groupappointment cancel {gid} Krankheit")
        assert "abgesagt" in cancelled.body and "3 Teilnehmende" in cancelled.body, cancelled.body
        told = await member.next_notice(rooms[member.user_id], bot, before, contains="abgesagt")
        assert "Krankheit" in told.body
        cancel_mail = (await wait_for_mails(mail_sink, m_address, 3))[2]
        assert "Krankheit" not in readable(cancel_mail)
        twice = await ask(counsellor, c_room, bot, f"groupappointment cancel {gid} Krankheit")
        assert "ist abgesagt" in twice.body
        assert await booking_jobs.run(services, now=start - 30 * 60_000) == 0
        listed = await ask(single, rooms[single.user_id], bot, "gruppentermine")
        assert f"Nr. {gid}" not in listed.body
    finally:
        await running.rows.CentreSettingRow.db.execute(
            "DELETE FROM centre_setting WHERE centre_id='nord' "
            "AND key IN ('video_base_url', 'video_link_minutes')"
        )


async def test_counsellors_own_video_link_replaces_jitsi(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """`videolink set` stores a checked https link (bad input changes nothing); that
    counsellor's new video appointments, single and group, carry it instead of a Jitsi
    room; a colleague's do not; `videolink clear` brings the Jitsi room back."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("vlberatung", centre="nord", role="counsellor")
    colleague = await make_human("vlkollege", centre="nord", role="counsellor")
    client = await make_human("vlklient", centre="nord", role="client")
    c_room, o_room = await _service_room(counsellor, bot), await _service_room(colleague, bot)
    own = "https://zoom.example.com/j/4711"
    await running.rows.CentreSettingRow.set(
        "nord", "video_base_url", "https://meet.example.org", "@t:x"
    )
    try:
        for bad in ("http://zoom.example.com/j/1", "https://user:pw@zoom.example.com/"):
            refused = await ask(counsellor, c_room, bot, f"videolink set {bad}")
            assert "nichts geändert" in refused.body, refused.body
        assert await running.rows.CounsellorVideoLink.of(counsellor.user_id) is None
        assert "keine eigene" in (await ask(counsellor, c_room, bot, "videolink")).body
        stored = await ask(counsellor, c_room, bot, f"videolink set {own}")
        assert own in stored.body
        assert own in (await ask(counsellor, c_room, bot, "videolink")).body

        day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=5)
        text = f"{day:%d.%m.%Y}"
        jitsi = r"https://meet\.example\.org/[0-9a-f]{32}"

        async def single(who: Human, room: str, clock_time: str) -> str | None:
            sid = _number(
                (await ask(who, room, bot, "service new Video duration=30 channel=video")).body
            )
            made = await ask(
                who, room, bot, f"appointment new {client.user_id} {text} {clock_time} {sid}"
            )
            row = await running.rows.Appointment.get(int(_number(made.body)))
            assert row is not None
            return row.video_url

        assert await single(counsellor, c_room, "09:00") == own
        theirs = await single(colleague, o_room, "09:00")
        assert theirs is not None and re.fullmatch(jitsi, theirs)
        group = await ask(
            counsellor,
            c_room,
            bot,
            f"groupappointment new {text} 14:00 15:00 Vlabend max=3 channel=video",
        )
        group_row = await running.rows.GroupAppointmentRow.get(int(_number(group.body)))
        assert group_row is not None and group_row.video_url == own

        cleared = await ask(counsellor, c_room, bot, "videolink clear")
        assert "gelöscht" in cleared.body
        assert await running.rows.CounsellorVideoLink.of(counsellor.user_id) is None
        after = await single(counsellor, c_room, "11:00")
        assert after is not None and re.fullmatch(jitsi, after)
    finally:
        await running.rows.CentreSettingRow.db.execute(
            "DELETE FROM centre_setting WHERE centre_id='nord' AND key='video_base_url'"
        )


@pytest.mark.parametrize(
    ("sunday", "shown", "pick", "utc"),
    [
        # 02:00 CET jumps to 03:00 CEST: the night window has two real hours.
        ("2027-03-28", ["01:00 Uhr", "01:30 Uhr", "03:00 Uhr", "03:30 Uhr"], 3, "01:00"),
        # 03:00 CEST falls back to 02:00 CET: 02:00–03:00 happens twice, told apart by zone.
        (
            "2027-10-31",
            [
                "01:00 Uhr",
                "01:30 Uhr",
                "02:00 Uhr (CEST)",
                "02:30 Uhr (CEST)",
                "02:00 Uhr (CET)",
                "02:30 Uhr (CET)",
                "03:00 Uhr",
                "03:30 Uhr",
            ],
            5,
            "01:00",
        ),
    ],
)
async def test_slots_around_the_summer_time_switches(
    make_human: MakeHuman, running: LotseApp, sunday: str, shown: list[str], pick: int, utc: str
) -> None:
    """Through the wiring (rows, the centre's zone from config, the text a client reads): on
    the last Sundays of March and October a night window's slots follow the local clock, and
    the one booked is stored at the right UTC instant. Lotse's clock is moved to the
    Wednesday before (the horizon is at most eight weeks)."""
    bot = running.cfg.assistant_mxid
    tag = sunday[5:7]
    counsellor = await make_human(f"nachtberatung{tag}", centre="nord", role="counsellor")
    client = await make_human(f"nachtklient{tag}", centre="nord", role="client")
    c_room, k_room = await _service_room(counsellor, bot), await _service_room(client, bot)
    sid = _number((await ask(counsellor, c_room, bot, "service new Nacht duration=30")).body)
    await ask(counsellor, c_room, bot, f"hours add So 1:00 4:00 {sid} weeks=1")
    day = date.fromisoformat(sunday)
    berlin = ZoneInfo("Europe/Berlin")
    wednesday = datetime.combine(day - timedelta(days=4), time(12), berlin)
    clock.advance(int(wednesday.timestamp() * 1000) - clock.now_ms())
    try:
        listed = await ask(client, k_room, bot, f"termine {sid}")
        found = re.findall(
            rf"^(\d+)\. So {day:%d\.%m\.%Y} (\d\d:\d\d Uhr(?: \(\w+\))?),", listed.body, re.M
        )
        assert [n for n, _ in found] == [str(n) for n in range(1, len(shown) + 1)], listed.body
        assert [when for _, when in found] == shown
        held = await ask(client, k_room, bot, f"buchen {pick}")
        assert shown[pick - 1] in held.body, held.body
        row = await running.rows.Appointment.get(int(_number(held.body)))
        assert row is not None
        stored = datetime.fromtimestamp(row.starts_at / 1000, UTC)
        assert stored == datetime.fromisoformat(f"{sunday}T{utc}+00:00")
        assert row.ends_at - row.starts_at == 30 * 60_000
    finally:
        clock.reset()
