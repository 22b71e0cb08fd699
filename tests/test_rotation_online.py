"""``lotse rotate-key`` while Lotse runs (issue 12, point 5), on SQLite and PostgreSQL.

Lotse here is its own row code in this process with both keys configured (``sealing_key`` the
new one, the old one in ``previous_sealing_keys``) and a listener on its port; rotate-key runs
as a real process beside it. Meanwhile Lotse keeps writing (new notes, a note and the client's
phone re-sealed again and again) and reading (every note, the client's address, the lookup by
address): every read succeeds, also with values under both keys side by side. Afterwards every
value names the new key and Lotse finds everything with the new key alone. A row Lotse rewrote
between the run's read and its write is left as Lotse wrote it (compare-and-set).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from appservice.config import load_config
from appservice.config_render import set_scalar
from appservice.contact_data import ContactData
from appservice.rotation import TABLES, Rotation, _keyset, _update, rotate
from appservice.sealing import key_id, sealer
from bots.records.notes import NOTE_PURPOSE
from bots.records.notes import _context as note_context
from mailgateway.rows import MailRows
from tests.conftest import opened
from tests.test_contact_sealing_db import PHONE
from tests.test_erasure_db import ADDRESS, CENTRE, CLIENT, COUNSELLOR
from tests.test_rotation_db import NEW, OLD, _all_under_new, _config, _fill, _key_ids


def _online_config(tmp_path: Path, url: str) -> Path:
    path = _config(tmp_path, url)
    text = path.read_text(encoding="utf-8")
    path.write_text(set_scalar(text, "encryption", "previous_sealing_keys", [OLD]), "utf-8")
    return path


async def _lotse_reads_everything(rows: MailRows) -> None:
    """What a running Lotse reads: each note, the client's contact data, the address lookup."""
    notes = await rows.ClientNote.for_client(CENTRE, CLIENT)
    box = sealer(NEW, NOTE_PURPOSE, rows.contact.previous)  # the config's previous keys
    for note in notes:
        assert box.open(note.sealed_text, note_context(CLIENT)) == f"note {note.id}"
    client = await rows.Person.get(CLIENT)
    assert client is not None and client.email == ADDRESS and client.phone == PHONE
    assert CLIENT in await rows.Preferences.people_with_address(ADDRESS.upper())


async def _lotse_writes(rows: MailRows, round_: int) -> None:
    """What a running Lotse writes: sealed with the new key only."""
    box = sealer(NEW, NOTE_PURPOSE)
    context = note_context(CLIENT)
    note_id = await rows.ClientNote.add(CENTRE, CLIENT, COUNSELLOR, box.seal("draft", context))
    assert await rows.ClientNote.edit(note_id, COUNSELLOR, box.seal(f"note {note_id}", context))
    # The older notes too (rows the run is about to re-seal), under its feet.
    for note in (await rows.ClientNote.for_client(CENTRE, CLIENT))[-2:]:
        sealed = box.seal(f"note {note.id}", context)
        assert await rows.ClientNote.edit(note.id, note.author_id, sealed)
    client = await rows.Person.get(CLIENT)
    assert client is not None
    await client.set_account(phone=PHONE)


