"""Documents on clients through real E2EE clients: `doc CLIENT`, then an encrypted file.

The counsellor's nio client encrypts and uploads the file as Element does; the assistant
downloads, decrypts and checks it, keeps only a sealed reference, and sends it back on
`doc get` as an encrypted m.file that the counsellor's client decrypts byte for byte.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from nio import DownloadError, MatrixRoom, MemoryDownloadResponse, RoomEncryptedFile, UploadResponse
from nio.crypto.attachments import decrypt_attachment

from appservice.app import LotseApp
from appservice.clock import now_ms
from appservice.dev.client import Human, Seen, ask
from bots.records import documents
from mailgateway.rows import MailRows
from tests.conftest import Lotse, MakeHuman, join_control_room
from tests.test_notes import make_client
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + os.urandom(20_000) + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2_000)


async def send_file(
    human: Human,
    room_id: str,
    bot: str,
    data: bytes,
    name: str,
    mimetype: str,
    *,
    size: bool = True,
) -> Seen:
    """Upload ``data`` encrypted, send it as m.file, return the bot's answer to it."""
    upload, keys = await human.client.upload(
        io.BytesIO(data),
        content_type="application/octet-stream",
        filename=name,
        encrypt=True,
        filesize=len(data),
    )
    assert isinstance(upload, UploadResponse) and keys is not None, upload
    info: dict[str, Any] = {"mimetype": mimetype}
    if size:
        info["size"] = len(data)
    content = {
        "msgtype": "m.file",
        "body": name,
        "filename": name,
        "info": info,
        "file": {"url": upload.content_uri, **keys},
    }
    await human.sync()
    before = len(human.notices(room_id, bot))
    resp = await human.client.room_send(
        room_id, "m.room.message", content, ignore_unverified_devices=True
    )
    event_id = getattr(resp, "event_id", None)
    assert event_id, resp

    def answer() -> Seen | None:
        for s in human.notices(room_id, bot)[before:]:
            if s.reply_to == event_id:
                return s
        return None

    return await human.wait_until(answer, 60, f"the answer to the file {name}")  # type: ignore[no-any-return]


def watch_files(human: Human) -> list[RoomEncryptedFile]:
    """Collect encrypted file events the person's client receives from now on."""
    seen: list[RoomEncryptedFile] = []

    async def on_file(room: MatrixRoom, event: RoomEncryptedFile) -> None:
        seen.append(event)

    human.client.add_event_callback(on_file, RoomEncryptedFile)  # type: ignore[arg-type]
    return seen


async def _client_id(rows: MailRows, pseudonym: str) -> str:
    person = await rows.Person.find_in_centre("nord", pseudonym, roles=("client",))
    assert person is not None
    return person.user_id


