"""Message text never reaches logs or the database; only the assistant holds an E2EE device."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.dev.client import ask
from tests.conftest import MakeHuman

pytestmark = pytest.mark.synapse


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _sqlite_dump(path: Path) -> dict[str, str]:
    """Every column of every row of every table, as text, read through a read-only connection."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        dump: dict[str, str] = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            dump[table] = "\n".join(" | ".join(_as_text(v) for v in row) for row in rows)
        return dump
    finally:
        conn.close()


async def _postgres_dump(app: LotseApp) -> dict[str, str]:
    """The same for PostgreSQL, through the app's own pool (every column cast to text)."""
    db = app.db.main
    tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
    dump: dict[str, str] = {}
    for row in tables:
        table = row["tablename"]
        rows = await db.fetch(f'SELECT t::text AS line FROM "{table}" t')
        dump[table] = "\n".join(r["line"] for r in rows)
    return dump


async def _database_dump(app: LotseApp) -> dict[str, str]:
    url = app.cfg.database.url
    if url.startswith("sqlite:"):
        path = Path(url[len("sqlite:") :])
        assert path.is_file(), path
        return _sqlite_dump(path)
    return await _postgres_dump(app)


async def test_message_text_is_in_no_log_and_no_table(
    make_human: MakeHuman, running: LotseApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Distinctive message text is in no log record (DEBUG, all loggers) and no database row."""
    caplog.set_level(logging.DEBUG)
    bot = running.cfg.assistant_mxid
    gina = await make_human("gina", centre="nord", role="client")
    room_id = await gina.service_room(bot)
    await gina.next_notice(room_id, bot, 0)

    secret_arg = f"geheimnis-{secrets.token_hex(6)}"
    secret_note = f"note-{secrets.token_hex(6)}"
    first = await ask(gina, room_id, bot, f"help {secret_arg}")
    second = await ask(gina, room_id, bot, f"{secret_note} Mein Geheimnis")
    assert first.encrypted and second.encrypted

    # The check must be able to see the log at all: the exchange was logged in some form.
    assert any(
        r.name == "lotse.transactions" and r.levelno == logging.DEBUG for r in caplog.records
    ), "Lotse's DEBUG records were not captured"
    for secret in (secret_arg, secret_note):
        leaking = [r.name for r in caplog.records if secret in r.getMessage()]
        assert not leaking, f"{secret} logged by {leaking}"
        assert secret not in caplog.text

    dump = await _database_dump(running)
    assert {"person", "event_inbox", "crypto_account"} <= set(dump)
    # The person's row is in the dump, so the scan reads real data.
    assert gina.user_id in dump["person"]
    assert room_id in dump["event_inbox"]
    for secret in (secret_arg, secret_note, "Mein Geheimnis"):
        tables = [t for t, text in dump.items() if secret in text]
        assert not tables, f"{secret!r} stored in {tables}"


async def test_only_the_assistant_has_an_e2ee_device(
    make_human: MakeHuman, running: LotseApp
) -> None:
    """keys/query shows no device for the steward and exactly the assistant's own one device."""
    hana = await make_human("hana", centre="nord", role="client")
    steward, assistant = running.cfg.steward_mxid, running.cfg.assistant_mxid
    url = f"{running.cfg.homeserver.address}/_matrix/client/v3/keys/query"
    headers = {"Authorization": f"Bearer {hana.client.access_token}"}
    body = {"device_keys": {steward: [], assistant: []}}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200
            keys = await resp.json()
    assert not keys.get("failures")
    devices = keys["device_keys"]
    assert devices.get(steward, {}) == {}
    assert list(devices[assistant]) == [running.device.device_id]
