"""Faults from outside (issue 13): the database and the mail server going away and coming back.

What the exactly-once work already proves is not repeated here: Lotse killed with SIGKILL in
a burst of commands (tests/test_exactly_once.py), a stuck mail row after a crash
(tests/test_mail_sender.py), transaction ids that repeat after a Synapse restart
(tests/test_transactions.py).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from yarl import URL

from appservice.app import LotseApp
from appservice.dev.client import notices_before_marker
from appservice.dev.stack import start_synapse, write_stack_config
from appservice.dev.synapse_runner import SynapseProcess, free_port
from mailgateway.outbox import SENT
from mailgateway.rows import MailRows
from mailgateway.sender import RetryPolicy
from tests.conftest import (
    DOMAIN,
    TEST_CENTRES,
    Lotse,
    MailSink,
    MakeHuman,
    Stack,
    fresh_postgres,
)
from tests.test_mail_outbox import opened
from tests.test_mail_sender import NEW_MESSAGE, Recorder, make_sender, smtp_server
from tests.test_mail_sender import running as sending

BURST = 20
OUTAGE_SECONDS = 3


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _health(port: int) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/health") as resp:
            return resp.status


async def _put(app: LotseApp, events: list[dict[str, Any]]) -> int:
    url = (
        f"http://127.0.0.1:{app.cfg.appservice.port}/_matrix/app/v1/transactions/"
        f"t-{secrets.token_hex(4)}"
    )
    headers = {"Authorization": f"Bearer {app.cfg.appservice.hs_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.put(url, json={"events": events}, headers=headers) as resp:
            return resp.status


def _event() -> dict[str, Any]:
    return {
        "event_id": f"$resilience-{secrets.token_hex(8)}",
        "room_id": f"!nowhere-{secrets.token_hex(4)}:{DOMAIN}",
        "type": "m.room.message",
        "sender": f"@someone:{DOMAIN}",
        "origin_server_ts": int(time.time() * 1000),
        "content": {},
    }


@pytest.mark.synapse
async def test_postgres_connections_dropped_health_503_then_200_without_restart(
    lotse: Lotse, mail_sink: MailSink, tmp_path: Path
) -> None:
    """Lotse's PostgreSQL backends are terminated and new connections refused for a while:
    /health says 503 and a transaction gets no 200 (Synapse keeps it); once the database
    takes connections again, /health says 200 and the held-back transaction is handled, all
    in the same process (the session's Lotse pauses: row classes bind to one database)."""
    async with fresh_postgres() as url:
        name = URL(url).path.lstrip("/")
        directory = tmp_path / "pgstack"
        cfg = write_stack_config(
            directory,
            hs_port=free_port(),
            as_port=free_port(),
            domain=DOMAIN,
            database_url=url,
            centres_yaml=TEST_CENTRES,
            mail_port=mail_sink.port,
        )
        synapse = await start_synapse(directory, cfg)
        await lotse.stop()
        app = LotseApp(cfg)
        admin = await asyncpg.connect(str(URL(url).with_path("/postgres")))
        try:
            await app.start()
            port = cfg.appservice.port
            assert await _health(port) == 200
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname=$1 AND pid<>pg_backend_pid()",
                name,
            )

            async def unhealthy() -> bool:
                return await _health(port) == 503

            await until(unhealthy, "/health 503")
            held_back = [_event()]
            assert await _put(app, held_back) == 500
            assert await _health(port) == 503
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

            async def healthy() -> bool:
                return await _health(port) == 200

            await until(healthy, "/health 200 again")
            # Synapse sends the refused transaction again: now it is stored and handled.
            assert await _put(app, held_back) == 200

            async def handled() -> bool:
                return await app.rows.Inbox.state_of(held_back[0]["event_id"]) == "handled"

            await until(handled, "the held-back event handled")
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin.close()
            if app.started:
                await app.stop()
            await synapse.stop()
            await lotse.start()


async def test_smtp_down_for_a_while_mails_wait_and_go_out_once(
    tmp_path: Path,
) -> None:
    """Twenty notifications queued while no mail server listens wait while the sender backs
    off as a whole; once the server is up every one is delivered exactly once, in the order
    they were queued, and a mail queued afterwards comes last."""
    port = free_port()
    handler = Recorder()
    recipients = [f"person{i:02d}@beratung.de" for i in range(20)]
    async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
        ids = [
            await MailRows(db).Outbox.enqueue(address, "new_message", "de", NEW_MESSAGE)
            for address in recipients
        ]
        sender = make_sender(
            port, retry=RetryPolicy(base_delay=0.1, max_delay=0.4), rows=MailRows(db)
        )
        async with sending(sender):

            async def tried_twice() -> bool:
                return sender.connect_failures >= 2

            await until(tried_twice, "the server tried twice while it is down")
            with smtp_server(handler, port=port):

                async def all_sent() -> bool:
                    rows = [await MailRows(db).Outbox.get(i) for i in ids]
                    return all(r is not None and r.state == SENT for r in rows)

                await until(all_sent, "every mail sent")
                # Nothing more is on its way: a later mail arrives after all of them.
                marker = await MailRows(db).Outbox.enqueue(
                    "marker@beratung.de", "new_message", "de", NEW_MESSAGE
                )
                await until(lambda: _sent(MailRows(db), marker), "the marker sent")
    delivered = [str(msg["To"]) for msg in handler.messages]
    assert delivered == [*recipients, "marker@beratung.de"]


