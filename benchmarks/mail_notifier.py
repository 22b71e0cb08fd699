"""Benchmark: what the new-message notifier adds per observed room event.

Run: ``python benchmarks/mail_notifier.py [EVENTS]``. Every room event Lotse receives is
written to the durable inbox first; that single insert is the baseline, measured in the
same run on the same database. The notifier then looks up the room's joined members
(mautrix's state store) and upserts one ``room_notice`` row per other member plus the
writer's own read mark. Issue 5's target: under 2 ms per observed event. Read receipts are
measured too (one receipt applied as it arrives in a transaction). SQLite by default; set
``LOTSE_BENCH_POSTGRES=postgresql://…/db`` to run on PostgreSQL as well.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mautrix.appservice.state_store.asyncpg import PgASStateStore  # noqa: E402
from mautrix.types import Event, EventType, Membership, RoomID, UserID  # noqa: E402

from appservice.config import load_config_text  # noqa: E402
from appservice.contact_data import ContactData
from appservice.db import LotseDatabase  # noqa: E402
from mailgateway.digest import RoomNotifier  # noqa: E402
from mailgateway.notices import MailNotices  # noqa: E402
from mailgateway.rows import MailRows

DOMAIN = "lotse.bench"
ROOMS = 50
CONFIG = "appservice: {as_token: a, hs_token: b}\nencryption: {pickle_key: p}\n"


def raw_event(room: int, sender: str, n: int) -> dict[str, Any]:
    return {
        "type": "m.room.encrypted",
        "room_id": f"!room{room}:{DOMAIN}",
        "sender": sender,
        "event_id": f"${secrets.token_urlsafe(16)}",
        "origin_server_ts": 1_700_000_000_000 + n,
        "content": {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": secrets.token_urlsafe(96),
            "session_id": "S" * 43,
            "device_id": "DEVICE",
            "sender_key": "K" * 43,
        },
    }


def as_event(raw: dict[str, Any]) -> Event:
    evt = Event.deserialize(dict(raw))
    evt.type = evt.type.with_class(EventType.Class.MESSAGE)
    return evt


async def timed(items: list[Any], step: Callable[[Any], Awaitable[Any]]) -> list[float]:
    """Milliseconds per item, one at a time (as the inbox worker hands them over)."""
    times = []
    for item in items:
        started = time.perf_counter()
        await step(item)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def run(url: str, n: int) -> list[tuple[str, list[float]]]:
    db = LotseDatabase(url, ContactData("lotse benchmark contact key"))
    await db.start()
    try:
        cfg = load_config_text(CONFIG, Path(tempfile.gettempdir()) / "bench.yaml")
        state = PgASStateStore(db.state_db)
        steward, assistant = cfg.steward_mxid, cfg.assistant_mxid
        people: list[tuple[str, str]] = []
        for room in range(ROOMS):
            client, counsellor = f"@client{room}:{DOMAIN}", f"@counsellor{room}:{DOMAIN}"
            people.append((client, counsellor))
            for user in (steward, client, counsellor):
                await state.set_membership(
                    RoomID(f"!room{room}:{DOMAIN}"), UserID(user), Membership.JOIN
                )
        notifier = RoomNotifier(
            state,
            steward=steward,
            assistant=assistant,
            own_users={steward, assistant, cfg.sender_mxid},
            notices=MailNotices(cfg, MailRows(db)),
            window_minutes=60,
        )
        raws = [raw_event(i % ROOMS, people[i % ROOMS][i % 2], i) for i in range(n)]
        baseline = await timed(raws, lambda raw: db.rows.Inbox.add_many([raw]))
        events = [as_event(raw) for raw in raws]
        observed = await timed(events, notifier.observe)
        receipts = [
            [
                {
                    "type": "m.receipt",
                    "room_id": raw["room_id"],
                    "content": {
                        raw["event_id"]: {
                            "m.read": {
                                people[i % ROOMS][(i + 1) % 2]: {"ts": raw["origin_server_ts"] + 1}
                            }
                        }
                    },
                }
            ]
            for i, raw in enumerate(raws)
        ]
        read = await timed(receipts, notifier.receive_ephemeral)
        return [
            ("baseline: inbox insert of the event", baseline),
            ("notifier: observe the event", observed),
            ("notifier: apply its read receipt", read),
        ]
    finally:
        await db.stop()


def table(backend: str, rows: list[tuple[str, list[float]]]) -> None:
    base = statistics.mean(rows[0][1])
    print(f"\n{backend}: {len(rows[0][1])} events in {ROOMS} rooms (client + counsellor + steward)")
    print(f"| {'what':<38} | {'mean ms':>8} | {'p50 ms':>7} | {'p95 ms':>7} | {'ratio':>6} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    for what, times in rows:
        ordered = sorted(times)
        mean = statistics.mean(times)
        p50 = ordered[len(ordered) // 2]
        p95 = ordered[int(len(ordered) * 0.95)]
        print(f"| {what:<38} | {mean:>8.3f} | {p50:>7.3f} | {p95:>7.3f} | {mean / base:>6.2f} |")


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table("SQLite", await run(f"sqlite:{Path(tmp) / 'bench.db'}", n))
    url = os.environ.get("LOTSE_BENCH_POSTGRES")
    if url:
        table("PostgreSQL", await run(url, n))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(asyncio.wait_for(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000), 300))
