"""Exactly-once commands: Lotse killed at random moments of a burst changes nothing twice."""

from __future__ import annotations

import asyncio
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from nio import MegolmEvent, RoomMessageNotice, RoomMessagesResponse

from appservice.app import LotseApp
from appservice.dev.client import Human, Seen, ask
from appservice.sealing import sealer
from bots.records.notes import _context as note_context
from tests.conftest import Lotse, MakeHuman, Stack
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse

BURST = 30
KILLS = 5


class LotseProcess:
    """``python -m appservice run`` on the session's config, as an operator runs it."""

    def __init__(self, stack: Stack, log: Path) -> None:
        self.config = stack.directory / "config.yaml"
        self.port = stack.cfg.appservice.port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"--- start {self.starts}\n")
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "appservice", "run", "-c", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    async def healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{self.port}/health") as resp:
                        if resp.status == 200:
                            return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "Lotse did not become healthy"
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _send(human: Human, room_id: str, text: str) -> str:
    """Send without syncing first: a burst as fast as a client can type it."""
    resp = await human.client.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": text},
        ignore_unverified_devices=True,
    )
    event_id = getattr(resp, "event_id", None)
    assert event_id, resp
    return str(event_id)


async def _history(human: Human, room_id: str, sender: str) -> list[Seen]:
    """Every event ``sender`` sent to the room, from the server's history (decrypted by the
    person's client): a sync shows only the last few events of a busy room."""
    seen: list[Seen] = []
    token: str | None = None
    while True:
        resp = await human.client.room_messages(room_id, start=token, limit=100)
        assert isinstance(resp, RoomMessagesResponse), resp
        for event in resp.chunk:
            if event.sender != sender or not isinstance(event, RoomMessageNotice | MegolmEvent):
                continue
            content = event.source.get("content", {})
            reply_to = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id", "")
            kind = "notice" if isinstance(event, RoomMessageNotice) else "undecryptable"
            body = getattr(event, "body", "")
            seen.append(Seen(room_id, event.event_id, sender, kind, body, True, reply_to=reply_to))
        if not resp.chunk or not resp.end or resp.end == token:
            return seen
        token = resp.end


async def test_note_burst_with_kills_stores_and_answers_each_command_once(
    stack: Stack, lotse: Lotse, running: LotseApp, make_human: MakeHuman, tmp_path: Path
) -> None:
    """A counsellor sends 30 `note` commands while Lotse (a real process) is SIGKILLed at
    random moments and restarted at once, five times: afterwards each note is stored exactly
    once and each command has exactly one reply (issue 9, point 8).

    Without the command record, a kill after the note was written and before the event was
    marked handled stores that note a second time on the restart."""
    bot = running.cfg.assistant_mxid
    counsellor = await make_human("notizfeuer", centre="nord", role="counsellor")
    client = await make_human("notizziel", centre="nord", role="client")
    room = await _service_room(counsellor, bot)
    await counsellor.sync()
    tag = secrets.token_hex(3)
    texts = [f"Notiz {i:02d} {tag}" for i in range(BURST)]

    await lotse.stop()
    lotse_process = LotseProcess(stack, tmp_path / "lotse.log")
    rng = random.Random()
    commands: list[str] = []
    try:
        lotse_process.start()
        await lotse_process.healthy()
        chunks = [texts[i::KILLS] for i in range(KILLS)]
        for chunk in chunks:
            for text in chunk:
                commands.append(await _send(counsellor, room, f"note {client.user_id} {text}"))
            # Somewhere while the chunk (and what is left of earlier ones) is being handled.
            await asyncio.sleep(rng.uniform(0.0, 1.2))
            lotse_process.kill()
            lotse_process.start()
            await lotse_process.healthy()

        async def answered() -> Counter[str]:
            return Counter(
                e.reply_to for e in await _history(counsellor, room, bot) if e.reply_to in commands
            )

        deadline = time.monotonic() + 120
        while len(await answered()) < BURST:
            assert time.monotonic() < deadline, f"answers: {await answered()}"
            await asyncio.sleep(1)
        # Marker: once `hilfe` is answered, every earlier event of this room was handled.
        await ask(counsellor, room, bot, "hilfe", timeout=60)
        history = await _history(counsellor, room, bot)
    finally:
        lotse_process.stop()
        await lotse.start()

    assert lotse_process.starts == KILLS + 1
    assert all(e.kind == "notice" for e in history), "a reply the counsellor cannot read"
    per_command = Counter(e.reply_to for e in history if e.reply_to in commands)
    assert sorted(per_command.values()) == [1] * BURST, per_command
    # The session's app was stopped and started again: its new database holds the notes.
    assert lotse.app is not None
    notes = await lotse.app.rows.ClientNote.for_client("nord", client.user_id)
    opener = sealer(stack.cfg.encryption.sealing_key, "client notes")
    stored = Counter(opener.open(n.sealed_text, note_context(client.user_id)) for n in notes)
    assert stored == Counter(texts), stored - Counter(texts)
