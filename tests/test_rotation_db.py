"""``lotse rotate-key`` (issue 12, point 5), on SQLite and PostgreSQL, as a real process.

Every sealed table is filled under the old key (one note in the format from before key ids);
after the rotation each value names the new key, opens with it and Lotse's own readers find
rows by address with the new lookup hashes; no value and no hash under the old key is left.
A run killed by SIGKILL after its first batch leaves old and new values side by side and a
second run finishes. A wrong old key, or a running Lotse whose config does not list the old
key in ``previous_sealing_keys``, is refused with one line and exit 2, and the database stays
exactly as it was (rotation beside a running Lotse: tests/test_rotation_online.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from mautrix.crypto.cross_signing_key import CrossSigningSeeds

from appservice import contact_data
from appservice.config import load_config
from appservice.config_render import render_initial_config, set_scalar
from appservice.contact_data import ContactData
from appservice.cross_signing import SEAL_PURPOSE, STATE_KEY, open_seeds, seal_seeds
from appservice.db import LotseDatabase
from appservice.dev.synapse_runner import free_port
from appservice.once import OUTCOME_PURPOSE, outcome_context
from appservice.rotation import TABLES
from appservice.sealing import SealError, key_id, sealer
from bots.monitoring.commands import MONITORING_PURPOSE
from bots.monitoring.commands import _context as monitoring_context
from bots.monitoring.commands import _dialogue_context as dialogue_context
from bots.records.documents import DOC_PURPOSE
from bots.records.documents import _context as document_context
from bots.records.notes import NOTE_PURPOSE
from bots.records.notes import _context as note_context
from mailgateway.outbox import outbox_sealer
from mailgateway.rows import MailRows
from tests.conftest import TEST_CONTACT_KEY, opened
from tests.leftovers import text_columns, traces
from tests.test_contact_sealing_db import POSTCODE, _all_readable
from tests.test_erasure_db import (
    ADDRESS,
    CENTRE,
    CLIENT,
    COUNSELLOR,
    NEW_ADDRESS,
    SHARED,
    fill_every_table,
)

OLD = TEST_CONTACT_KEY  # what tests/conftest.py's databases seal contact data with
NEW = "the new sealing key of the rotation test"
SEALED_TABLES = {t.name for t in TABLES} | {"bot_state"}
ADDRESSES = (ADDRESS, NEW_ADDRESS, SHARED, "nie@example.org")
SEALED_RE = re.compile(r"v1:[A-Za-z0-9+/=]{16,}|v2:([0-9a-f]{12}):")


def _config(tmp_path: Path, url: str) -> Path:
    text = render_initial_config("lotse.test", "http://127.0.0.1:9")
    text = set_scalar(text, "appservice", "port", free_port())
    text = set_scalar(text, "database", "url", url)
    text = set_scalar(text, "encryption", "sealing_key", NEW)
    # The install sealed with its pickle key before it had a sealing key.
    text = set_scalar(text, "encryption", "pickle_key", OLD)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def _fill(db: LotseDatabase, assistant: str) -> None:
    """A value under the old key in every sealed table (the erasure test's rows and more)."""
    await fill_every_table(db, monitoring=False)
    await db.rows.MasterDataValue.apply(CLIENT, {"postcode": POSTCODE})
    notes = await db.main.fetch("SELECT id, client_id FROM client_note ORDER BY id")
    for row in notes:
        sealed = sealer(OLD, NOTE_PURPOSE).seal(f"note {row['id']}", note_context(row["client_id"]))
        q = "UPDATE client_note SET sealed_text=$2 WHERE id=$1"
        await db.main.execute(q, row["id"], sealed)
    # The first note as stored before sealed values named their key.
    legacy = await db.main.fetchval("SELECT sealed_text FROM client_note WHERE id=$1", 1)
    legacy = "v1:" + legacy.split(":", 2)[2]
    await db.main.execute("UPDATE client_note SET sealed_text=$2 WHERE id=$1", 1, legacy)
    for row in await db.main.fetch("SELECT id, client_id, uploader_id FROM client_document"):
        context = document_context(row["client_id"], row["uploader_id"])
        sealed = sealer(OLD, DOC_PURPOSE).seal(f"doc {row['id']}", context)
        await db.main.execute(
            "UPDATE client_document SET sealed_ref=$2 WHERE id=$1", row["id"], sealed
        )
    # The fill sealed one mail's variables with another key: queued again under the old one.
    await db.main.execute("DELETE FROM mail_outbox WHERE variables LIKE '%\"sealed\"%'")
    link = {"display_name": "Wolke", "link": "https://lotse.test/i/geheim"}
    await MailRows(db).Outbox.enqueue(ADDRESS, "invitation", "de", link, sealer=outbox_sealer(OLD))
    box = sealer(OLD, MONITORING_PURPOSE)
    values = box.seal('{"subject": "Schule"}', monitoring_context(CENTRE, CLIENT))
    await db.rows.Monitoring.add(CENTRE, CLIENT, COUNSELLOR, None, "2026-11-30", values)
    state = box.seal('{"step": "subject"}', dialogue_context(COUNSELLOR))
    assert await db.rows.MonitoringDialogue.begin(
        COUNSELLOR, CENTRE, CLIENT, None, state, "subject"
    )
    outcome = sealer(OLD, OUTCOME_PURPOSE).seal("[]", outcome_context("$done"))
    await db.rows.CommandOutcome.record("$done", outcome)
    seeds = seal_seeds(CrossSigningSeeds.generate(), sealer(OLD, SEAL_PURPOSE), assistant)
    await db.set_state(STATE_KEY, seeds)


async def _key_ids(db: LotseDatabase) -> dict[str, set[str]]:
    """Per table, the key ids its sealed values name ("v1" for the format without one)."""
    found: dict[str, set[str]] = {}
    for table, cols in (await text_columns(db.main)).items():
        if table.startswith("crypto_") or not cols:
            continue
        for row in await db.main.fetch(f"SELECT {', '.join(cols)} FROM {table}"):
            for col in cols:
                value = row[col]
                if not isinstance(value, str):
                    continue
                for match in SEALED_RE.finditer(value):
                    found.setdefault(table, set()).add(match.group(1) or "v1")
    return found


async def _snapshot(db: LotseDatabase) -> dict[str, list[Any]]:
    tables = [*SEALED_TABLES, "mail_address"]
    return {
        t: sorted(map(str, map(tuple, await db.main.fetch(f"SELECT * FROM {t}")))) for t in tables
    }


async def _run(config: Path, old: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOTSE_OLD_SEALING_KEY"}
    if old is not None:
        env["LOTSE_OLD_SEALING_KEY"] = old
    args = [sys.executable, "-m", "appservice", "rotate-key", "-c", str(config), *extra]
    return await asyncio.to_thread(
        subprocess.run, args, env=env, capture_output=True, text=True, timeout=300
    )


async def _all_under_new(db: LotseDatabase, assistant: str) -> None:
    """Every value names the new key and opens with it; Lotse's readers find everything."""
    ids = await _key_ids(db)
    assert set(ids) >= SEALED_TABLES, set(ids)
    assert {t: k for t, k in ids.items() if k != {key_id(NEW)}} == {}
    notes = await db.main.fetch("SELECT id, client_id, sealed_text FROM client_note")
    for row in notes:
        opened_note = sealer(NEW, NOTE_PURPOSE).open(
            row["sealed_text"], note_context(row["client_id"])
        )
        assert opened_note == f"note {row['id']}"
        # Encrypted under the new key indeed, not only named so: the old key cannot open it.
        as_old = row["sealed_text"].replace(key_id(NEW), key_id(OLD), 1)
        try:
            sealer(OLD, NOTE_PURPOSE).open(as_old, note_context(row["client_id"]))
            raise AssertionError("the old key still opens a note")
        except SealError:
            pass
    for row in await db.main.fetch("SELECT * FROM client_document"):
        context = document_context(row["client_id"], row["uploader_id"])
        assert sealer(NEW, DOC_PURPOSE).open(row["sealed_ref"], context) == f"doc {row['id']}"
    [monitoring] = await db.main.fetch("SELECT sealed_values FROM monitoring")
    box = sealer(NEW, MONITORING_PURPOSE)
    assert "Schule" in box.open(monitoring["sealed_values"], monitoring_context(CENTRE, CLIENT))
    dialogue = await db.rows.MonitoringDialogue.get(COUNSELLOR)
    assert dialogue is not None
    assert "subject" in box.open(dialogue.sealed_state, dialogue_context(COUNSELLOR))
    stored = await db.rows.CommandOutcome.get("$done")
    assert stored is not None
    assert sealer(NEW, OUTCOME_PURPOSE).open(stored, outcome_context("$done")) == "[]"
    seeds = await db.get_state(STATE_KEY)
    assert seeds is not None
    open_seeds(seeds, sealer(NEW, SEAL_PURPOSE), assistant)
    # Lotse with the new key alone (the previous one removed from its config).
    async with opened(db.url, ContactData(NEW)) as lotse:
        await _all_readable(MailRows(lotse))
        links = [
            m.open_variables(outbox_sealer(NEW)) for m in await MailRows(lotse).Outbox.due(10**14)
        ]
        assert {"display_name": "Wolke", "link": "https://lotse.test/i/geheim"} in links
        old_lookup = contact_data.lookup_key_of(OLD)
        old_hashes = {a: contact_data.lookup_with(old_lookup, a) for a in ADDRESSES}
        assert await traces(db.main, old_hashes) == set()


async def test_rotation_reseals_every_value(database_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, database_url)
    assistant = load_config(config).assistant_mxid
    async with opened(database_url) as db:
        await _fill(db, assistant)
        before = await _key_ids(db)
        # The fill leaves a value under the old key in every table the rotation knows.
        assert {t for t, ids in before.items() if ids & {key_id(OLD), "v1"}} == SEALED_TABLES
    # An existing install getting its own sealing key: the old key is the pickle key.
    done = await _run(config, None, "--from-pickle-key")
    assert done.returncode == 0, done.stderr
    assert "done: every sealed value is under the new key" in done.stdout
    async with opened(database_url) as db:
        await _all_under_new(db, assistant)
    again = await _run(config, OLD)
    assert again.returncode == 0, again.stderr
    assert "nothing to re-seal" in again.stdout


async def test_rotation_killed_halfway_resumes(database_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, database_url)
    assistant = load_config(config).assistant_mxid
    async with opened(database_url) as db:
        await _fill(db, assistant)
    env = {**os.environ, "LOTSE_OLD_SEALING_KEY": OLD}
    args = [sys.executable, "-m", "appservice", "rotate-key", "-c", str(config)]
    args += ["--batch-size", "1", "--pause", "0.5"]
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        assert line, (await proc.stderr.read()).decode() if proc.stderr else "no output"
        if "batch committed" in line:
            break
    proc.send_signal(signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL
    async with opened(database_url) as db:
        ids = set().union(*(await _key_ids(db)).values())
        # Killed halfway: values under both keys side by side.
        assert key_id(NEW) in ids and (key_id(OLD) in ids or "v1" in ids), ids
    done = await _run(config, OLD)
    assert done.returncode == 0, done.stderr
    async with opened(database_url) as db:
        await _all_under_new(db, assistant)


async def test_wrong_old_key_or_running_lotse_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, database_url)
    assistant = load_config(config).assistant_mxid
    async with opened(database_url) as db:
        await _fill(db, assistant)
        before = await _snapshot(db)
    wrong = await _run(config, "not the old key")
    assert wrong.returncode == 2
    assert "wrong old key" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    cfg = load_config(config)
    with socket.create_server((cfg.appservice.hostname, cfg.appservice.port)):
        running = await _run(config, OLD)
    assert running.returncode == 2
    assert "either stop Lotse" in running.stderr
    async with opened(database_url) as db:
        assert await _snapshot(db) == before
