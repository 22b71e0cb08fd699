"""Benchmark: N clients ask for counselling at once, against the same Matrix calls made bare.

Run: ``.venv/bin/python benchmarks/intake_load.py [CLIENTS ...]`` (default 50). Starts a
throw-away Synapse (SQLite) and Lotse as its own process (``python -m appservice run``), so
that Lotse's CPU time is its own and not the scripted clients'. A centre with automatic
assignment and one counsellor online; N matrix-nio clients (E2EE) in their service rooms.

- lotse: every client sends ``anfrage`` at the same moment, waits for the triage question,
  answers ``1`` (chat) and waits for the confirmation; measured is the time from the client's
  first event to the counsellor's client seeing the invitation to that client's counselling
  room (matched by the room the client is invited to as well).
- baseline, same Synapse, same run: a stand-in "assistant" person (one matrix-nio device)
  answers each client's encrypted ``anfrage`` with one encrypted message, and its ``1`` by
  creating an encrypted room with the client and the counsellor invited and one encrypted
  message: the two round trips and the room creation the flow cannot do without.

Also reported: CPU seconds of Lotse, Synapse and the scripted clients during the timed
window (from /proc), and the Matrix events each intake costs, counted in Synapse's database
by type and sender, with the events pushed to Lotse (its inbox rows).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nio import RoomCreateResponse, RoomPreset  # noqa: E402
from nio.event_builders import EnableEncryptionBuilder  # noqa: E402

from appservice.app import LotseApp, setup_logging  # noqa: E402
from appservice.config import Config  # noqa: E402
from appservice.dev.client import Human, ask  # noqa: E402
from appservice.dev.stack import start_synapse, write_stack_config  # noqa: E402
from appservice.dev.synapse_runner import SynapseProcess, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CENTRES = """centres:
    - id: bench
      name: Benchmark
      language: en
      admins: []
      settings:
          automatic_assignment: true
"""
TIMEOUT = 600
SETUP_AT_ONCE = 20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def synapse_pid(synapse: SynapseProcess) -> int:
    proc = synapse._proc
    assert proc is not None
    return proc.pid


def events_since(db: Path, stream: int) -> tuple[int, Counter[tuple[str, str]]]:
    """Synapse's newest stream position and the events after ``stream``, by (type, sender)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(
            "SELECT type, sender FROM events WHERE stream_ordering > ?", (stream,)
        ).fetchall()
        top = conn.execute("SELECT COALESCE(MAX(stream_ordering), 0) FROM events").fetchone()[0]
    return int(top), Counter((t, s) for t, s in rows)


def inbox_rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM event_inbox").fetchone()[0])


class Invites:
    """When the counsellor's client first saw each invitation (perf_counter seconds)."""

    def __init__(self, human: Human) -> None:
        self.human = human
        self.at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            await self.human.sync(timeout_ms=1000)
            now = time.perf_counter()
            for room_id in self.human.invites:
                self.at.setdefault(room_id, now)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def wait(self, room_id: str) -> float:
        while room_id not in self.at:
            await asyncio.sleep(0.05)
        return self.at[room_id]


async def new_invite(human: Human, known: set[str]) -> str:
    """The first room the person is invited to that is not in ``known``."""
    return str(
        await human.wait_until(
            lambda: next((r for r in human.invites if r not in known), None), TIMEOUT, "invite"
        )
    )


async def lotse_intake(client: Human, room: str, bot: str, invites: Invites) -> float:
    known = set(client.invites)
    started = time.perf_counter()
    await ask(client, room, bot, "anfrage", TIMEOUT)
    await ask(client, room, bot, "1", TIMEOUT)
    counselling = await new_invite(client, known)
    return (await invites.wait(counselling)) - started


class StandIn:
    """The bare baseline's "assistant": a person answering over plain Matrix calls."""

    def __init__(self, human: Human, counsellor: str) -> None:
        self.human = human
        self.counsellor = counsellor
        self.rooms: dict[str, str] = {}  # room -> client
        self._handled: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    async def say(self, room: str, text: str) -> None:
        await self.human.client.room_send(
            room,
            "m.room.message",
            {"msgtype": "m.text", "body": text},
            ignore_unverified_devices=True,
        )

    async def _answer(self, room: str, text: str) -> None:
        if text == "anfrage":
            await self.say(room, "question: 1. chat 2. mail")
            return
        resp = await self.human.client.room_create(
            invite=[self.rooms[room], self.counsellor],
            preset=RoomPreset.private_chat,
            initial_state=[EnableEncryptionBuilder().as_dict()],
        )
        assert isinstance(resp, RoomCreateResponse), resp
        await self.say(room, "confirmed")

    async def _loop(self) -> None:
        while True:
            await self.human.sync(timeout_ms=1000)
            for seen in self.human.seen:
                if (
                    seen.room_id in self.rooms
                    and seen.kind == "text"
                    and seen.sender == self.rooms[seen.room_id]
                    and seen.event_id not in self._handled
                ):
                    self._handled.add(seen.event_id)
                    task = asyncio.create_task(self._answer(seen.room_id, seen.body))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        assert self._loop_task is not None
        self._loop_task.cancel()
        try:
            await self._loop_task
        except asyncio.CancelledError:
            pass


