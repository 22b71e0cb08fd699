"""The mail sender alone in a process of its own, for the SIGKILL test in test_resilience.py.

``python -m tests.mail_sender_process DATABASE_URL SMTP_PORT`` starts the outbox's sender as
Lotse does (crash recovery first), delivers until nothing is queued or being sent, and
exits 0; the test kills it with SIGKILL in the middle and starts it again.
"""

from __future__ import annotations

import asyncio
import sys

from appservice.contact_data import ContactData
from appservice.db import LotseDatabase
from mailgateway.outbox import QUEUED, SENDING
from mailgateway.rows import MailRows
from tests.conftest import TEST_CONTACT_KEY
from tests.test_mail_sender import make_sender


async def deliver_all(url: str, port: int) -> None:
    database = LotseDatabase(url, ContactData(TEST_CONTACT_KEY))
    await database.start()
    outbox = MailRows(database).Outbox
    sender = make_sender(port, rows=MailRows(database), poll_interval=0.02)
    await sender.start()
    try:
        while await outbox.count(QUEUED) or await outbox.count(SENDING):
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
        await database.stop()


if __name__ == "__main__":
    asyncio.run(deliver_all(sys.argv[1], int(sys.argv[2])))