async def _sent(rows: MailRows, mail_id: int) -> bool:
    row = await rows.Outbox.get(mail_id)
    return row is not None and row.state == SENT


@pytest.mark.synapse
async def test_synapse_restarted_mid_burst_no_command_unanswered(
    stack: Stack, make_human: MakeHuman, running: LotseApp
) -> None:
    """A burst of commands, and Synapse (SQLite: its transaction ids start again) is stopped
    while Lotse is still answering, then started again: every command gets its answer, none
    is lost in the gap.

    Two limits are Synapse's own and not tested away: events it holds in memory for an
    appservice when it stops are lost (element-hq/synapse#11637), so it is stopped only once
    it has pushed every command; and it forgets an appservice's transaction ids when it
    restarts, so the one answer that was in flight when it stopped (a room's commands are
    answered one after another) may reach the room twice when Lotse sends it again.
    """
    bot = running.cfg.assistant_mxid
    sina = await make_human("sina", centre="nord", role="client")
    room = await sina.service_room(bot)
    await sina.next_notice(room, bot, 0)
    before = len(sina.notices(room, bot))
    asked = [await sina.send(room, "hilfe") for _ in range(BURST)]

    async def all_pushed() -> bool:
        return all([await running.rows.Inbox.state_of(e) is not None for e in asked])

    await until(all_pushed, "every command pushed to Lotse")
    assert isinstance(stack.synapse, SynapseProcess)
    await stack.synapse.stop()
    # The outage lasts longer than Lotse's three attempts at an event (0.5 s + 1 s apart).
    await asyncio.sleep(OUTAGE_SECONDS)
    await stack.synapse.start()
    # The marker's answer comes after whatever was still due in the room.
    later = await notices_before_marker(sina, room, bot, before, "hilfe")
    answers = Counter(n.reply_to for n in later)
    assert all(answers[e] >= 1 for e in asked), answers
    assert set(answers) == set(asked) and sum(answers.values()) <= BURST + 1, answers


# --- SIGKILL while a mail batch is being sent -------------------------------------------------

MAILS = 120
# Where the sender is killed, by the mail the SMTP server is at: while the server is told the
# recipient (the mail not yet handed over), when it has the whole mail but has not answered
# (RFC 1047: the server keeps it, the sender never hears so), and just after its 250.
KILLS = {20: "rcpt", 60: "data", 100: "replied"}


class KillingRecorder(Recorder):
    """Keeps every mail it accepts and SIGKILLs the sending process at the planned moments."""

    def __init__(self, plan: dict[int, str]) -> None:
        super().__init__()
        self.plan = dict(plan)
        self.pid = 0
        self.rcpt_calls = 0

    def _kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.rcpt_calls += 1
        if self.plan.get(self.rcpt_calls) == "rcpt":
            del self.plan[self.rcpt_calls]
            self._kill()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        phase = self.plan.get(self.rcpt_calls)
        if phase == "data":
            del self.plan[self.rcpt_calls]
            self._kill()  # the mail is kept; the 250 never reaches the sender
        elif phase == "replied":
            del self.plan[self.rcpt_calls]
            asyncio.get_running_loop().call_soon(self._kill)  # once the 250 is written
        return answer


async def test_sigkill_during_a_mail_batch_every_mail_arrives_at_most_one_duplicate(
    tmp_path: Path,
) -> None:
    """The sender, in a process of its own, is SIGKILLed three times during a batch of 120
    mails (before a mail is handed over, with the mail handed over but unanswered, and just
    after the server's 250) and started again each time: every mail arrives, each with one
    Message-ID; a mail in flight at a kill may arrive twice, with the same Message-ID, so the
    receiver can drop the copy. SMTP cannot do better: a server may keep a mail whose 250
    never reaches the sender, and nothing can ask it afterwards."""
    url = f"sqlite:{tmp_path / 'l.db'}"
    recipients = [f"person{i:03d}@beratung.de" for i in range(MAILS)]
    async with opened(url) as db:
        for address in recipients:
            await MailRows(db).Outbox.enqueue(address, "new_message", "de", NEW_MESSAGE)
    handler = KillingRecorder(KILLS)
    starts = 0
    with smtp_server(handler) as port:
        while True:
            starts += 1
            assert starts <= len(KILLS) + 1, "the sender was started more often than killed"
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.mail_sender_process",
                url,
                str(port),
                cwd=Path(__file__).resolve().parent.parent,
            )
            handler.pid = child.pid
            code = await asyncio.wait_for(child.wait(), 120)
            if code == 0:
                break
            assert code == -signal.SIGKILL, code
    assert not handler.plan, f"kills not reached: {handler.plan}"
    by_recipient: dict[str, set[str]] = {}
    for msg in handler.messages:
        by_recipient.setdefault(str(msg["To"]), set()).add(str(msg["Message-ID"]))
    copies = Counter(str(msg["Message-ID"]) for msg in handler.messages)
    duplicates = sum(n - 1 for n in copies.values())
    missing = sorted(set(recipients) - set(by_recipient))
    print(
        f"{len(handler.messages)} mails received for {MAILS}: {duplicates} duplicate(s), "
        f"missing {missing}"
    )
    assert not missing, f"lost at a kill: {missing}"
    assert all(len(ids) == 1 for ids in by_recipient.values()), by_recipient
    assert duplicates <= len(KILLS)
    async with opened(url) as db:
        assert await MailRows(db).Outbox.count(SENT) == MAILS
