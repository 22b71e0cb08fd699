"""Notes on clients through real E2EE clients: shared in the centre, author-only changes, sealed."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from appservice.app import LotseApp
from appservice.dev.client import Human, ask
from mailgateway.rows import MailRows
from tests.conftest import MakeHuman
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse


async def make_client(
    rows: MailRows, make_human: MakeHuman, centre: str = "nord"
) -> tuple[Human, str]:
    """A client of ``centre`` with a fresh pseudonym (the clients helper's `client new`)."""
    human = await make_human("klientin", centre=centre, role="client")
    person = await rows.Person.get(human.user_id)
    assert person is not None
    pseudonym = f"Anna{secrets.token_hex(2)}"
    assert await person.set_display_name(pseudonym)
    return human, pseudonym


async def test_note_lifecycle_shared_in_centre_author_only(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Written by one counsellor, read by another of the centre (newest first), never by
    another centre; only the author edits or deletes; the database never holds the text."""
    bot = running.cfg.assistant_mxid
    _, anna = await make_client(running.mail_rows, make_human)
    author = await make_human("notizautorin", centre="nord", role="counsellor")
    colleague = await make_human("kollege", centre="nord", role="counsellor")
    outsider = await make_human("southnotes", centre="south", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (author, colleague, outsider)}

    first_text = "Erstgespräch am Telefon, wirkt erschöpft"
    secret_text = "Mutter pflegebedürftig, Schulden beim Vermieter"
    first = await ask(author, rooms[author.user_id], bot, f"note {anna} {first_text}")
    assert "Notiz Nr." in first.body and anna in first.body
    second = await ask(author, rooms[author.user_id], bot, f"notiz {anna} {secret_text}")
    notes = await running.rows.ClientNote.for_client("nord", await _pid(running.mail_rows, anna))
    newest, oldest = notes[0].id, notes[1].id

    listing = await ask(colleague, rooms[colleague.user_id], bot, f"notes {anna}")
    body = listing.body
    assert secret_text in body and first_text in body
    assert body.index(f"Nr. {newest}") < body.index(f"Nr. {oldest}")  # newest first
    assert "notizautorin" in body  # the author is named
    assert f"Nr. {newest}" in second.body

    # Another centre: the client does not exist there, nor do the note numbers.
    outside = await ask(outsider, rooms[outsider.user_id], bot, f"notes {anna}")
    assert "no client" in outside.body and secret_text not in outside.body
    foreign_edit = await ask(outsider, rooms[outsider.user_id], bot, f"note edit {newest} mine")
    assert "no note" in foreign_edit.body

    # A colleague may read but not change or delete.
    refused = await ask(colleague, rooms[colleague.user_id], bot, f"note edit {newest} falsch")
    assert "jemand anderes" in refused.body
    refused = await ask(colleague, rooms[colleague.user_id], bot, f"note delete {newest}")
    assert "jemand anderes" in refused.body
    unknown = await ask(author, rooms[author.user_id], bot, "note delete 99999999")
    assert "gibt es in Ihrer Beratungsstelle nicht" in unknown.body
    nobody = await ask(author, rooms[author.user_id], bot, "notes Niemand-xyz")
    assert "Niemand-xyz" in nobody.body and "gibt es in Ihrer Beratungsstelle nicht" in nobody.body

    edited = await ask(author, rooms[author.user_id], bot, f"note edit {newest} Schulden geklärt")
    assert f"Nr. {newest} geändert" in edited.body
    listing = await ask(colleague, rooms[colleague.user_id], bot, f"notizen {anna}")
    assert "Schulden geklärt" in listing.body and "bearbeitet" in listing.body
    assert secret_text not in listing.body

    deleted = await ask(author, rooms[author.user_id], bot, f"note delete {oldest}")
    assert f"Nr. {oldest} gelöscht" in deleted.body
    listing = await ask(colleague, rooms[colleague.user_id], bot, f"notes {anna}")
    assert first_text not in listing.body and f"Nr. {oldest}" not in listing.body

    # The database, read raw: neither the rows nor the SQLite file hold any note text.
    rows = await running.db.main.fetch("SELECT * FROM client_note")
    stored = " ".join(str(row[k]) for row in rows for k in row.keys())
    assert "Schulden" not in stored and "Erstgespräch" not in stored
    url = running.cfg.database.url
    if url.startswith("sqlite:"):
        database = Path(url.removeprefix("sqlite:"))
        files = list(database.parent.glob(database.name + "*"))  # with -wal and -shm
        assert database in files
        for path in files:
            raw = path.read_bytes()
            assert b"Schulden" not in raw and b"Mutter" not in raw, path


async def _pid(rows: MailRows, pseudonym: str) -> str:
    person = await rows.Person.find_in_centre("nord", pseudonym, roles=("client",))
    assert person is not None
    return person.user_id
