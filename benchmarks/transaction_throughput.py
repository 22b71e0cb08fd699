"""Benchmark: appservice transactions PUT straight to Lotse, accepted and handled events/s.

Run: ``.venv/bin/python benchmarks/transaction_throughput.py [EVENTS] [MAX_INBOX_ROWS]``.
Starts a throw-away Synapse (SQLite) and Lotse (SQLite) in a temp folder and pins this
process (Lotse and the sending client) to one core; Synapse runs on the other. Transactions
of 100 items are PUT one after another, as Synapse sends them:

- mix: 45 messages in rooms Lotse does not know, 30 encrypted messages in steward-owned
  counselling rooms (the new-message notifier and the request lifecycle observe them),
  10 membership changes, 15 read receipts in counselling rooms (ephemeral, applied before
  the 200);
- plain: 100 messages in unknown rooms; encrypted: 100 encrypted counselling-room messages.

Accepted = events / time until the last 200; handled = events / time until the inbox has
nothing pending (the worker runs while the transactions arrive, as in production). The
baseline is a bare aiohttp endpoint in the same process that parses the same JSON and
answers 200. Then the inbox is filled with handled rows by bulk SQL and the mix is run again
at each size: the handled rate must not fall as the table grows (issue 13's target: ≥ 5,000
events/s handled for the mix on one core, flat up to 1,000,000 handled rows).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mautrix.types import Membership, RoomID, UserID  # noqa: E402

from appservice.app import LotseApp, setup_logging  # noqa: E402
from appservice.dev.stack import start_synapse, write_stack_config  # noqa: E402
from appservice.dev.synapse_runner import free_port  # noqa: E402

CENTRES = """centres:
    - id: bench
      name: Benchmark
      language: en
      admins: []
"""
DOMAIN_ROOMS = 200  # counselling rooms
PER_TXN = 100
CAP_SECONDS = 900


class Mix:
    """Synthetic events; ``kind`` picks the mix of every transaction."""

    def __init__(self, domain: str, steward: str) -> None:
        self.domain = domain
        self.steward = steward
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"$bench{self.n}-{secrets.token_hex(6)}"

    def _base(self, room: str, sender: str, kind: str) -> dict[str, Any]:
        return {
            "event_id": self._id(),
            "room_id": room,
            "type": kind,
            "sender": sender,
            "origin_server_ts": int(time.time() * 1000),
        }

    def counselling_room(self, i: int) -> str:
        return f"!counselling{i % DOMAIN_ROOMS}:{self.domain}"

    def people(self, i: int) -> tuple[str, str]:
        room = i % DOMAIN_ROOMS
        return f"@client{room}:{self.domain}", f"@counsellor{room}:{self.domain}"

    def plain(self) -> dict[str, Any]:
        evt = self._base(
            f"!elsewhere{self.n % 500}:{self.domain}", f"@someone{self.n % 97}:{self.domain}", ""
        )
        evt["type"] = "m.room.message"
        evt["content"] = {"msgtype": "m.text", "body": "nothing for Lotse " * 3}
        return evt

    def encrypted(self) -> dict[str, Any]:
        i = self.n
        evt = self._base(self.counselling_room(i), self.people(i)[i % 2], "m.room.encrypted")
        evt["content"] = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": secrets.token_urlsafe(180),
            "session_id": "S" * 43,
            "device_id": "DEVICE",
            "sender_key": "K" * 43,
        }
        return evt

    def member(self) -> dict[str, Any]:
        user = f"@joiner{self.n}:{self.domain}"
        evt = self._base(f"!elsewhere{self.n % 500}:{self.domain}", user, "m.room.member")
        evt["state_key"] = user
        evt["content"] = {"membership": "join", "displayname": "Joiner"}
        return evt

    def receipt(self, evt: dict[str, Any]) -> dict[str, Any]:
        i = self.n
        reader = self.people(i)[(i + 1) % 2]
        return {
            "type": "m.receipt",
            "room_id": evt["room_id"],
            "content": {evt["event_id"]: {"m.read": {reader: {"ts": int(time.time() * 1000)}}}},
        }

    def transaction(self, kind: str) -> tuple[dict[str, Any], int]:
        """A transaction body and the number of items (events + receipts) it counts for."""
        if kind == "plain":
            return {"events": [self.plain() for _ in range(PER_TXN)]}, PER_TXN
        if kind == "encrypted":
            return {"events": [self.encrypted() for _ in range(PER_TXN)]}, PER_TXN
        events = [self.plain() for _ in range(45)]
        events += [self.encrypted() for _ in range(30)]
        events += [self.member() for _ in range(10)]
        receipts = [self.receipt(events[45 + i]) for i in range(15)]
        return {"events": events, "de.sorunome.msc2409.ephemeral": receipts}, PER_TXN


async def put_all(url: str, token: str, bodies: list[bytes]) -> float:
    """PUT the transactions one after another; seconds until the last 200."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        for i, body in enumerate(bodies):
            txn = f"bench-{secrets.token_hex(4)}-{i}"
            async with http.put(
                f"{url}/_matrix/app/v1/transactions/{txn}", data=body, headers=headers
            ) as resp:
                assert resp.status == 200, (resp.status, await resp.text())
    return time.perf_counter() - started


