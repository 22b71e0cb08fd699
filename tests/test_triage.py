"""Triage questions and centre settings through real E2EE clients (issue 4).

Centre ``west`` of the test stack has two topics; its admin adds a language and turns on
automatic assignment, so a request is matched on topic and language.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from appservice.dev.client import ask
from tests.conftest import Lotse, MakeHuman
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse


async def test_settings_all_or_nothing_and_centre_scoped(
    make_human: MakeHuman, lotse: Lotse
) -> None:
    """Admins see and change settings; one bad key changes nothing; others' staff are refused."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    admin = await make_human("westadmin", centre="west", role="admin")
    counsellor = await make_human("westfallback", centre="west", role="counsellor")
    stranger = await make_human("southcounsellor", centre="south", role="counsellor")
    room = await _service_room(admin, bot)
    counsellor_room = await _service_room(counsellor, bot)

    shown = await ask(admin, room, bot, "einstellungen")
    assert "`overdue_hours` = 48" in shown.body and "`languages` = de" in shown.body

    changed = await ask(admin, room, bot, "einstellungen languages=de,tr overdue_hours=24")
    assert "Gespeichert" in changed.body and "`languages` = de,tr" in changed.body

    for bad, expected in (
        ("einstellungen overdue_hours=0 languages=en", "overdue_hours=0"),
        ("einstellungen colour=blue", "Einstellung `colour` gibt es nicht"),
        ("einstellungen automatic_assignment=vielleicht", "on|off"),
        (f"einstellungen fallback_counsellor={stranger.user_id}", "keine Beraterin"),
        ("einstellungen fallback_counsellor=niemand", "keine Beraterin"),
    ):
        reply = await ask(admin, room, bot, bad)
        assert expected in reply.body and "Nichts wurde geändert" in reply.body, reply.body
    settings = await app.assistant.services.settings("west")
    assert settings.languages == ("de", "tr") and settings.overdue_hours == 24

    localpart = counsellor.user_id[1:].split(":")[0]
    reply = await ask(admin, room, bot, f"einstellungen fallback_counsellor={localpart}")
    assert counsellor.user_id in reply.body
    assert (await app.assistant.services.settings("west")).fallback_counsellor == (
        counsellor.user_id
    )
    audited = await app.rows.AuditEntry.recent("west", 10)
    assert {("settings", "fallback_counsellor", counsellor.user_id)} <= {
        (e.action, e.target, e.detail) for e in audited
    }
    assert not [e for e in audited if e.target == "colour"]

    # Only admins: a counsellor is told so, and nothing changes.
    denied = await ask(counsellor, counsellor_room, bot, "einstellungen overdue_hours=2")
    assert "admin" in denied.body.lower()
    assert (await app.assistant.services.settings("west")).overdue_hours == 24
    await ask(admin, room, bot, "einstellungen fallback_counsellor=- languages=de overdue_hours=48")


async def test_triage_asks_topic_language_channel_then_matches(
    make_human: MakeHuman, lotse: Lotse
) -> None:
    """Numbered questions, one at a time, survive a restart; the answers drive the matching."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    admin = await make_human("westchef", centre="west", role="admin")
    turkish = await make_human("tuerkisch", centre="west", role="counsellor")
    family = await make_human("familie", centre="west", role="counsellor")
    client = await make_human("westklient", centre="west", role="client")
    admin_room = await _service_room(admin, bot)
    room = await _service_room(client, bot)
    for person, languages, topics in ((turkish, "tr,de", "addiction"), (family, "de", "family")):
        row = await app.rows.Person.get(person.user_id)
        assert row is not None
        await row.set_profile(languages=languages, topics=topics)
    await ask(admin, admin_room, bot, "einstellungen automatic_assignment=on languages=de,tr")
    try:
        topic = await ask(client, room, bot, "anfrage")
        assert "Worum geht es?" in topic.body
        assert "1. Familie" in topic.body and "2. Sucht" in topic.body

        out_of_range = await ask(client, room, bot, "7")
        assert "Zahl von 1 bis 2" in out_of_range.body and "Worum geht es?" in out_of_range.body
        assert await app.rows.CounsellingRequest.open_for_client(client.user_id) is None

        language = await ask(client, room, bot, "Sucht")
        assert "1. Deutsch" in language.body and "2. Türkisch" in language.body
        dialogue = await app.rows.TriageDialogue.get(client.user_id)
        assert dialogue is not None and dialogue.topic == "addiction"

        # The dialogue is in the database: a restart continues with the same question.
        app = await lotse.restart()
        help_reply = await ask(client, room, bot, "hilfe")  # commands still work meanwhile
        assert "anfrage" in help_reply.body
        channel = await ask(client, room, bot, "2")
        assert "Wie möchten Sie schreiben?" in channel.body
        done = await ask(client, room, bot, "2")
        request = await app.rows.CounsellingRequest.open_for_client(client.user_id)
        assert request is not None and f"Nr. {request.id}" in done.body
        assert (request.topic, request.language, request.channel) == ("addiction", "tr", "async")
        assert request.counsellor_id == turkish.user_id and request.status == "assigned"
        assert await app.rows.TriageDialogue.get(client.user_id) is None
        assert await turkish.join_invite() == request.room_id
    finally:
        await ask(admin, admin_room, bot, "einstellungen automatic_assignment=off languages=de")


async def test_cancel_and_repeat(make_human: MakeHuman, lotse: Lotse) -> None:
    """`abbrechen` ends triage without a request; `anfrage` meanwhile repeats the question."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    client = await make_human("abbrecher", centre="west", role="client")
    room = await _service_room(client, bot)
    first = await ask(client, room, bot, "anfrage")
    assert "Worum geht es?" in first.body
    again = await ask(client, room, bot, "anfrage")
    assert "noch bei den Fragen" in again.body and "Worum geht es?" in again.body
    sentence = await ask(client, room, bot, "ich weiss nicht was ich nehmen soll")
    assert "Zahl von 1 bis 2" in sentence.body
    cancelled = await ask(client, room, bot, "abbrechen")
    assert "keine Anfrage" in cancelled.body
    assert await app.rows.TriageDialogue.get(client.user_id) is None
    assert await app.rows.CounsellingRequest.open_for_client(client.user_id) is None
    # With no dialogue, a lone number is just an unknown command again.
    stray = await ask(client, room, bot, "1")
    assert await app.rows.CounsellingRequest.open_for_client(client.user_id) is None
    assert "hilfe" in stray.body

    # A dialogue left for more than a day is forgotten.
    await ask(client, room, bot, "anfrage")
    two_days_ago = int(time.time() * 1000) - 2 * 24 * 3600 * 1000
    await app.rows.TriageDialogue.db.execute(
        "UPDATE triage_dialogue SET started_at=$2 WHERE client_id=$1", client.user_id, two_days_ago
    )
    forgotten = await ask(client, room, bot, "1")
    assert "hilfe" in forgotten.body and await app.rows.TriageDialogue.get(client.user_id) is None


