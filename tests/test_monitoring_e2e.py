"""Monitoring through real E2EE clients against real Synapse (issue 11): the guided dialogue
(also across a restart), the one-line form, list/show/edit/delete with the access rule,
the CSV export and the chart, each decrypted by the test client."""

from __future__ import annotations

import csv
import io
import re
import struct
from typing import Any

import pytest
from nio import MatrixRoom, MemoryDownloadResponse, RoomEncryptedFile, RoomEncryptedImage
from nio.crypto.attachments import decrypt_attachment

from appservice.app import LotseApp
from appservice.clock import now_ms
from appservice.dev.client import Human, ask
from mailgateway.rows import MailRows
from tests.conftest import Lotse, MakeHuman
from tests.test_notes import make_client
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse


async def _client_id(rows: MailRows, pseudonym: str) -> str:
    person = await rows.Person.find_in_centre("nord", pseudonym, roles=("client",))
    assert person is not None
    return person.user_id


async def _raw(app: LotseApp, table: str) -> str:
    """Every value of every row of ``table``, as one text: what a database dump shows."""
    rows = await app.db.main.fetch(f"SELECT * FROM {table}")
    return " ".join(str(row[k]) for row in rows for k in row.keys())


def watch(human: Human) -> list[Any]:
    """Encrypted files and images the person's client receives from now on."""
    seen: list[Any] = []

    async def on_media(room: MatrixRoom, event: Any) -> None:
        seen.append(event)

    for kind in (RoomEncryptedFile, RoomEncryptedImage):
        human.client.add_event_callback(on_media, kind)  # type: ignore[arg-type]
    return seen


async def _received(human: Human, seen: list[Any], bot: str, after: int) -> tuple[Any, bytes]:
    """The next file or image from the bot, downloaded and decrypted."""
    event = await human.wait_until(
        lambda: next((e for e in seen[after:] if e.sender == bot), None), 30, "a file"
    )
    download = await human.client.download(mxc=event.url)
    assert isinstance(download, MemoryDownloadResponse), download
    data = decrypt_attachment(download.body, event.key["k"], event.hashes["sha256"], event.iv)
    return event, data