async def baseline(bodies: list[bytes]) -> float:
    """A bare aiohttp endpoint that parses the same JSON and answers 200."""

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        assert isinstance(body.get("events"), list)
        return web.json_response({})

    app = web.Application(client_max_size=100 * 1024 * 1024)
    app.router.add_put("/_matrix/app/v1/transactions/{txn}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        return await put_all(f"http://127.0.0.1:{port}", "x", bodies)
    finally:
        await runner.cleanup()


async def pending_count(app: LotseApp) -> int:
    return int(await app.db.main.fetchval("SELECT COUNT(*) FROM event_inbox WHERE state='pending'"))


async def run_lotse(app: LotseApp, bodies: list[bytes]) -> tuple[float, float]:
    """(seconds until the last 200, seconds until the inbox is drained)."""
    started = time.perf_counter()
    accepted = await put_all(app.cfg.appservice.address, app.cfg.appservice.hs_token, bodies)
    while await pending_count(app):
        await asyncio.sleep(0.02)
    return accepted, time.perf_counter() - started


async def fill_handled(app: LotseApp, rows: int, start: int) -> None:
    """Add ``rows`` handled inbox rows in one bulk statement (what a long run leaves)."""
    now = int(time.time() * 1000)
    await app.db.main.execute(
        "WITH RECURSIVE c(x) AS (SELECT $1 UNION ALL SELECT x + 1 FROM c WHERE x < $2) "
        "INSERT INTO event_inbox (event_id, room_id, seq, received_at, state, handled_at) "
        "SELECT '$filler' || x, '!room' || (x % 5000) || ':bench', x, $3, 'handled', $3 FROM c",
        start,
        start + rows - 1,
        now,
    )


def bodies_of(mix: Mix, kind: str, events: int) -> tuple[list[bytes], int]:
    out, total = [], 0
    while total < events:
        body, count = mix.transaction(kind)
        out.append(json.dumps(body).encode())
        total += count
    return out, total


async def seed_counselling_rooms(app: LotseApp, mix: Mix) -> None:
    """Steward, client and counsellor joined (the notifier's test for a counselling room)."""
    for i in range(DOMAIN_ROOMS):
        room = RoomID(mix.counselling_room(i))
        for user in (mix.steward, *mix.people(i)):
            await app.state_store.set_membership(room, UserID(user), Membership.JOIN)


def row(what: str, events: int, secs: float, base_rate: float | None) -> str:
    rate = events / secs
    ratio = f"{base_rate / rate:.1f}x" if base_rate else ""
    return f"| {what:<46} | {events:>7} | {secs:>7.2f} | {rate:>8.0f} | {ratio:>6} |"


async def main(events: int, max_rows: int) -> None:
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cfg = write_stack_config(
            directory, hs_port=free_port(), as_port=free_port(), centres_yaml=CENTRES
        )
        synapse = await start_synapse(directory, cfg)
        # Synapse keeps the other core: Lotse and the sending client share one.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        app = LotseApp(cfg)
        await app.start()
        try:
            mix = Mix(cfg.homeserver.domain, cfg.steward_mxid)
            await seed_counselling_rooms(app, mix)
            lines = []
            warm, _ = bodies_of(mix, "mix", 1000)
            await run_lotse(app, warm)
            for kind in ("mix", "plain", "encrypted"):
                bodies, n = bodies_of(mix, kind, events)
                base = await baseline(bodies)
                accepted, handled = await run_lotse(app, bodies)
                lines.append(row(f"{kind}: bare aiohttp endpoint, json.loads", n, base, None))
                lines.append(row(f"{kind}: Lotse accepted (200 returned)", n, accepted, n / base))
                lines.append(row(f"{kind}: Lotse handled (inbox drained)", n, handled, n / base))
            curve = []
            size = int(await app.db.main.fetchval("SELECT COUNT(*) FROM event_inbox"))
            targets = [t for t in (100_000, 300_000, 1_000_000, 3_000_000) if t <= max_rows]
            bodies, n = bodies_of(mix, "mix", events)
            accepted, handled = await run_lotse(app, bodies)
            curve.append((size, n / accepted, n / handled, 0.0))
            next_id = 1
            for target in targets:
                size = int(await app.db.main.fetchval("SELECT COUNT(*) FROM event_inbox"))
                fill_started = time.perf_counter()
                await fill_handled(app, target - size, next_id)
                filled = time.perf_counter() - fill_started
                next_id += target - size
                size = int(await app.db.main.fetchval("SELECT COUNT(*) FROM event_inbox"))
                bodies, n = bodies_of(mix, "mix", events)
                accepted, handled = await run_lotse(app, bodies)
                curve.append((size, n / accepted, n / handled, filled))
        finally:
            await app.stop()
            await synapse.stop()
    print(f"\nTransactions of {PER_TXN} items, one after another; SQLite, Lotse on one core\n")
    print(f"| {'what':<46} | {'events':>7} | {'seconds':>7} | {'events/s':>8} | {'slower':>6} |")
    print(f"|{'-' * 48}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 8}|")
    print("\n".join(lines))
    print(f"\nThe mix as the inbox grows ({events} events per step)\n")
    print(f"| {'inbox rows':>10} | {'accepted/s':>10} | {'handled/s':>10} | {'fill s':>7} |")
    print(f"|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 9}|")
    for size, acc, han, filled in curve:
        print(f"| {size:>10} | {acc:>10.0f} | {han:>10.0f} | {filled:>7.1f} |")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    asyncio.run(asyncio.wait_for(main(n, rows), CAP_SECONDS))
