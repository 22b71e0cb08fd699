"""Encrypted `help` round trip through Lotse, against a person-to-person baseline.

Run: ``.venv/bin/python benchmarks/help_roundtrip.py [ROUNDS]``. Starts a throw-away Synapse and
Lotse in a temp folder, then measures with two matrix-nio clients (E2EE):

- baseline: person A sends an encrypted message, person B's client receives and decrypts it;
- lotse: a person sends `help`, the assistant decrypts, answers encrypted, the client decrypts.

Both go through the same Synapse in the same run, so the ratio says what Lotse adds.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from appservice.app import LotseApp, setup_logging
from appservice.dev.client import Human
from appservice.dev.stack import start_synapse, write_stack_config
from appservice.dev.synapse_runner import free_port

CENTRES = """centres:
    - id: bench
      name: Benchmark
      language: en
      admins: []
"""


async def _timed(coro_factory, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await coro_factory()
        times.append((time.perf_counter() - start) * 1000)
    return times


async def main(rounds: int) -> None:
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cfg = write_stack_config(
            directory, hs_port=free_port(), as_port=free_port(), centres_yaml=CENTRES
        )
        synapse = await start_synapse(directory, cfg)
        app = LotseApp(cfg)
        await app.start()
        try:
            base, secret, domain = synapse.base_url, synapse.shared_secret, cfg.homeserver.domain
            a = await Human.create(base, secret, domain, "bench-a", directory / "a")
            b = await Human.create(base, secret, domain, "bench-b", directory / "b")
            await app.assistant.directory.register(a.user_id, "bench", "client")
            bot = cfg.assistant_mxid

            # Baseline room between two people.
            room = await a.open_dm(b.user_id)
            await b.join_invite()
            await a.wait_member(room, b.user_id)

            async def person_to_person() -> None:
                before = len([s for s in b.seen if s.room_id == room and s.kind == "text"])
                await a.send(room, "ping")
                await b.wait_until(
                    lambda: (
                        len([s for s in b.seen if s.room_id == room and s.kind == "text"]) > before
                    ),
                    30,
                    "ping",
                )

            service = await a.service_room(bot)
            await a.next_notice(service, bot, 0)  # the welcome

            async def help_round_trip() -> None:
                before = len(a.notices(service, bot))
                await a.send(service, "help")
                await a.next_notice(service, bot, before)

            await person_to_person()  # warm up both paths (olm sessions, key sharing)
            await help_round_trip()
            baseline = await _timed(person_to_person, rounds)
            lotse = await _timed(help_round_trip, rounds)
            await a.close()
            await b.close()
        finally:
            await app.stop()
            await synapse.stop()

    def row(name: str, values: list[float], ref: list[float]) -> str:
        p50, ref50 = statistics.median(values), statistics.median(ref)
        p95 = sorted(values)[max(0, int(len(values) * 0.95) - 1)]
        return f"| {name:<28} | {p50:8.1f} | {p95:8.1f} | {p50 / ref50:6.2f} |"

    print(f"\nEncrypted round trips, {rounds} rounds each (ms)\n")
    print(f"| {'path':<28} | {'p50':>8} | {'p95':>8} | {'ratio':>6} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
    print(row("baseline: person to person", baseline, baseline))
    print(row("lotse: help and answer", lotse, baseline))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
