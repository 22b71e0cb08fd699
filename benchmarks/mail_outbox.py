"""Benchmark: 10,000 notifications through the outbox and sender to a local aiosmtpd.

Run: ``/work/venv/bin/python benchmarks/mail_outbox.py [N]``. The baseline sends the same
rendered messages with raw aiosmtplib over one connection in the same run, so the ratio
shows what the outbox (database writes before and after every send, rendering, batching)
costs. Issue 5's target: 10,000 delivered in under 60 s. Stops by itself (5-minute cap).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appservice.contact_data import ContactData
from appservice.db import LotseDatabase  # noqa: E402
from appservice.dev.synapse_runner import free_port  # noqa: E402
from mailgateway.outbox import SENT  # noqa: E402
from mailgateway.render import MailTemplates, build_message  # noqa: E402
from mailgateway.rows import MailRows
from mailgateway.sender import MailSender, RetryPolicy, SmtpSettings  # noqa: E402

FROM = "noreply@lotse.bench"
VARIABLES = {
    "centre_name": "Beratungsstelle Nord",
    "room_label": "Beratung",
    "app_url": "https://app.element.io",
}
CAP_SECONDS = 300


class Counter:
    """Accepts everything and only counts: the server should not be the bottleneck."""

    def __init__(self, count: Any) -> None:
        self.count = count

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def serve(port: int, count: Any, stop: Any) -> None:
    """aiosmtpd in its own process, so it does not share the client's GIL."""
    controller = Controller(Counter(count), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait(CAP_SECONDS)
    controller.stop()


async def baseline(port: int, n: int) -> float:
    """Raw aiosmtplib: the same messages, pre-rendered, over one connection."""
    rendered = MailTemplates().render("new_message", "de", VARIABLES)
    messages = [
        build_message(
            rendered,
            from_address=FROM,
            sender_name=VARIABLES["centre_name"],
            recipient=f"person{i}@beratung.bench",
            message_id=f"<base{i}@lotse.bench>",
        )
        for i in range(n)
    ]
    started = time.perf_counter()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as smtp:
        for msg in messages:
            await smtp.send_message(msg)
    return time.perf_counter() - started


async def lotse(port: int, n: int, directory: Path) -> tuple[float, float]:
    """Enqueue n rows on SQLite, then let the sender deliver them; (enqueue s, deliver s)."""
    db = LotseDatabase(
        f"sqlite:{directory / 'bench.db'}", ContactData("lotse benchmark contact key")
    )
    rows = MailRows(db)
    await db.start()
    try:
        started = time.perf_counter()
        for i in range(n):
            await rows.Outbox.enqueue(f"person{i}@beratung.bench", "new_message", "de", VARIABLES)
        enqueued = time.perf_counter() - started
        smtp = SmtpSettings(host="127.0.0.1", port=port, from_address=FROM, security="none")
        sender = MailSender(
            smtp, MailTemplates(), retry=RetryPolicy(), poll_interval=0.05, rows=rows
        )
        started = time.perf_counter()
        await sender.start()
        try:
            while await rows.Outbox.count(SENT) < n:
                await asyncio.sleep(0.1)
        finally:
            await sender.stop()
        return enqueued, time.perf_counter() - started
    finally:
        await db.stop()


async def _wait_listening(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError("benchmark SMTP server did not start")


async def main(n: int) -> None:
    port = free_port()
    count = multiprocessing.Value("i", 0)
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, count, stop), daemon=True)
    server.start()
    try:
        await _wait_listening(port)
        base = await baseline(port, n)
        with tempfile.TemporaryDirectory() as tmp:
            enqueue, deliver = await lotse(port, n, Path(tmp))
    finally:
        stop.set()
        server.join(10)
    assert count.value == 2 * n, count.value
    rows: list[tuple[str, Any, Any]] = [
        ("baseline: raw aiosmtplib, one connection", f"{base:.2f}", f"{n / base:.0f}"),
        ("Lotse: enqueue (SQLite)", f"{enqueue:.2f}", f"{n / enqueue:.0f}"),
        ("Lotse: outbox + sender delivery", f"{deliver:.2f}", f"{n / deliver:.0f}"),
        ("Lotse: enqueue + delivery", f"{enqueue + deliver:.2f}", f"{n / (enqueue + deliver):.0f}"),
    ]
    print(f"{n} notifications to a local aiosmtpd")
    print(f"| {'what':<42} | {'seconds':>8} | {'mails/s':>8} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|")
    for what, secs, rate in rows:
        print(f"| {what:<42} | {secs:>8} | {rate:>8} |")
    print(f"ratio delivery / baseline: {deliver / base:.2f}x")
    print(f"ratio (enqueue + delivery) / baseline: {(enqueue + deliver) / base:.2f}x")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    asyncio.run(asyncio.wait_for(main(count), CAP_SECONDS))