async def test_rotation_while_lotse_runs(database_url: str, tmp_path: Path) -> None:
    config = _online_config(tmp_path, database_url)
    cfg = load_config(config)
    assert cfg.encryption.previous_sealing_keys == (OLD,)
    async with opened(database_url) as db:
        await _fill(db, cfg.assistant_mxid)
        # Lotse restarted with both keys: it listens on its port and reads with either key.
        keys = ContactData(NEW, cfg.encryption.previous_sealing_keys)
        async with opened(database_url, keys) as lotse:
            with socket.create_server((cfg.appservice.hostname, cfg.appservice.port)):
                await _lotse_reads_everything(MailRows(lotse))
                env = {**os.environ, "LOTSE_OLD_SEALING_KEY": OLD}
                args = [sys.executable, "-m", "appservice", "rotate-key", "-c", str(config)]
                proc = await asyncio.create_subprocess_exec(
                    *args, "--batch-size", "1", "--pause", "0.05", env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                rounds = mixed = 0
                while proc.returncode is None:
                    await _lotse_writes(MailRows(lotse), rounds)
                    await _lotse_reads_everything(MailRows(lotse))
                    ids = set().union(*(await _key_ids(db)).values())
                    mixed += key_id(NEW) in ids and bool(ids & {key_id(OLD), "v1"})
                    rounds += 1
                    try:
                        await asyncio.wait_for(asyncio.shield(proc.wait()), 0.01)
                    except TimeoutError:
                        pass
                out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            assert "done: every sealed value is under the new key" in out.decode()
            # Lotse read and wrote while values under both keys lay side by side.
            assert mixed >= 3, (mixed, rounds)
            await _lotse_reads_everything(MailRows(lotse))
        # Every value under the new key; Lotse finds everything with the new key alone
        # (the previous key removed from the config).
        await _all_under_new(db, cfg.assistant_mxid)


async def test_reseal_never_overwrites_a_newer_value(database_url: str, tmp_path: Path) -> None:
    cfg = load_config(_online_config(tmp_path, database_url))
    notes = next(t for t in TABLES if t.name == "client_note")
    people = next(t for t in TABLES if t.name == "person")
    async with opened(database_url) as db:
        await _fill(db, cfg.assistant_mxid)
        rot = Rotation(OLD, NEW, cfg.assistant_mxid)
        query, args = _keyset(notes, None, 2)
        read = (await db.main.fetch(query, *args))[1]
        query, args = _keyset(people, None, 100)
        person = next(r for r in await db.main.fetch(query, *args) if r["user_id"] == CLIENT)
        # Lotse (both keys) writes the note and the phone between the run's read and write.
        async with opened(database_url, ContactData(NEW, (OLD,))) as lotse:
            box = sealer(NEW, NOTE_PURPOSE)
            newer = box.seal("written by Lotse meanwhile", note_context(read["client_id"]))
            q = "SELECT author_id FROM client_note WHERE id=$1"
            author = await db.main.fetchval(q, read["id"])
            assert await lotse.rows.ClientNote.edit(read["id"], author, newer)
            client = await lotse.rows.Person.get(CLIENT)
            assert client is not None
            await client.set_account(phone="+49 30 999")
        for table, row in ((notes, read), (people, person)):
            changes = table.plan(rot, row)
            assert changes, table.name
            async with db.main.acquire() as conn:
                assert not await _update(conn, table, row, changes), table.name
        stored = await db.main.fetchval(
            "SELECT sealed_text FROM client_note WHERE id=$1", read["id"]
        )
        assert stored == newer
        async with opened(database_url, ContactData(NEW, (OLD,))) as lotse:
            client = await lotse.rows.Person.get(CLIENT)
            assert client is not None and client.phone == "+49 30 999"
            assert client.email == ADDRESS
    assert OLD not in repr(cfg.encryption)  # a key is never printed


async def test_bounces_counted_during_the_run_are_kept(database_url: str, tmp_path: Path) -> None:
    """The bounce table is keyed by the hash alone: a bounce Lotse counts under the new hash
    while the old row still waits for the run is added to it, not lost."""
    cfg = load_config(_online_config(tmp_path, database_url))
    async with opened(database_url) as db:
        await _fill(db, cfg.assistant_mxid)
        async with opened(database_url, ContactData(NEW, (OLD,))) as lotse:
            # The fill's one bounce lies under the old hash: a running Lotse still sees that
            # the address bounces (no mail goes to it).
            await db.main.execute("UPDATE mail_address SET status='bouncing'")
            assert await MailRows(lotse).MailAddress.is_bouncing(ADDRESS) is True
            assert (
                await MailRows(lotse).MailAddress.get(ADDRESS) is None
            )  # nothing under the new hash yet
            await MailRows(lotse).MailAddress.record_hard_bounce(ADDRESS)
            report = await rotate(
                database_url, Rotation(OLD, NEW, cfg.assistant_mxid), progress=str
            )
            assert report.dropped_bounce_records == 0
        async with opened(database_url, ContactData(NEW)) as lotse:
            bounced = await MailRows(lotse).MailAddress.get(ADDRESS)
            assert bounced is not None and bounced.hard_bounces == 2
            assert bounced.status == "bouncing" and bounced.last_bounce_at is not None
        assert set().union(*(await _key_ids(db)).values()) == {key_id(NEW)}