async def test_dialogue_one_question_at_a_time_survives_a_restart(
    make_human: MakeHuman, lotse: Lotse
) -> None:
    """Asked field by field; a bad answer asks again; `zurück` goes back; the half-filled
    form (sealed in the database) survives a restart; `abbrechen` saves nothing."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    _, anna = await make_client(app.mail_rows, make_human)
    counsellor = await make_human("monidialog", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)

    first = await ask(counsellor, room, bot, f"monitoring new {anna}")
    assert "Neues Monitoring für " + anna in first.body
    assert "1/6 Datum des Kontakts" in first.body and "Vorschlag" in first.body
    step = await ask(counsellor, room, bot, "weiter")
    assert "2/6 Beratungsdauer (Min.)" in step.body
    step = await ask(counsellor, room, bot, "viel")
    assert "2/6 Beratungsdauer" in step.body and "als Zahl" in step.body  # asked again
    step = await ask(counsellor, room, bot, "45")
    assert "3/6 Betreff" in step.body
    step = await ask(counsellor, room, bot, "Erstgespräch Familie")
    assert "4/6 Kanal" in step.body and "2. Nachricht/Mail" in step.body
    step = await ask(counsellor, room, bot, "zurück")
    assert "3/6 Betreff" in step.body and "Erstgespräch Familie" in step.body

    stored = await _raw(app, "monitoring_dialogue")
    assert counsellor.user_id in stored and "Erstgespräch" not in stored  # sealed at rest
    app = await lotse.restart()

    step = await ask(counsellor, room, bot, "weiter")
    assert "4/6 Kanal" in step.body  # where it was, the typed subject kept
    step = await ask(counsellor, room, bot, "2")
    assert "5/6 Anzahl Personen" in step.body
    step = await ask(counsellor, room, bot, "weiter")
    assert "6/6 Folgetermin vereinbart" in step.body
    saved = await ask(counsellor, room, bot, "ja")
    assert "gespeichert" in saved.body, saved.body
    assert await app.rows.MonitoringDialogue.get(counsellor.user_id) is None
    (row,) = await app.rows.Monitoring.find("nord", counsellor.user_id)
    assert row.client_id == await _client_id(app.mail_rows, anna) and f"Nr. {row.id}" in saved.body
    shown = await ask(counsellor, room, bot, f"monitoring show {row.id}")
    for text in ("Erstgespräch Familie", "45", "Nachricht/Mail", "ja", anna):
        assert text in shown.body, (text, shown.body)
    assert "Erstgespräch" not in await _raw(app, "monitoring")

    # Cancelled half-way: nothing is saved, and the next words are commands again.
    again = await ask(counsellor, room, bot, f"monitoring neu {anna}")
    assert "1/6" in again.body
    await ask(counsellor, room, bot, "gestern")
    cancelled = await ask(counsellor, room, bot, "abbrechen")
    assert "nichts gespeichert" in cancelled.body
    assert len(await app.rows.Monitoring.find("nord", counsellor.user_id)) == 1
    assert await app.rows.MonitoringDialogue.get(counsellor.user_id) is None
    listing = await ask(counsellor, room, bot, "monitorings")
    assert f"Nr. {row.id}" in listing.body


async def test_one_line_access_rule_edit_delete(make_human: MakeHuman, running: LotseApp) -> None:
    """key=value on one line; bad input names the field and saves nothing; counsellors see
    their own, the admin the centre's, another centre nothing; edit and delete are audited."""
    bot = running.cfg.assistant_mxid
    _, anna = await make_client(running.mail_rows, make_human)
    author = await make_human("monizeile", centre="nord", role="counsellor")
    colleague = await make_human("monikollege", centre="nord", role="counsellor")
    admin = await make_human("moniadmin", centre="nord", role="admin")
    outsider = await make_human("monisouth", centre="south", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (author, colleague, admin, outsider)}

    async def say(human: Human, text: str) -> str:
        return (await ask(human, rooms[human.user_id], bot, text)).body

    client_id = await _client_id(running.mail_rows, anna)
    before = await _raw(running, "monitoring")
    bad = await say(author, f"monitoring new {anna} dauer=viel datum=01.01.2099 farbe=rot")
    assert "Beratungsdauer" in bad and "Zukunft" in bad and "farbe" in bad
    assert "Betreff (Monitoring)" in bad and "Pflicht" in bad  # the missing required field
    assert "nichts" in bad and await _raw(running, "monitoring") == before

    saved = await say(
        author,
        f'monitoring new {anna} dauer=30 betreff="Kurz am Telefon" datum=01.02.2026 kanal=telefon',
    )
    assert "gespeichert" in saved, saved
    (mine,) = await running.rows.Monitoring.find("nord", author.user_id)
    saved = await say(
        colleague, f"monitoring new {anna} duration=60 subject=Zweitgespräch date=03.02.2026"
    )
    (theirs,) = await running.rows.Monitoring.find("nord", colleague.user_id)

    own = await say(author, "monitorings")
    assert f"Nr. {mine.id}" in own and f"Nr. {theirs.id}" not in own
    assert f"Nr. {mine.id}" in await say(author, f"monitorings {anna} 2.2026")
    assert "keine" in await say(author, f"monitorings {anna} 2020 2020")
    last_year = await say(author, f"monitoring new {anna} dauer=10 betreff=Alt datum=15.12.2025")
    assert "gespeichert" in last_year
    assert "15.12.2025" in await say(author, f"monitorings {anna}")  # a client: every date
    assert "15.12.2025" not in await say(author, f"monitorings {anna} 2026")
    for command in (
        f"monitoring show {mine.id}",
        f"monitoring edit {mine.id} dauer=5",
        f"monitoring delete {mine.id}",
    ):
        assert "gibt es für Sie nicht" in await say(colleague, command)
        assert "no monitoring" in await say(outsider, command)
    assert "no client" in await say(outsider, f"monitorings {anna}")
    _, bob = await make_client(running.mail_rows, make_human, centre="south")
    english = await say(outsider, f"monitoring new {bob} duration=20 subject=Hello")
    assert "Monitoring no." in english and "saved" in english
    english = await say(outsider, "statistics")
    assert "Monitoring statistics" in english and "your own monitorings" in english
    assert "In total: 1 contact, 1 person, 20 minutes." in english
    centre_stats = await say(admin, "statistik 2020 2026")
    assert author.user_id in centre_stats and outsider.user_id not in centre_stats
    # Anonymous chats are counted for the centre (only counts stay of them), not in one's own.
    before = _anonymous_counts(centre_stats)
    assert "Anonyme Chats" not in await say(author, "statistik 2020 2026")
    now = now_ms()
    assert await running.rows.LiveChatCount.take("nord", now, 1000)
    chat = await running.rows.TopicChat.create(
        "nord", author.user_id, "Prüfungsangst", "", now - 7_200_000, now - 3_600_000, now
    )
    assert await chat.join("@anon-x:lotse.test", now - 7_000_000)
    await chat.mark_closed(now - 3_600_000)
    after = _anonymous_counts(await say(admin, "statistik 2020 2026"))
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)
    centre = await say(admin, f"monitoring {anna}")
    assert centre.index(f"Nr. {theirs.id}") < centre.index(f"Nr. {mine.id}")  # newest first
    assert "Kurz am Telefon" in await say(admin, f"monitoring show {mine.id}")

    refused = await say(author, f"monitoring edit {mine.id} dauer=0 personen=zwei")
    assert "Beratungsdauer" in refused and "Anzahl Personen" in refused
    unchanged = await running.rows.Monitoring.get(mine.id, "nord", None)
    assert unchanged is not None and unchanged.sealed_values == mine.sealed_values
    edited = await say(author, f"monitoring edit {mine.id} dauer=40 personen=2 kanal=leer")
    assert f"Nr. {mine.id} geändert" in edited
    shown = await say(author, f"monitoring show {mine.id}")
    assert "(`duration`): 40" in shown and "(`channel`): –" in shown
    assert "Kurz am Telefon" in shown

    assert f"Nr. {theirs.id} gelöscht" in await say(admin, f"monitoring delete {theirs.id}")
    assert await running.rows.Monitoring.get(theirs.id, "nord", None) is None
    audit = await running.db.main.fetch(
        "SELECT action, actor_id, detail FROM audit_log WHERE target=$1 ORDER BY id", client_id
    )
    actions = [(r["action"], r["actor_id"]) for r in audit]
    assert ("monitoring.new", author.user_id) in actions
    assert ("monitoring.edit", author.user_id) in actions
    assert ("monitoring.delete", admin.user_id) in actions
    assert "Kurz" not in " ".join(r["detail"] for r in audit)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_export_csv_and_statistics_chart(make_human: MakeHuman, running: LotseApp) -> None:
    """The export is an encrypted CSV (BOM, `;`) with the asker's monitorings (the admin's:
    the centre's); the statistics come as text and as an encrypted PNG of the chart's size."""
    bot = running.cfg.assistant_mxid
    _, anna = await make_client(running.mail_rows, make_human)
    _, bert = await make_client(running.mail_rows, make_human)
    counsellor = await make_human("moniexport", centre="nord", role="counsellor")
    other = await make_human("moniexport2", centre="nord", role="counsellor")
    admin = await make_human("moniexportadmin", centre="nord", role="admin")
    rooms = {h.user_id: await _service_room(h, bot) for h in (counsellor, other, admin)}

    async def say(human: Human, text: str) -> str:
        return (await ask(human, rooms[human.user_id], bot, text)).body

    for line in (
        f'{anna} dauer=45 betreff="=Erstgespräch; Ümläute" datum=02.03.2026 kanal=chat personen=2',
        f"{bert} dauer=30 betreff=Folge datum=05.03.2026 kanal=video folgetermin=ja",
    ):
        assert "gespeichert" in await say(counsellor, f"monitoring new {line}")
    assert "gespeichert" in await say(
        other, f"monitoring new {anna} dauer=20 betreff=X datum=04.03.2026"
    )

    refused = await say(counsellor, "monitoring export 31.03.2026 01.03.2026")
    assert "nach dem Ende" in refused

    files = watch(counsellor)
    reply = await say(counsellor, "monitoring export 3.2026 3.2026")
    assert "2 Monitorings" in reply and "monitoring_2026-03-01_2026-03-31.csv" in reply
    event, data = await _received(counsellor, files, bot, 0)
    assert event.body == "monitoring_2026-03-01_2026-03-31.csv"
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8")), delimiter=";"))
    assert rows[0][:4] == ["Nr.", "Datum des Kontakts", "Ratsuchende:r", "Berater:in"]
    assert "Beratungsdauer (Min.)" in rows[0] and "Kanal" in rows[0]
    body = rows[1:]
    assert [r[1] for r in body] == ["02.03.2026", "05.03.2026"]  # oldest contact first
    assert [r[2] for r in body] == [anna, bert]
    subject = rows[0].index("Betreff (Monitoring)")
    assert body[0][subject] == "'=Erstgespräch; Ümläute"  # no formula, the ; quoted intact

    admin_files = watch(admin)
    await say(admin, "monitoring export 3.2026 3.2026")
    _, data = await _received(admin, admin_files, bot, 0)
    clients = [r[2] for r in csv.reader(io.StringIO(data[3:].decode()), delimiter=";")]
    assert clients.count(anna) == 2 and clients.count(bert) == 1

    images = watch(counsellor)
    text = await say(counsellor, "statistik 3.2026 3.2026")
    assert "Insgesamt: 2 Kontakte, 3 Personen, 75 Minuten" in text, text
    assert "Ihre eigenen" in text and "Chat: 1 Kontakt" in text
    event, png = await _received(counsellor, images, bot, 0)
    assert isinstance(event, RoomEncryptedImage)
    assert _png_size(png) == (1200, 1200)
    assert "ganze Beratungsstelle" in await say(admin, "statistics 3.2026 3.2026")


