"""The data export through real Synapse and E2EE clients (issue 12, point 2): a client and a
counsellor who used every feature ask for their data; the file arrives encrypted in their
service room, and parsed back it covers every table of the running Lotse that names them.
Asking for somebody else's data is refused and sends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nio import MemoryDownloadResponse
from nio.crypto.attachments import decrypt_attachment

from appservice.app import LotseApp
from appservice.dev.client import Human, ask, notices_before_marker
from tests.conftest import Lotse, MailSink, Stack
from tests.leftovers import traces
from tests.test_data_export_db import uncovered
from tests.test_documents import watch_files
from tests.test_erasure import Departed, Env, postgres_env, used_everything

pytestmark = pytest.mark.synapse


async def fetch_export(env: Env, human: Human, room: str, command: str) -> dict[str, Any]:
    """Ask for the export; return the file's JSON once downloaded and decrypted."""
    files = watch_files(human)
    answer = await ask(human, room, env.bot, command)
    assert ".json" in answer.body, answer.body
    event = await human.wait_until(
        lambda: next((f for f in files if f.sender == env.bot), None), 30, "the export file"
    )
    assert event.body.endswith(".json")
    download = await human.client.download(mxc=event.url)
    assert isinstance(download, MemoryDownloadResponse), download
    data = decrypt_attachment(download.body, event.key["k"], event.hashes["sha256"], event.iv)
    return dict(json.loads(data))


async def _covers(env: Env, departed: Departed, document: dict[str, Any]) -> str:
    tables = {t.table for t in await traces(env.app.db.main, departed.needles)}
    assert {"person", "audit_log", "mx_user_profile"} <= tables, tables
    assert uncovered(tables, document) == set()
    assert document["user_id"] == departed.user_id and document["schema_version"] == 1
    return json.dumps(document["data"], ensure_ascii=False)


async def test_export_file_covers_every_table_sqlite(
    stack: Stack, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    env = Env(running, stack.synapse, mail_sink, tmp_path)
    try:
        await check_export(env)
    finally:
        await env.close()


async def test_export_file_covers_every_table_postgres(
    lotse: Lotse, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    async with postgres_env(lotse, mail_sink, tmp_path) as env:
        await check_export(env)


async def check_export(env: Env) -> None:
    used = await used_everything(env)
    client, room = used.client_human, used.client_room

    # Somebody else's data: refused, and no file follows (the marker answer comes first).
    before = len(client.notices(room, env.bot))
    files = watch_files(client)
    other = await ask(client, room, env.bot, f"meine daten {used.counsellor.user_id}")
    assert "nur Ihre eigenen Daten" in other.body, other.body
    await notices_before_marker(client, room, env.bot, before)
    assert files == []

    document = await fetch_export(env, client, room, "meine daten")
    text = await _covers(env, used.client, document)
    for own in (used.client.name, used.client.addresses[1].lower(), str(used.client.phone)):
        assert own in text, own
    assert "20095" in text  # master data
    assert {"counselling_request", "transfer", "centre_message", "audit_log"} <= set(
        document["data"]
    )
    assert "Rückruf" not in text and "Hallo, ich brauche Rat" not in text
    assert used.stays not in text

    staff = await fetch_export(env, used.counsellor_human, used.counsellor_room, "export")
    text = await _covers(env, used.counsellor, staff)
    assert "Urlaub" in text and used.counsellor.addresses[0] in text
    assert str(used.client.phone) not in text
