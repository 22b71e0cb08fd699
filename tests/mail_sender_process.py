"""The mail sender alone in a process of its own, for the SIGKILL test in test_resilience.py.

``python -m tests.mail_sender_process DATABASE_URL SMTP_PORT`` starts the outbox's sender as
Lotse does (crash recovery first), delivers until nothing is queued or being sent, and
exits 0; the test kills it with SIGKILL in the middle and starts it again.
"""

from __future__ import annotations

import asyncio
import sys

from appservice.db import LotseDatabase
from mailgateway.outbox import QUEUED, SENDING, Outbox
from tests.test_mail_sender import make_sender


async def deliver_all(url: str, port: int) -> None:
    database = LotseDatabase(url)
    await database.start()
    outbox = Outbox.on(database.main)
    sender = make_sender(port, outbox=outbox, poll_interval=0.02)
    await sender.start()
    try:
        while await outbox.count(QUEUED) or await outbox.count(SENDING):
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
        await database.stop()


if __name__ == "__main__":
    asyncio.run(deliver_all(sys.argv[1], int(sys.argv[2])))