async def test_two_answers_at_once_move_one_step(make_human: MakeHuman, lotse: Lotse) -> None:
    """Answers racing each other: the dialogue advances once, not twice."""
    client_id = "@race-triage:lotse.test"
    assert await lotse.app.rows.TriageDialogue.start(client_id, "west", "topic")
    assert not await lotse.app.rows.TriageDialogue.start(client_id, "west", "topic")
    a, b = (
        await lotse.app.rows.TriageDialogue.get(client_id),
        await lotse.app.rows.TriageDialogue.get(client_id),
    )
    assert a is not None and b is not None
    results = await asyncio.gather(
        a.answer("topic", "family", "language"), b.answer("topic", "addiction", "language")
    )
    assert sorted(results) == [False, True]
    assert await lotse.app.rows.TriageDialogue.finish(client_id)
    assert not await lotse.app.rows.TriageDialogue.finish(client_id)


async def test_crisis_contact_and_fallback_from_the_settings(
    make_human: MakeHuman, lotse: Lotse
) -> None:
    """Crisis contacts get new clients directly; a request nobody matches goes to the fallback."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    admin = await make_human("westleitung", centre="west", role="admin")
    crisis = await make_human("krisendienst", centre="west", role="counsellor")
    fallback = await make_human("auffang", centre="west", role="counsellor")
    first = await make_human("krise", centre="west", role="client")
    second = await make_human("persisch", centre="west", role="client")
    admin_room = await _service_room(admin, bot)
    crisis_row = await app.rows.Person.get(crisis.user_id)
    assert crisis_row is not None
    await crisis_row.set_profile(crisis_contact=True)
    try:
        room = await _service_room(first, bot)
        await ask(first, room, bot, "anfrage")
        await ask(first, room, bot, "1")
        done = await ask(first, room, bot, "1")
        request = await app.rows.CounsellingRequest.open_for_client(first.user_id)
        assert request is not None and request.counsellor_id == crisis.user_id
        assert crisis.user_id in done.body
        client_row = await app.rows.Person.get(first.user_id)
        assert client_row is not None and client_row.home_counsellor_id == crisis.user_id
    finally:
        await crisis_row.set_profile(crisis_contact=False)

    fallback_login = fallback.user_id[1:].split(":")[0]
    await ask(
        admin,
        admin_room,
        bot,
        "einstellungen automatic_assignment=on languages=de,fa "
        f"fallback_counsellor={fallback_login}",
    )
    try:
        room = await _service_room(second, bot)
        await ask(second, room, bot, "anfrage")
        await ask(second, room, bot, "2")  # Sucht
        language = await ask(second, room, bot, "2")  # Persisch: nobody lists it
        assert "Wie möchten Sie schreiben?" in language.body
        await ask(second, room, bot, "Nachricht")
        request = await app.rows.CounsellingRequest.open_for_client(second.user_id)
        assert request is not None and request.language == "fa"
        assert request.counsellor_id == fallback.user_id
    finally:
        await ask(
            admin,
            admin_room,
            bot,
            "einstellungen automatic_assignment=off languages=de fallback_counsellor=-",
        )