async def test_choices_come_as_polls_and_a_vote_answers(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """A choice field and a yes/no field are also polls: a vote answers like the number, the
    answered poll is ended, a vote on it afterwards changes nothing."""
    from tests.test_triage_polls import _ended, _poll, _vote

    bot = running.cfg.assistant_mxid
    _, anna = await make_client(running.mail_rows, make_human)
    counsellor = await make_human("moniumfrage", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    for text in (f"monitoring new {anna}", "heute", "50"):
        await ask(counsellor, room, bot, text)
    step = await ask(counsellor, room, bot, "Gruppe")
    assert "4/6 Kanal" in step.body
    channel = await _poll(counsellor, room, bot, 1)
    answers = channel.content["org.matrix.msc3381.poll.start"]["answers"]
    assert [a["org.matrix.msc1767.text"] for a in answers][:3] == [
        "Chat",
        "Nachricht/Mail",
        "Video",
    ]
    voted = await _vote(counsellor, room, bot, channel, "3")
    assert "5/6 Anzahl Personen" in voted.body
    await _ended(counsellor, room, bot, channel)
    stale = await _vote(counsellor, room, bot, channel, "1")
    assert "gilt nicht mehr" in stale.body
    step = await ask(counsellor, room, bot, "weiter")
    assert "6/6 Folgetermin" in step.body  # the stale vote did not move the form on
    follow_up = await _poll(counsellor, room, bot, 2)
    voted = await _vote(counsellor, room, bot, follow_up, "2")
    assert "gespeichert" in voted.body
    await _ended(counsellor, room, bot, follow_up)
    (row,) = await running.rows.Monitoring.find("nord", counsellor.user_id)
    shown = await ask(counsellor, room, bot, f"monitoring show {row.id}")
    assert "(`channel`): Video" in shown.body and "(`follow_up`): nein" in shown.body


async def test_prefilled_from_the_clients_request(make_human: MakeHuman, running: LotseApp) -> None:
    """The client's request proposes date and channel (in the dialogue and on one line);
    a request number that is not the client's is refused and starts nothing."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tests.test_requests import _request

    bot = running.cfg.assistant_mxid
    client, anna = await make_client(running.mail_rows, make_human)
    counsellor = await make_human("monivorschlag", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    await _request(client, await _service_room(client, bot), bot)  # 2 = by message
    request = await running.rows.CounsellingRequest.open_for_client(client.user_id)
    assert request is not None and request.channel == "async"

    refused = await ask(counsellor, room, bot, f"monitoring new {anna} 99999999")
    assert "Anfrage Nr. 99999999" in refused.body
    assert await running.rows.MonitoringDialogue.get(counsellor.user_id) is None

    today = datetime.now(ZoneInfo("Europe/Berlin")).strftime("%d.%m.%Y")
    first = await ask(counsellor, room, bot, f"monitoring new {anna} {request.id}")
    assert f"Vorschlag: **{today}**" in first.body
    for text in ("weiter", "30"):
        await ask(counsellor, room, bot, text)
    step = await ask(counsellor, room, bot, "Mail an die Mutter")
    assert "4/6 Kanal" in step.body and "Vorschlag: **Nachricht/Mail**" in step.body
    assert "nichts gespeichert" in (await ask(counsellor, room, bot, "cancel")).body

    saved = await ask(counsellor, room, bot, f"monitoring new {anna} dauer=30 betreff=Antwort")
    assert "gespeichert" in saved.body
    (row,) = await running.rows.Monitoring.find("nord", counsellor.user_id)
    assert row.request_id == request.id
    shown = await ask(counsellor, room, bot, f"monitoring show {row.id}")
    assert f"Anfrage Nr. {request.id}" in shown.body
    assert "(`channel`): Nachricht/Mail" in shown.body and f"(`date`): {today}" in shown.body


def _anonymous_counts(stats: str) -> tuple[int, int, int]:
    """Live chats, topic chats and their participants from the ``statistik`` answer."""
    found = re.search(
        r"Anonyme Chats\*\*: (\d+) Livechats?; (\d+) Themenchats? mit zusammen (\d+)", stats
    )
    assert found is not None, stats
    live, topics, came = found.groups()
    return int(live), int(topics), int(came)
