"""Notes on a client: free text for the centre's counsellors, sealed at rest.

Everyone on the centre's staff reads a client's notes (newest first, as in the reference);
only the author edits or deletes one. The text never reaches the database or a log line in
clear: it is sealed with a key derived from ``encryption.sealing_key``.
"""

from __future__ import annotations

from datetime import datetime

from appservice.db import ClientNote, Person
from appservice.sealing import Sealer, SealError, sealer
from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dates import DEFAULT_TZ
from bots.framework.dispatch import CommandContext
from bots.framework.names import Names
from bots.framework.services import rows_of, services_of

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

# A note is a few paragraphs, not a file: longer texts belong in a document.
MAX_NOTE_CHARS = 4000

CLIENT_ARG = Argument(
    "client",
    label={"de": "KLIENT", "en": "CLIENT"},
    help={"de": "Pseudonym oder Matrix-ID", "en": "pseudonym or Matrix id"},
)
NOTE_ID = Argument("id", label={"de": "NR", "en": "ID"})
TEXT_ARG = Argument("text", rest=True, label={"de": "TEXT", "en": "TEXT"})


NOTE_PURPOSE = "client notes"


def note_sealer(ctx: CommandContext) -> Sealer:
    enc = services_of(ctx).directory.cfg.encryption
    return sealer(enc.sealing_key, NOTE_PURPOSE, enc.previous_sealing_keys)


def _context(client_id: str) -> str:
    # Binds the ciphertext to its client: a sealed note copied onto another row won't open.
    return f"note:{client_id}"


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, DEFAULT_TZ).strftime("%d.%m.%Y %H:%M")


async def find_client(ctx: CommandContext, text: str) -> Person | None:
    """A client of the asking person's centre only: other centres' people stay invisible."""
    return await rows_of(ctx).Person.find_in_centre(ctx.centre_id, text, roles=("client",))


def _too_long(ctx: CommandContext, text: str) -> str | None:
    if len(text) > MAX_NOTE_CHARS:
        return ctx.render("note_too_long", length=len(text), maximum=MAX_NOTE_CHARS)
    return None


@registry.command(
    "note",
    aliases=("notiz",),
    roles=STAFF,
    section="notes",
    args=(CLIENT_ARG, TEXT_ARG),
    help={
        "de": "Hinterlegt eine Notiz zu einer:einem Ratsuchenden; alle Berater:innen Ihrer "
        "Beratungsstelle sehen sie (verschlüsselt gespeichert)",
        "en": "Adds a note on a client, seen by all counsellors of your centre (stored encrypted)",
    },
)
async def note_add(ctx: CommandContext, client: str, text: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return ctx.render("client_unknown_here", given=client)
    problem = _too_long(ctx, text)
    if problem:
        return problem
    sealed = note_sealer(ctx).seal(text, _context(person.user_id))
    note_id = await rows_of(ctx).ClientNote.add(ctx.centre_id, person.user_id, ctx.user_id, sealed)
    return ctx.render("note_added", id=note_id, client=person.name)


@registry.command(
    "notes",
    aliases=("notizen",),
    roles=STAFF,
    section="notes",
    args=(CLIENT_ARG,),
    help={
        "de": "Zeigt die Notizen zu einer:einem Ratsuchenden, die neueste zuerst",
        "en": "Lists the notes on a client, newest first",
    },
)
async def notes_list(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return ctx.render("client_unknown_here", given=client)
    box = note_sealer(ctx)
    names = Names(ctx)
    rows = []
    for note in await rows_of(ctx).ClientNote.for_client(ctx.centre_id, person.user_id):
        try:
            text = box.open(note.sealed_text, _context(person.user_id))
        except SealError:
            text = None  # the key changed or the row was tampered with: say so, show no text
        rows.append(
            {
                "id": note.id,
                "author": await names.of(note.author_id),
                "mine": note.author_id == ctx.user_id,
                "when": when(note.created_at),
                "edited": when(note.edited_at) if note.edited_at else "",
                "text": text,
            }
        )
    return ctx.render("notes_list", client=person.name, notes=rows)


async def _own_note(ctx: CommandContext, id: str) -> ClientNote | str:
    """The asker's note with this number, or the reply that says why not."""
    note = (
        await rows_of(ctx).ClientNote.get_in_centre(int(id), ctx.centre_id)
        if id.isdigit()
        else None
    )
    if note is None:
        return ctx.render("note_not_found", id=id)
    if note.author_id != ctx.user_id:
        return ctx.render("note_not_yours", id=id)
    return note


@registry.command(
    "note edit",
    aliases=("notiz bearbeiten", "notiz ändern"),
    roles=STAFF,
    section="notes",
    args=(NOTE_ID, TEXT_ARG),
    help={
        "de": "Ersetzt den Text einer Ihrer Notizen",
        "en": "Replaces the text of one of your notes",
    },
)
async def note_edit(ctx: CommandContext, id: str, text: str) -> str:
    found = await _own_note(ctx, id)
    if isinstance(found, str):
        return found
    problem = _too_long(ctx, text)
    if problem:
        return problem
    sealed = note_sealer(ctx).seal(text, _context(found.client_id))
    if not await rows_of(ctx).ClientNote.edit(found.id, ctx.user_id, sealed):
        return ctx.render("note_not_found", id=id)  # deleted meanwhile
    return ctx.render("note_edited", id=found.id)


@registry.command(
    "note delete",
    aliases=("notiz löschen", "notiz loeschen"),
    roles=STAFF,
    section="notes",
    args=(NOTE_ID,),
    help={"de": "Löscht eine Ihrer Notizen", "en": "Deletes one of your notes"},
)
async def note_delete(ctx: CommandContext, id: str) -> str:
    found = await _own_note(ctx, id)
    if isinstance(found, str):
        return found
    if not await rows_of(ctx).ClientNote.delete(found.id, ctx.user_id):
        return ctx.render("note_not_found", id=id)
    return ctx.render("note_deleted", id=found.id)
