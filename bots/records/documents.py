"""Documents on a client: after ``doc CLIENT`` the counsellor's next file is attached.

The file stays in Synapse's media repository exactly as the counsellor's client uploaded
it (encrypted); Lotse keeps the mxc URI, the file's key and its name sealed at rest, and
only the uploader lists, fetches or deletes it (reference: "nur für die/den Berater:in
sichtbar, die/der das Dokument hochgeladen hat"). The type is read from the decrypted
bytes, never trusted from the declared mimetype or name.
"""

from __future__ import annotations

import json
import logging
import secrets

import aiohttp
from mautrix.crypto.attachments import decrypt_attachment
from mautrix.errors import DecryptionError, MatrixError
from mautrix.types import (
    EncryptedFile,
    FileInfo,
    MediaMessageEventContent,
    MessageEventContent,
    MessageType,
    RoomID,
)

from appservice.admin_api import AdminApiError
from appservice.clock import now_ms
from appservice.db import ClientDocument
from appservice.document_policy import KNOWN_TYPES, DocumentPolicy, check_document
from appservice.once import Rollback
from appservice.sealing import Sealer, SealError, sealer
from bots.framework.commands import STAFF, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, rows_of, services_of

from .notes import CLIENT_ARG, find_client, when

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.documents")

# Every file-like message gets an answer; only documents of an allowed type are kept.
FILE_TYPES = (MessageType.FILE, MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO)
# How long after `doc CLIENT` the next file is taken as that client's document. Read at call
# time; the announcement itself is in the database (table pending_document), so it survives
# a restart.
WAIT_SECONDS = 300
DOC_ID = Argument("id", label={"de": "NR", "en": "ID"})


DOC_PURPOSE = "client documents"


def doc_sealer(services: BotServices) -> Sealer:
    enc = services.directory.cfg.encryption
    return sealer(enc.sealing_key, DOC_PURPOSE, enc.previous_sealing_keys)


def _context(doc_client: str, uploader: str) -> str:
    return f"document:{doc_client}:{uploader}"


def _policy(ctx: CommandContext) -> DocumentPolicy:
    centre = services_of(ctx).directory.cfg.centre(ctx.centre_id)
    return centre.documents if centre is not None else DocumentPolicy()


def _size(nbytes: int) -> str:
    if nbytes < 1024 * 1024:
        return f"{max(1, round(nbytes / 1024))} KB"
    return f"{nbytes / (1024 * 1024):.1f} MB"