async def bare_intake(client: Human, room: str, stand_in: str, invites: Invites) -> float:
    known = set(client.invites)
    started = time.perf_counter()

    def answers() -> int:
        return len([s for s in client.seen if s.room_id == room and s.sender == stand_in])

    for text in ("anfrage", "1"):
        before = answers()
        await client.send(room, text)
        await client.wait_until(
            lambda before=before: answers() > before,  # type: ignore[misc]
            TIMEOUT,
            "the stand-in's answer",
        )
    counselling = await new_invite(client, known)
    return (await invites.wait(counselling)) - started


def start_lotse(directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "appservice", "run", "-c", str(directory / "config.yaml")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(directory / "lotse.log", "wb"),  # noqa: SIM115 - closed with the process
    )


async def wait_healthy(cfg: Config, proc: subprocess.Popen[bytes]) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{cfg.appservice.port}/health"
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError("Lotse exited at start; see lotse.log")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("Lotse did not become healthy")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def run(n: int) -> None:
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cfg = write_stack_config(
            directory, hs_port=free_port(), as_port=free_port(), centres_yaml=CENTRES
        )
        synapse = await start_synapse(directory, cfg)
        lotse: subprocess.Popen[bytes] | None = None
        humans: list[Human] = []
        try:
            base, secret, domain = synapse.base_url, synapse.shared_secret, cfg.homeserver.domain
            bot = cfg.assistant_mxid
            names = [f"klient{i}" for i in range(n)]
            # Who is who, written by Lotse itself before it runs as its own process.
            app = LotseApp(cfg)
            await app.start()
            for name in names:
                await app.assistant.directory.register(f"@{name}:{domain}", "bench", "client")
            await app.assistant.directory.register(f"@berater:{domain}", "bench", "counsellor")
            await app.stop()
            lotse = start_lotse(directory)
            await wait_healthy(cfg, lotse)

            counsellor = await Human.create(base, secret, domain, "berater", directory / "b")
            stand_in_human = await Human.create(base, secret, domain, "standin", directory / "s")
            humans += [counsellor, stand_in_human]
            # Set-up is not timed: a few at a time, or 200 logins at once time out in Synapse.
            setup = asyncio.Semaphore(SETUP_AT_ONCE)

            async def login(name: str) -> Human:
                async with setup:
                    return await Human.create(base, secret, domain, name, directory / name)

            clients = list(await asyncio.gather(*(login(nm) for nm in names)))
            humans += clients
            await counsellor.service_room(bot, TIMEOUT)

            async def own_room(c: Human) -> str:
                async with setup:
                    room = await c.service_room(bot, TIMEOUT)
                    await c.next_notice(room, bot, 0, TIMEOUT)  # the welcome
                    return room

            rooms = await asyncio.gather(*(own_room(c) for c in clients))
            # The baseline's rooms: the stand-in and each client, joined, keys exchanged.
            stand_in = StandIn(stand_in_human, counsellor.user_id)
            for c in clients:
                resp = await stand_in_human.client.room_create(
                    invite=[c.user_id],
                    preset=RoomPreset.trusted_private_chat,
                    initial_state=[EnableEncryptionBuilder().as_dict()],
                )
                assert isinstance(resp, RoomCreateResponse), resp
                stand_in.rooms[resp.room_id] = c.user_id

            async def join_dm(c: Human) -> str:
                async with setup:
                    return await _join_dm(c)

            async def _join_dm(c: Human) -> str:
                room = next(r for r, who in stand_in.rooms.items() if who == c.user_id)
                await c.wait_until(lambda: room in c.invites, TIMEOUT, "the stand-in's room")
                c.invites.discard(room)
                await c.client.join(room)
                await c.sync()
                return room

            dms = await asyncio.gather(*(join_dm(c) for c in clients))
            await stand_in_human.sync()
            # As the assistant's welcome does: the stand-in's room key is shared beforehand.
            for room in dms:
                await stand_in.say(room, "welcome")

            invites = Invites(counsellor)
            invites.start()
            synapse_db = directory / "synapse" / "homeserver.db"
            lotse_db = directory / "lotse.db"

            async def window(what: str, coros: list) -> dict:  # type: ignore[type-arg]
                stream, _ = events_since(synapse_db, 1 << 62)
                inbox = inbox_rows(lotse_db)
                cpu = (cpu_seconds(lotse.pid), cpu_seconds(synapse_pid(synapse)))
                own = time.process_time()
                started = time.perf_counter()
                times = await asyncio.gather(*coros)
                wall = time.perf_counter() - started
                _, events = events_since(synapse_db, stream)
                return {
                    "what": what,
                    "times": list(times),
                    "wall": wall,
                    "lotse_cpu": cpu_seconds(lotse.pid) - cpu[0],
                    "synapse_cpu": cpu_seconds(synapse_pid(synapse)) - cpu[1],
                    "clients_cpu": time.process_time() - own,
                    "events": events,
                    "inbox": inbox_rows(lotse_db) - inbox,
                }

            lotse_run = await window(
                "lotse",
                [lotse_intake(c, r, bot, invites) for c, r in zip(clients, rooms, strict=True)],
            )
            stand_in.start()
            bare_run = await window(
                "bare",
                [
                    bare_intake(c, r, stand_in_human.user_id, invites)
                    for c, r in zip(clients, dms, strict=True)
                ],
            )
            await stand_in.stop()
            await invites.stop()
        finally:
            await asyncio.gather(*(h.close() for h in humans), return_exceptions=True)
            if lotse is not None:
                lotse.terminate()
                lotse.wait(30)
            await synapse.stop()
    report(n, lotse_run, bare_run, bot, counsellor.user_id, stand_in_human.user_id)


