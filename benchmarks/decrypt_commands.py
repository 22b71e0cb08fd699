"""Benchmark: encrypted commands decrypted, answered and encrypted back, against raw megolm.

Run: ``.venv/bin/python benchmarks/decrypt_commands.py [COMMANDS]``. Starts a throw-away
Synapse and Lotse (SQLite) in a temp folder; a matrix-nio client (a client of the centre)
opens its service room and sends one real ``help`` so that both room keys are shared. Then
the client encrypts COMMANDS more ``help`` commands locally (megolm, as its device would) and
each goes through the assistant's own path for an encrypted event: who speaks (database),
decryption with the assistant's device, the command inside its exactly-once transaction
(outcome recorded, sealed), and the answer encrypted for the room (a new room key shared
through Synapse every 100 answers, as in production). Only the final HTTP send to Synapse is
left out: Synapse's own rate (about 55 events/s from one sender here) is not Lotse's.

Baseline in the same run: python-olm alone decrypting as many megolm messages and encrypting
as many answers of the same size. Lotse is pinned to one core, Synapse runs on the other.
Issue 13's target: ≥ 1,000 commands/s.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import olm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mautrix.types import Event, EventType, RoomID  # noqa: E402

from appservice.app import LotseApp, setup_logging  # noqa: E402
from appservice.dev.client import Human  # noqa: E402
from appservice.dev.stack import start_synapse, write_stack_config  # noqa: E402
from appservice.dev.synapse_runner import free_port  # noqa: E402
from appservice.once import Outgoing  # noqa: E402

CENTRES = """centres:
    - id: bench
      name: Benchmark
      language: en
      admins: []
"""
CAP_SECONDS = 600


def raw_olm(n: int, command: dict[str, Any], answer: dict[str, Any]) -> float:
    """Seconds python-olm needs to decrypt n commands and encrypt n answers."""
    person = olm.OutboundGroupSession()
    inbound = olm.InboundGroupSession(person.session_key)
    ciphertexts = [person.encrypt(json.dumps(command)) for _ in range(n)]
    reply = olm.OutboundGroupSession()
    answer_text = json.dumps(answer)
    started = time.perf_counter()
    for ciphertext in ciphertexts:
        json.loads(inbound.decrypt(ciphertext)[0])
        reply.encrypt(answer_text)
    return time.perf_counter() - started


async def main(n: int) -> None:
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cfg = write_stack_config(
            directory, hs_port=free_port(), as_port=free_port(), centres_yaml=CENTRES
        )
        synapse = await start_synapse(directory, cfg)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        app = LotseApp(cfg)
        await app.start()
        try:
            base, secret, domain = synapse.base_url, synapse.shared_secret, cfg.homeserver.domain
            person = await Human.create(base, secret, domain, "bench-c", directory / "c")
            await app.assistant.directory.register(person.user_id, "bench", "client")
            bot = cfg.assistant_mxid
            room = await person.service_room(bot)
            await person.next_notice(room, bot, 0)  # the welcome
            before = len(person.notices(room, bot))
            await person.send(room, "help")
            answer = await person.next_notice(room, bot, before)
            # The person's device keeps one room key for the whole run (the assistant's own
            # rotates as configured); the messages are encrypted before the clock starts.
            person.client.olm.outbound_group_sessions[room].max_messages = n + 10
            command = {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "help"}}
            events = []
            for i in range(n):
                content = person.client.olm.group_encrypt(room, dict(command))
                raw = {
                    "type": "m.room.encrypted",
                    "room_id": room,
                    "sender": person.user_id,
                    "event_id": f"$bench{i}-{secrets.token_hex(8)}",
                    "origin_server_ts": int(time.time() * 1000),
                    "content": content,
                }
                evt = Event.deserialize(raw)
                evt.type = evt.type.with_class(EventType.Class.MESSAGE)
                events.append(evt)
            answers: list[dict[str, Any]] = []
            assistant = app.assistant

            async def encrypt_only(item: Outgoing) -> None:
                """What the assistant does before its HTTP send: check the room, encrypt."""
                room_id = RoomID(item.room_id)
                allowed = await assistant.private_rooms.check(room_id, None)
                event_type = EventType.find(item.event_type, EventType.Class.MESSAGE)
                answers.append(
                    (
                        await assistant.device.encrypt(
                            room_id, event_type, item.content, allowed=allowed
                        )
                    ).serialize()
                )

            assistant._post = encrypt_only  # type: ignore[method-assign]
            # LOTSE_BENCH_PROFILE=FILE: the Lotse part under cProfile (see pstats), slower.
            profile = cProfile.Profile() if os.environ.get("LOTSE_BENCH_PROFILE") else None
            started = time.perf_counter()
            cpu = time.process_time()
            if profile is not None:
                profile.enable()
            for evt in events:
                await assistant.handle_event(evt)
            if profile is not None:
                profile.disable()
                profile.dump_stats(os.environ["LOTSE_BENCH_PROFILE"])
            lotse = time.perf_counter() - started
            lotse_cpu = time.process_time() - cpu
            assert len(answers) == n, len(answers)
            reply = {"type": "m.room.message", "content": {"body": answer.body, "room_id": room}}
            olm_seconds = raw_olm(n, {**command, "room_id": room}, reply)
            await person.close()
        finally:
            await app.stop()
            await synapse.stop()
    print(f"\n{n} encrypted `help` commands, one after another; Lotse on one core\n")
    print(f"| {'what':<52} | {'seconds':>7} | {'per s':>7} | {'slower':>6} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    print(
        f"| {'baseline: python-olm decrypt + encrypt only':<52} | {olm_seconds:>7.2f} | "
        f"{n / olm_seconds:>7.0f} | {'':>6} |"
    )
    what = "Lotse: decrypt, answer (exactly once), encrypt"
    print(f"| {what:<52} | {lotse:>7.2f} | {n / lotse:>7.0f} | {lotse / olm_seconds:>5.0f}x |")
    print(f"Lotse CPU time {lotse_cpu:.2f} s ({lotse_cpu / n * 1000:.2f} ms per command)")


if __name__ == "__main__":
    asyncio.run(
        asyncio.wait_for(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000), CAP_SECONDS)
    )