@registry.command(
    "doc",
    aliases=("dokument",),
    roles=STAFF,
    section="notes",
    args=(CLIENT_ARG,),
    help={
        "de": "Kündigt ein Dokument an: die nächste Datei, die Sie hier in den nächsten "
        "Minuten senden, wird der:dem Ratsuchenden zugeordnet (nur Sie sehen es)",
        "en": "Announces a document: the next file you send here within a few minutes is "
        "attached to the client (only you see it)",
    },
    private=True,
)
async def doc_announce(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return ctx.render("client_unknown_here", given=client)
    until = now_ms() + WAIT_SECONDS * 1000
    await rows_of(ctx).PendingDocument.announce(ctx.user_id, ctx.centre_id, person.user_id, until)
    policy = _policy(ctx)
    return ctx.render(
        "doc_waiting",
        client=person.name,
        minutes=WAIT_SECONDS // 60,
        types=", ".join(policy.types),
        max_mb=policy.max_mb,
    )


async def receive_file(ctx: CommandContext, content: MessageEventContent) -> str | None:
    """A file someone sent in their service room: attach it, or say why not."""
    try:
        return await _receive(ctx, content)
    except Exception as e:
        reference = secrets.token_hex(4)
        log.exception("attaching a document failed (reference %s)", reference)
        raise Rollback(ctx.render("internal_error", reference=reference)) from e


async def _receive(ctx: CommandContext, content: MessageEventContent) -> str | None:
    if ctx.role is Role.CLIENT:
        return ctx.render("doc_not_here")
    pending = await rows_of(ctx).PendingDocument.current(ctx.user_id, now_ms())
    client = await rows_of(ctx).Person.get(pending.client_id) if pending is not None else None
    if pending is None or client is None or client.centre_id != ctx.centre_id:
        return ctx.render("doc_not_announced")
    client_name = client.name
    policy = _policy(ctx)
    encrypted = getattr(content, "file", None)
    if not isinstance(content, MediaMessageEventContent) or encrypted is None or not encrypted.url:
        return ctx.render("doc_not_encrypted")
    declared = getattr(content.info, "size", None)
    if isinstance(declared, int) and declared > policy.max_bytes:
        return ctx.render("doc_too_large", max_mb=policy.max_mb, client=client_name)
    services = services_of(ctx)
    assert services.download_media is not None
    try:
        ciphertext = await services.download_media(encrypted.url)
        data = decrypt_attachment(
            ciphertext, encrypted.key.key, encrypted.hashes.get("sha256", ""), encrypted.iv
        )
    except (MatrixError, DecryptionError) as e:
        log.info("document from %s could not be fetched: %s", ctx.user_id, type(e).__name__)
        return ctx.render("doc_unreadable")
    verdict, found = check_document(policy, data)
    if verdict == "too_large":
        return ctx.render("doc_too_large", max_mb=policy.max_mb, client=client_name)
    if verdict != "ok" or found is None:
        return ctx.render("doc_wrong_type", found=found or "", types=", ".join(policy.types))
    name = (content.filename or content.body or f"document.{found}").strip()[:200]
    reference = json.dumps({"file": encrypted.serialize(), "name": name})
    sealed = doc_sealer(services).seal(reference, _context(pending.client_id, ctx.user_id))
    if not await services.rows.PendingDocument.take(ctx.user_id, pending.client_id):
        return ctx.render("doc_not_announced")  # another file used the announcement first
    doc_id = await services.rows.ClientDocument.add(
        ctx.centre_id, pending.client_id, ctx.user_id, found, len(data), sealed
    )
    log.info("document %d attached by %s to %s", doc_id, ctx.user_id, pending.client_id)
    return ctx.render(
        "doc_attached", id=doc_id, filename=name, client=client_name, size=_size(len(data))
    )


def _open(services: BotServices, doc: ClientDocument) -> tuple[str, EncryptedFile] | None:
    try:
        opened = json.loads(
            doc_sealer(services).open(doc.sealed_ref, _context(doc.client_id, doc.uploader_id))
        )
    except SealError:
        return None
    return str(opened["name"]), EncryptedFile.deserialize(opened["file"])


@registry.command(
    "docs",
    aliases=("dokumente",),
    roles=STAFF,
    section="notes",
    args=(CLIENT_ARG,),
    help={
        "de": "Zeigt die Dokumente, die Sie zu einer:einem Ratsuchenden hochgeladen haben",
        "en": "Lists the documents you uploaded for a client",
    },
    private=True,
)
async def docs_list(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return ctx.render("client_unknown_here", given=client)
    rows = []
    for doc in await rows_of(ctx).ClientDocument.of_uploader(
        ctx.centre_id, ctx.user_id, person.user_id
    ):
        opened = _open(services_of(ctx), doc)
        rows.append(
            {
                "id": doc.id,
                "name": opened[0] if opened else None,
                "kind": doc.kind,
                "size": _size(doc.size),
                "when": when(doc.created_at),
            }
        )
    return ctx.render("docs_list", client=person.name, docs=rows)


async def _own_document(ctx: CommandContext, id: str) -> ClientDocument | str:
    doc = (
        await rows_of(ctx).ClientDocument.get_own(int(id), ctx.centre_id, ctx.user_id)
        if id.isdigit()
        else None
    )
    return doc if doc is not None else ctx.render("doc_not_found", id=id)


@registry.command(
    "doc get",
    aliases=("dokument holen",),
    roles=STAFF,
    section="notes",
    args=(DOC_ID,),
    help={
        "de": "Schickt Ihnen eines Ihrer Dokumente hier verschlüsselt zurück",
        "en": "Sends one of your documents back to you here, encrypted",
    },
    private=True,
)
async def doc_get(ctx: CommandContext, id: str) -> str:
    doc = await _own_document(ctx, id)
    if isinstance(doc, str):
        return doc
    opened = _open(services_of(ctx), doc)
    if opened is None:
        return ctx.render("doc_unreadable")
    name, encrypted = opened
    content = MediaMessageEventContent(
        msgtype=MessageType.FILE,
        body=name,
        filename=name,
        file=encrypted,
        info=FileInfo(
            mimetype=KNOWN_TYPES.get(doc.kind, "application/octet-stream"), size=doc.size
        ),
    )
    services = services_of(ctx)
    assert services.send_content is not None
    await services.send_content(RoomID(ctx.room_id), content, f"doc-{ctx.event_id}")
    return ctx.render("doc_sent", id=doc.id, filename=name)


@registry.command(
    "doc delete",
    aliases=("dokument löschen", "dokument loeschen"),
    roles=STAFF,
    section="notes",
    args=(DOC_ID,),
    help={
        "de": "Löscht eines Ihrer Dokumente (auch die Datei auf dem Server)",
        "en": "Deletes one of your documents (the file on the server too)",
    },
    private=True,
)
async def doc_delete(ctx: CommandContext, id: str) -> str:
    doc = await _own_document(ctx, id)
    if isinstance(doc, str):
        return doc
    if not await _erase(services_of(ctx), doc):
        return ctx.render("doc_not_found", id=id)  # deleted meanwhile
    return ctx.render("doc_deleted", id=doc.id)


async def _erase(services: BotServices, doc: ClientDocument) -> bool:
    """Drop the row, then the file in the media repository; False if the row was gone."""
    opened = _open(services, doc)
    if not await services.rows.ClientDocument.delete(doc.id, doc.uploader_id):
        return False
    if opened is not None and opened[1].url:
        try:
            await services.admin.delete_media(str(opened[1].url))
        except (AdminApiError, aiohttp.ClientError, ValueError) as e:
            # The row is gone; the orphaned ciphertext is useless without the key we dropped.
            log.warning("media of document %d not deleted: %s", doc.id, type(e).__name__)
    return True


async def erase_client_documents(services: BotServices, client_id: str) -> int:
    """For the deletion routine: every counsellor's documents on the client, rows and files."""
    erased = 0
    for doc in await services.rows.ClientDocument.of_client(client_id):
        erased += await _erase(services, doc)
    return erased


async def erase_uploaded_documents(services: BotServices, uploader_id: str) -> int:
    """For the deletion routine: the documents an erased counsellor uploaded, rows and files.

    Only the uploader could ever read them, so nobody is left who may; the clients stay.
    """
    erased = 0
    for doc in await services.rows.ClientDocument.uploaded_by(uploader_id):
        erased += await _erase(services, doc)
    return erased
