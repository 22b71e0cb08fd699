"""Benchmark: Lotse on the database of a whole federation of centres (SQLite).

Run: ``.venv/bin/python benchmarks/scale.py [FRACTION] [CONFIGURED]`` (default 1: 1,400
centres, 4,000 counsellors, 100,000 clients, 300,000 requests, a year of audit and mail
log; 0.1 is a tenth of each). A generator runs Lotse's migrations on a fresh SQLite
database, then fills its tables with bulk inserts (contact data sealed with the real
sealer, as Lotse stores it). The biggest centre has a tenth of all clients (10,000 at full
size), its own counsellors and admins and a share of requests, audit and mail log in
proportion.

Then a fresh process starts Synapse and Lotse on that database and reports the start-up
time, its RSS after the start and after the listings, and the p50/p99 of ``clients alle``
(the first page, page 150 and sorted by last login), ``requests`` and ``audit`` run through
the command path (``run_command``, as the assistant does after decryption) as an admin of
the biggest centre, against the SQL each of them runs for its page, bare, in the same
process (``SQL rows``: the rows of the page). Only the first CONFIGURED centres (default
20, the biggest among them) are in Lotse's config: see ``CONFIGURED`` for why.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appservice import contact_data  # noqa: E402
from appservice.app import LotseApp, setup_logging  # noqa: E402
from appservice.config import load_config  # noqa: E402
from appservice.db import LotseDatabase  # noqa: E402
from appservice.dev.stack import start_synapse, write_stack_config  # noqa: E402
from appservice.dev.synapse_runner import free_port  # noqa: E402
from bots.framework.dispatch import ROLE_BY_NAME, CommandContext, run_command  # noqa: E402

DOMAIN = "lotse.localhost"
FULL = {
    "centres": 1400,
    "counsellors": 4000,
    "clients": 100_000,
    "requests": 300_000,
    "audit": 400_000,  # a year: about 1,100 admin actions a day across the federation
    "mails": 300_000,  # a year of notifications, sent and kept in the mail log
}
BIG = "c0000"
# Centres in the config: at every start Lotse makes sure of three Matrix rooms per configured
# centre (created at the first start, about 0.2 s each here: 14 minutes for 1,400 centres;
# name, topic and picture read back from Synapse at every later start). The database holds
# the people of all 1,400; the first CONFIGURED centres, the biggest among them, are served.
CONFIGURED = 20
ROUNDS = 30
YEAR_MS = 365 * 24 * 3600 * 1000


def centres_yaml(n: int) -> str:
    lines = ["centres:"]
    for i in range(n):
        lines += [f"    - id: c{i:04d}", f"      name: Beratungsstelle {i}", "      admins: []"]
    return "\n".join(lines) + "\n"


def centre_of(i: int, n: int, share_big: float) -> str:
    """Item ``i`` of ``n``: the first ``share_big`` of them in the big centre, the rest spread."""
    big = int(n * share_big)
    return BIG if i < big else f"c{1 + (i - big) % (CENTRES - 1):04d}"


CENTRES = FULL["centres"]


def fill(db_path: Path, sizes: dict[str, int], secret: str) -> None:
    """Bulk inserts straight into the migrated tables."""
    rnd = random.Random(13)
    now = int(time.time() * 1000)
    contact = contact_data.ContactData(secret)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    people = []
    counsellors: dict[str, list[str]] = {}
    for i in range(sizes["counsellors"]):
        centre = centre_of(i, sizes["counsellors"], 0.025)
        uid = f"@berater{i}:{DOMAIN}"
        counsellors.setdefault(centre, []).append(uid)
        email: str | None = f"berater{i}@example.org"
        people.append(
            (
                uid,
                centre,
                "admin" if len(counsellors[centre]) == 1 else "counsellor",
                f"Berater {i}",
                contact.seal(email, contact_data.person_context(uid, "email")),
                contact.lookup(email),
                now - YEAR_MS,
            )
        )
    clients: dict[str, list[str]] = {}
    for i in range(sizes["clients"]):
        centre = centre_of(i, sizes["clients"], 0.1)
        uid = f"@klient{i}:{DOMAIN}"
        clients.setdefault(centre, []).append(uid)
        email = f"klient{i}@example.org" if i % 10 == 0 else None  # one in ten gave an address
        people.append(
            (
                uid,
                centre,
                "client",
                f"Klient {i}",
                contact.seal(email, contact_data.person_context(uid, "email")),
                contact.lookup(email),
                now - rnd.randrange(YEAR_MS),
            )
        )
    conn.executemany(
        "INSERT INTO person (user_id, centre_id, role, display_name, email, email_hash, "
        "created_at, welcomed) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
        people,
    )
    # Home counsellors: every client has one of their centre's staff.
    conn.executemany(
        "UPDATE person SET home_counsellor_id=? WHERE user_id=?",
        (
            (rnd.choice(counsellors.get(centre) or [None]), uid)  # type: ignore[list-item]
            for centre, uids in clients.items()
            for uid in uids
        ),
    )
    requests = []
    peopled = sorted(clients)  # at a small fraction not every centre has clients
    for i in range(sizes["requests"]):
        centre = centre_of(i, sizes["requests"], 0.1)
        centre = centre if centre in clients else rnd.choice(peopled)
        client = rnd.choice(clients[centre])
        staff: list[str | None] = [*counsellors.get(centre, [])] or [None]
        created = now - rnd.randrange(YEAR_MS)
        # One in 500 waits in the pool (60 in the biggest centre at full size); closed the rest.
        status = "new" if i % 500 == 0 else "closed"
        counsellor = None if status == "new" else rnd.choice(staff)
        requests.append((centre, client, status, counsellor, created, "chat"))
    conn.executemany(
        "INSERT INTO counselling_request (centre_id, client_id, status, counsellor_id, "
        "created_at, channel) VALUES (?, ?, ?, ?, ?, ?)",
        requests,
    )
    actions = ("client new", "assign", "counsellor new", "setting", "client delete", "transfer")
    audit = []
    for i in range(sizes["audit"]):
        centre = centre_of(i, sizes["audit"], 0.1)
        actor = rnd.choice(counsellors.get(centre) or ["@lotse:" + DOMAIN])
        target = rnd.choice(clients.get(centre) or [actor])
        created = now - YEAR_MS + i * (YEAR_MS // sizes["audit"])
        audit.append((centre, actor, rnd.choice(actions), target, "", created))
    conn.executemany(
        "INSERT INTO audit_log (centre_id, actor_id, action, target, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        audit,
    )
    mails = []
    for i in range(sizes["mails"]):
        address = f"klient{rnd.randrange(sizes['clients']) // 10 * 10}@example.org"
        digest = contact.lookup(address) or ""
        sent = now - YEAR_MS + i * (YEAR_MS // sizes["mails"])
        mails.append(
            (
                contact.seal(address, contact_data.outbox_context(digest)),
                "new_message",
                "de",
                "{}",
                sent,
                "sent",
                sent,
                sent,
                digest,
            )
        )
    conn.executemany(
        "INSERT INTO mail_outbox (recipient, kind, lang, variables, not_before, state, "
        "created_at, sent_at, recipient_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        mails,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def migrate(url: str, secret: str) -> None:
    db = LotseDatabase(url, contact_data.ContactData(secret))
    await db.start()
    await db.main.stop()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def measure(directory: Path) -> None:
    """In a process of its own: start Lotse on the filled database and time the listings."""
    setup_logging(os.environ.get("LOTSE_BENCH_LOG", "WARNING"))
    cfg = load_config(directory / "config.yaml", env={})
    synapse = await start_synapse(directory, cfg)
    try:
        before = rss_mb()
        app = LotseApp(cfg)
        started = time.perf_counter()
        await app.start()
        startup = time.perf_counter() - started
        rss_start = rss_mb()
        try:
            db = app.db.main
            admin = await db.fetchval(
                "SELECT user_id FROM person WHERE centre_id=$1 AND role='admin'", BIG
            )
            counts = {
                "clients": await db.fetchval(
                    "SELECT COUNT(*) FROM person WHERE centre_id=$1 AND role='client'", BIG
                ),
                "requests": await db.fetchval(
                    "SELECT COUNT(*) FROM counselling_request WHERE centre_id=$1 AND status='new'",
                    BIG,
                ),
                "audit": await db.fetchval(
                    "SELECT COUNT(*) FROM audit_log WHERE centre_id=$1", BIG
                ),
            }
            assistant = app.assistant
            ctx = CommandContext(
                user_id=admin,
                role=ROLE_BY_NAME["admin"],
                centre_id=BIG,
                centre_name="Beratungsstelle 0",
                lang="en",
                room_id="!bench:" + DOMAIN,
                event_id="$bench",
                renderer=assistant.renderer,
                registry=assistant.registry,
                extra={"services": assistant.services},
            )
            # The SQL each listing runs for its page, bare (clients: the count and one page).
            by_name = "lower(COALESCE(display_name, user_id)), user_id"
            clients = "FROM person WHERE centre_id=$1 AND role='client'"
            bare = {
                "clients alle": (
                    f"SELECT COUNT(*) {clients}; SELECT * {clients} ORDER BY {by_name} LIMIT 50",
                    (BIG,),
                ),
                "clients alle page=150": (
                    f"SELECT COUNT(*) {clients}; "
                    f"SELECT * {clients} ORDER BY {by_name} LIMIT 50 OFFSET 7450",
                    (BIG,),
                ),
                "clients alle sort=login": (
                    f"SELECT COUNT(*) {clients}; SELECT * {clients} "
                    f"ORDER BY (last_seen_at IS NULL), last_seen_at DESC, {by_name} LIMIT 50",
                    (BIG,),
                ),
                "requests": (
                    "SELECT COUNT(*) FROM counselling_request WHERE centre_id=$1 AND "
                    "status='new'; SELECT * FROM counselling_request WHERE centre_id=$1 AND "
                    "status='new' ORDER BY created_at, id LIMIT 20",
                    (BIG,),
                ),
                "audit": (
                    "SELECT * FROM audit_log WHERE centre_id=$1 ORDER BY id DESC LIMIT 20",
                    (BIG,),
                ),
            }
            results: list[tuple[str, int, int, int, list[float], list[float]]] = []
            for command, (sql, args) in bare.items():
                rounds = ROUNDS
                lotse_ms, sql_ms = [], []
                answer = ""
                for _ in range(rounds):
                    t = time.perf_counter()
                    answer = await run_command(command, ctx) or ""
                    lotse_ms.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    found = 0
                    for statement in sql.split("; "):
                        found = len(await db.fetch(statement, *args))
                    sql_ms.append((time.perf_counter() - t) * 1000)
                results.append((command, rounds, found, len(answer), lotse_ms, sql_ms))
            rss_after = rss_mb()
        finally:
            await app.stop()
    finally:
        await synapse.stop()
    print(
        f"\nStart-up {startup:.1f} s; RSS {before:.0f} MB before, {rss_start:.0f} MB after the "
        f"start, {rss_after:.0f} MB after the listings"
    )
    print(
        f"\nListings as the admin of the biggest centre ({counts['clients']} clients, "
        f"{counts['requests']} waiting requests, {counts['audit']} audit entries), ms\n"
    )
    print(
        f"| {'command':<23} | {'runs':>4} | {'SQL rows':>8} | {'answer chars':>12} | "
        f"{'Lotse p50':>9} | {'Lotse p99':>9} | {'SQL p50':>7} | {'SQL p99':>7} |"
    )
    print(f"|{'-' * 25}|{'-' * 6}|{'-' * 10}|{'-' * 14}|{'-' * 11}|{'-' * 11}|{'-' * 9}|{'-' * 9}|")
    for command, rounds, rows, chars, lotse_ms, sql_ms in results:
        print(
            f"| {command:<23} | {rounds:>4} | {rows:>8} | {chars:>12} | "
            f"{statistics.median(lotse_ms):>9.1f} | {p(lotse_ms, 0.99):>9.1f} | "
            f"{statistics.median(sql_ms):>7.1f} | {p(sql_ms, 0.99):>7.1f} |"
        )


def main(fraction: float, configured: int) -> None:
    sizes = {k: max(1, int(v * fraction)) for k, v in FULL.items()}
    sizes["centres"] = CENTRES  # every centre is configured; the fraction thins their people
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cfg = write_stack_config(
            directory,
            hs_port=free_port(),
            as_port=free_port(),
            centres_yaml=centres_yaml(configured),
        )
        db_path = directory / "lotse.db"
        started = time.perf_counter()
        asyncio.run(migrate(cfg.database.url, cfg.encryption.sealing_key))
        fill(db_path, sizes, cfg.encryption.sealing_key)
        generated = time.perf_counter() - started
        print(
            f"Federation: {CENTRES} centres ({configured} configured), "
            f"{sizes['counsellors']} counsellors and admins, "
            f"{sizes['clients']} clients, {sizes['requests']} requests, {sizes['audit']} audit "
            f"entries, {sizes['mails']} mails in the log; SQLite {db_path.stat().st_size >> 20} "
            f"MB, generated in {generated:.0f} s"
        )
        sys.stdout.flush()
        subprocess.run(
            [sys.executable, __file__, "--measure", str(directory)], check=True, timeout=1200
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        asyncio.run(measure(Path(sys.argv[2])))
    else:
        main(
            float(sys.argv[1]) if len(sys.argv) > 1 else 1.0,
            int(sys.argv[2]) if len(sys.argv) > 2 else CONFIGURED,
        )