def report(n: int, lotse: dict, bare: dict, bot: str, counsellor: str, stand_in: str) -> None:  # type: ignore[type-arg]
    print(f"\n{n} clients at once: first event to the counsellor's invitation (s)\n")
    print(f"| {'path':<40} | {'p50':>6} | {'p99':>6} | {'wall':>6} | {'ratio':>5} |")
    print(f"|{'-' * 42}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 7}|")
    ref = statistics.median(bare["times"])
    for name, run in (("baseline: bare Matrix calls", bare), ("lotse: anfrage, 1, invite", lotse)):
        p50, p99 = statistics.median(run["times"]), percentile(run["times"], 0.99)
        print(
            f"| {name:<40} | {p50:>6.2f} | {p99:>6.2f} | {run['wall']:>6.1f} | {p50 / ref:>5.2f} |"
        )
    print(f"\nCPU seconds in the timed window ({n} intakes)\n")
    print(
        f"| {'path':<10} | {'Lotse':>7} | {'Synapse':>7} | {'clients':>7} | "
        f"{'Lotse ms/intake':>15} |"
    )
    print(f"|{'-' * 12}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 17}|")
    for name, run in (("baseline", bare), ("lotse", lotse)):
        print(
            f"| {name:<10} | {run['lotse_cpu']:>7.2f} | {run['synapse_cpu']:>7.2f} | "
            f"{run['clients_cpu']:>7.2f} | {run['lotse_cpu'] / n * 1000:>15.1f} |"
        )
    share = lotse["lotse_cpu"] / (lotse["lotse_cpu"] + lotse["synapse_cpu"])
    print(
        f"\nLotse's share of the server CPU (Lotse + Synapse): {share:.0%}; of the wall time "
        f"of the window: {lotse['lotse_cpu'] / lotse['wall']:.0%} of one core"
    )
    roles = {bot: "assistant", counsellor: "counsellor", stand_in: "stand-in"}
    print(f"\nMatrix events per intake (Synapse's database; {n} intakes)\n")
    print(f"| {'path':<8} | {'sender':<10} | {'type':<26} | {'per intake':>10} |")
    print(f"|{'-' * 10}|{'-' * 12}|{'-' * 28}|{'-' * 12}|")
    for name, run in (("baseline", bare), ("lotse", lotse)):
        by_role: Counter[tuple[str, str]] = Counter()
        for (kind, sender), count in run["events"].items():
            who = roles.get(sender, "client" if sender.startswith("@klient") else "steward")
            by_role[(who, kind)] += count
        for (who, kind), count in sorted(by_role.items()):
            print(f"| {name:<8} | {who:<10} | {kind:<26} | {count / n:>10.1f} |")
        total = sum(run["events"].values())
        print(f"| {name:<8} | {'all':<10} | {'':<26} | {total / n:>10.1f} |")
    print(f"\nEvents pushed to Lotse (inbox rows) per intake: {lotse['inbox'] / n:.1f}")


async def main(sizes: list[int]) -> None:
    for n in sizes:
        await asyncio.wait_for(run(n), TIMEOUT * 2)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [50]))