async def test_pdf_attached_listed_fetched_and_deleted_by_uploader_only(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """Uploader lists, fetches (byte-identical after decryption) and deletes; a colleague and
    another centre see nothing; the database holds no file name, URI or key in clear."""
    bot = running.cfg.assistant_mxid
    _, anna = await make_client(running.mail_rows, make_human)
    uploader = await make_human("dokberaterin", centre="nord", role="counsellor")
    colleague = await make_human("dokkollege", centre="nord", role="counsellor")
    outsider = await make_human("southdocs", centre="south", role="counsellor")
    rooms = {h.user_id: await _service_room(h, bot) for h in (uploader, colleague, outsider)}
    room = rooms[uploader.user_id]

    waiting = await ask(uploader, room, bot, f"doc {anna}")
    assert anna in waiting.body and "pdf" in waiting.body and "10 MB" in waiting.body
    attached = await send_file(
        uploader, room, bot, PDF, "Befund-Schulpsychologie.pdf", "application/pdf"
    )
    assert "Befund-Schulpsychologie.pdf" in attached.body and anna in attached.body
    (doc,) = await running.rows.ClientDocument.of_uploader(
        "nord", uploader.user_id, await _client_id(running.mail_rows, anna)
    )
    assert doc.kind == "pdf" and doc.size == len(PDF)

    listing = await ask(uploader, room, bot, f"docs {anna}")
    assert f"Nr. {doc.id}" in listing.body and "Befund-Schulpsychologie.pdf" in listing.body
    other = await ask(colleague, rooms[colleague.user_id], bot, f"docs {anna}")
    assert "keine Dokumente" in other.body and "Befund" not in other.body
    other = await ask(colleague, rooms[colleague.user_id], bot, f"doc get {doc.id}")
    assert "gibt es nicht" in other.body
    other = await ask(colleague, rooms[colleague.user_id], bot, f"doc delete {doc.id}")
    assert "gibt es nicht" in other.body
    outside = await ask(outsider, rooms[outsider.user_id], bot, f"doc get {doc.id}")
    assert "no document" in outside.body
    outside = await ask(outsider, rooms[outsider.user_id], bot, f"docs {anna}")
    assert "no client" in outside.body

    row = await running.db.main.fetchrow("SELECT * FROM client_document WHERE id=$1", doc.id)
    stored = " ".join(str(row[k]) for k in row.keys())
    assert "Befund" not in stored and "mxc://" not in stored and '"k"' not in stored

    files = watch_files(uploader)
    sent = await ask(uploader, room, bot, f"doc get {doc.id}")
    assert f"Nr. {doc.id}" in sent.body
    event = await uploader.wait_until(
        lambda: next((f for f in files if f.sender == bot), None), 30, "the document"
    )
    assert event.body == "Befund-Schulpsychologie.pdf"
    download = await uploader.client.download(mxc=event.url)
    assert isinstance(download, MemoryDownloadResponse), download
    data = decrypt_attachment(download.body, event.key["k"], event.hashes["sha256"], event.iv)
    assert data == PDF

    deleted = await ask(uploader, room, bot, f"doc delete {doc.id}")
    assert f"Nr. {doc.id} gelöscht" in deleted.body
    assert await running.rows.ClientDocument.get_own(doc.id, "nord", uploader.user_id) is None
    gone = await uploader.client.download(mxc=event.url)
    assert isinstance(gone, DownloadError), gone  # the file left the media repository too


async def test_refused_files_store_nothing(make_human: MakeHuman, running: LotseApp) -> None:
    """No `doc` first, an expired `doc`, a disguised program, a file over 10 MB, a client's
    file: each is answered and nothing is stored; a proper file after refusals is attached."""
    bot = running.cfg.assistant_mxid
    client, anna = await make_client(running.mail_rows, make_human)
    _, south_client = await make_client(running.mail_rows, make_human, centre="south")
    counsellor = await make_human("dokpruefer", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    client_room = await _service_room(client, bot)
    anna_id = await _client_id(running.mail_rows, anna)

    unannounced = await send_file(counsellor, room, bot, PDF, "a.pdf", "application/pdf")
    assert "`doc KLIENT`" in unannounced.body
    unknown = await ask(counsellor, room, bot, f"doc {south_client}")
    assert "gibt es in Ihrer Beratungsstelle nicht" in unknown.body

    waiting = await ask(counsellor, room, bot, f"doc {anna}")
    assert f"{documents.WAIT_SECONDS // 60} Minuten" in waiting.body
    # Five minutes pass: the announcement's time in the database is over.
    await running.db.main.execute(
        "UPDATE pending_document SET until_at=$2 WHERE uploader_id=$1",
        counsellor.user_id,
        now_ms() - 1,
    )
    expired = await send_file(counsellor, room, bot, PDF, "a.pdf", "application/pdf")
    assert "`doc KLIENT`" in expired.body

    await ask(counsellor, room, bot, f"doc {anna}")
    program = b"MZ\x90\x00" + os.urandom(4000)
    wrong = await send_file(counsellor, room, bot, program, "rechnung.pdf", "application/pdf")
    assert "nicht angenommen" in wrong.body and "pdf, png" in wrong.body
    big = PDF + os.urandom(10 * 1024 * 1024)
    too_large = await send_file(
        counsellor, room, bot, big, "gross.pdf", "application/pdf", size=False
    )
    assert "zu groß" in too_large.body and "10 MB" in too_large.body
    assert await running.rows.ClientDocument.of_uploader("nord", counsellor.user_id, anna_id) == []

    fine = await send_file(counsellor, room, bot, PNG, "skizze.png", "image/png")
    assert "skizze.png" in fine.body
    (doc,) = await running.rows.ClientDocument.of_uploader("nord", counsellor.user_id, anna_id)
    assert doc.kind == "png"

    from_client = await send_file(client, client_room, bot, PDF, "mein.pdf", "application/pdf")
    assert "nicht gespeichert" in from_client.body
    assert await running.rows.ClientDocument.of_uploader("nord", client.user_id, anna_id) == []

    # The deletion routine erases every document on the client, row and file.
    assert await documents.erase_client_documents(running.assistant.services, anna_id) == 1
    assert await running.rows.ClientDocument.of_client(anna_id) == []


async def test_announced_document_survives_a_restart(make_human: MakeHuman, lotse: Lotse) -> None:
    """`doc CLIENT` typed before Lotse restarts: the file sent after the restart is attached."""
    app = lotse.app
    assert app is not None
    bot = app.cfg.assistant_mxid
    _, anna = await make_client(app.mail_rows, make_human)
    counsellor = await make_human("neustartdoku", centre="nord", role="counsellor")
    room = await _service_room(counsellor, bot)
    waiting = await ask(counsellor, room, bot, f"doc {anna}")
    assert anna in waiting.body
    # The announcement is a row in the database (ids and expiry only), not process memory.
    row = await app.db.main.fetchrow(
        "SELECT * FROM pending_document WHERE uploader_id=$1", counsellor.user_id
    )
    assert row is not None and row["client_id"] == await _client_id(app.mail_rows, anna)
    assert anna not in " ".join(str(row[k]) for k in row.keys())

    app = await lotse.restart()
    attached = await send_file(counsellor, room, bot, PDF, "nach-neustart.pdf", "application/pdf")
    assert "nach-neustart.pdf" in attached.body and anna in attached.body
    (doc,) = await app.rows.ClientDocument.of_uploader(
        "nord", counsellor.user_id, await _client_id(app.mail_rows, anna)
    )
    assert doc.kind == "pdf" and doc.size == len(PDF)
    # Used up: the next file needs a new `doc`.
    again = await send_file(counsellor, room, bot, PNG, "noch-eins.png", "image/png")
    assert "`doc KLIENT`" in again.body


async def test_doc_get_in_the_control_room_goes_to_nobody(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """An admin typing `doc get` (or `docs`) in the admin control room, which every admin of
    the centre reads, gets a hint to use their own room; no admin receives the file there.
    In their own service room the same command sends it."""
    bot = running.cfg.assistant_mxid
    _, anna = await make_client(running.mail_rows, make_human)
    uploader = await make_human("dokadmin", centre="nord", role="admin")
    colleague = await make_human("mitadmin", centre="nord", role="admin")
    own = await _service_room(uploader, bot)
    await ask(uploader, own, bot, f"doc {anna}")
    await send_file(uploader, own, bot, PDF, "Gutachten.pdf", "application/pdf")
    (doc,) = await running.rows.ClientDocument.of_uploader(
        "nord", uploader.user_id, await _client_id(running.mail_rows, anna)
    )
    control = await join_control_room(running, uploader)
    assert await join_control_room(running, colleague) == control
    theirs, mine = watch_files(colleague), watch_files(uploader)

    refused = await ask(uploader, control, bot, f"doc get {doc.id}")
    listing = await ask(uploader, control, bot, f"docs {anna}")
    marker = await ask(uploader, control, bot, "hilfe")  # answered after both, in order
    await colleague.wait_until(
        lambda: any(s.event_id == marker.event_id for s in colleague.notices(control, bot)),
        30,
        "the answer to `hilfe` in the control room",
    )
    assert [f for f in theirs if f.sender == bot] == []
    assert [f for f in mine if f.sender == bot] == []
    assert "nur Ihnen allein" in refused.body and "Gutachten" not in refused.body
    assert "nur Ihnen allein" in listing.body and "Gutachten" not in listing.body

    sent = await ask(uploader, own, bot, f"doc get {doc.id}")
    assert f"Nr. {doc.id}" in sent.body
    event = await uploader.wait_until(
        lambda: next((f for f in mine if f.sender == bot), None), 30, "the document"
    )
    assert event.body == "Gutachten.pdf"
    assert [f for f in theirs if f.sender == bot] == []
