"""The SMTP sender against real aiosmtpd servers: delivery, headers, retries, failures, restarts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from appservice.dev.synapse_runner import free_port
from mailgateway.outbox import FAILED, QUEUED, SENT, outbox_sealer
from mailgateway.render import MailTemplates
from mailgateway.rows import MailRows
from mailgateway.sender import MailSender, RetryPolicy, SmtpSettings
from tests.test_mail_outbox import opened

FROM = "noreply@lotse.test"
# Links are only ever stored sealed; the senders below open them with the same key.
SEALER = outbox_sealer("pickle-key-of-the-sender-tests")
INVITE = {
    "centre_name": "Beratungsstelle Nord",
    "display_name": "Anna <b>&",
    "link": "https://lotse.test/invite/tok3n?a=1&b=2",
    "expires_days": 7,
}
NEW_MESSAGE = {
    "centre_name": "Beratungsstelle Nord",
    "room_label": "Beratung",
    "app_url": "https://app.element.io",
}


class Recorder:
    """aiosmtpd handler that accepts mail and keeps it; subclasses misbehave on purpose."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.data_calls = 0

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.data_calls += 1
        answer = self.answer(server)
        if answer is None:
            raw = envelope.original_content or b""
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            self.messages.append(msg)
        return answer or "250 OK"

    def answer(self, server: SMTPServer) -> str | None:
        return None


class GreylistOnce(Recorder):
    def answer(self, server: SMTPServer) -> str | None:
        return "451 4.7.1 try again later" if self.data_calls == 1 else None


class DropOnce(Recorder):
    def answer(self, server: SMTPServer) -> str | None:
        if self.data_calls == 1:
            assert server.transport is not None
            server.transport.abort()  # the connection dies before any answer to DATA
            return "250 never seen"
        return None


class AlwaysLater(Recorder):
    def answer(self, server: SMTPServer) -> str | None:
        return "451 4.3.0 try again later"


class Reject(Recorder):
    def answer(self, server: SMTPServer) -> str | None:
        return "550 5.1.1 mailbox unavailable"


@contextmanager
def smtp_server(handler: Recorder, port: int | None = None) -> Iterator[int]:
    """A real aiosmtpd on 127.0.0.1; yields its port."""
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def recording_hook(calls: list[tuple[str, str]]) -> Callable[[str, str], Awaitable[None]]:
    """An ``on_permanent_failure`` hook that writes down what it was told."""

    async def hook(recipient: str, kind: str) -> None:
        calls.append((recipient, kind))

    return hook


def make_sender(port: int, **kwargs: Any) -> MailSender:
    kwargs.setdefault("retry", RetryPolicy(base_delay=0.1, max_delay=0.5, max_attempts=5))
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("sealer", SEALER)
    smtp = SmtpSettings(host="127.0.0.1", port=port, from_address=FROM, security="none", timeout=5)
    return MailSender(smtp, MailTemplates(), **kwargs)


@asynccontextmanager
async def running(sender: MailSender) -> AsyncIterator[MailSender]:
    await sender.start()
    try:
        yield sender
    finally:
        await sender.stop()


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def state_is(rows: MailRows, mail_id: int, state: str) -> bool:
    mail = await rows.Outbox.get(mail_id)
    return mail is not None and mail.state == state


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def test_delivered_once_with_headers_and_both_parts(tmp_path: Path) -> None:
    """One invitation arrives once, multipart/alternative, with every header, text and HTML."""
    handler = Recorder()
    variables = {**INVITE, "unsubscribe_url": "https://lotse.test/unsub/1"}
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "invitation", "de", variables, sealer=SEALER
            )
            async with running(make_sender(port, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), mail_id, SENT))
                # A later mail as the marker: a second delivery of the first would come before.
                marker = await MailRows(db).Outbox.enqueue(
                    "ben@beratung.de", "new_message", "de", NEW_MESSAGE
                )
                await wait_for(lambda: state_is(MailRows(db), marker, SENT))
            row = await MailRows(db).Outbox.get(mail_id)
    assert row is not None and row.variables == {}  # nothing kept once sent
    assert [m["To"] for m in handler.messages] == ["anna@beratung.de", "ben@beratung.de"]
    msg = handler.messages[0]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Message-ID"] == row.message_id and row.message_id.endswith("@lotse.test>")
    assert msg["Date"] is not None
    assert msg["From"].addresses[0].display_name == "Beratungsstelle Nord"
    assert msg["From"].addresses[0].addr_spec == FROM
    assert msg["To"] == "anna@beratung.de"
    assert msg["List-Unsubscribe"] == "<https://lotse.test/unsub/1>"
    assert "Beratungsstelle Nord" in msg["Subject"]
    text, html = bodies(msg)
    for part in (text, html):
        assert "7 Tage" in part and "Beratungsstelle Nord" in part
    assert "Anna <b>&" in text and "https://lotse.test/invite/tok3n?a=1&b=2" in text
    assert "Anna &lt;b&gt;&amp;" in html and "<b>" not in html
    assert "https://lotse.test/invite/tok3n?a=1&amp;b=2" in html


async def test_no_list_unsubscribe_without_url(tmp_path: Path) -> None:
    """A mail whose variables carry no unsubscribe_url has no List-Unsubscribe header."""
    handler = Recorder()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "ben@beratung.de", "new_message", "en", NEW_MESSAGE
            )
            async with running(make_sender(port, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), mail_id, SENT))
    assert len(handler.messages) == 1
    assert handler.messages[0]["List-Unsubscribe"] is None
    assert "New message" in handler.messages[0]["Subject"]


async def test_greylisted_mail_is_delivered_after_a_retry(tmp_path: Path) -> None:
    """A server answering 451 to the first DATA and 250 later gets the mail once, on retry."""
    handler = GreylistOnce()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "new_message", "de", NEW_MESSAGE
            )
            async with running(make_sender(port, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), mail_id, SENT))
            row = await MailRows(db).Outbox.get(mail_id)
    assert handler.data_calls == 2 and len(handler.messages) == 1
    assert row is not None and row.attempts == 1
    assert handler.messages[0]["Message-ID"] == row.message_id


async def test_dropped_connection_is_retried(tmp_path: Path) -> None:
    """A server that drops the connection mid-DATA gets the mail once it behaves again."""
    handler = DropOnce()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "new_message", "de", NEW_MESSAGE
            )
            async with running(make_sender(port, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), mail_id, SENT))
            row = await MailRows(db).Outbox.get(mail_id)
    assert handler.data_calls == 2 and len(handler.messages) == 1
    assert row is not None and row.attempts == 1


async def test_refused_connection_retries_then_delivers(tmp_path: Path) -> None:
    """With no server listening the sender backs off as a whole: the mail waits without a try
    counted against it (an outage fails no mail) and goes out once the server is up."""
    port = free_port()
    handler = Recorder()
    async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
        mail_id = await MailRows(db).Outbox.enqueue(
            "anna@beratung.de", "new_message", "de", NEW_MESSAGE
        )
        sender = make_sender(
            port, retry=RetryPolicy(base_delay=0.1, max_delay=0.2), rows=MailRows(db)
        )
        async with running(sender):

            async def retried() -> bool:
                return sender.connect_failures >= 2

            await wait_for(retried)
            row = await MailRows(db).Outbox.get(mail_id)
            assert row is not None and (row.state, row.attempts) == (QUEUED, 0)
            assert sender.last_connect_error in {"SMTPConnectError", "OSError"}
            with smtp_server(handler, port=port):
                await wait_for(lambda: state_is(MailRows(db), mail_id, SENT))
    assert len(handler.messages) == 1


async def test_permanent_failure_fails_at_once_and_calls_hook(tmp_path: Path) -> None:
    """A 550 marks the row failed on the first attempt and tells the hook recipient and kind."""
    calls: list[tuple[str, str]] = []
    hook = recording_hook(calls)
    handler = Reject()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "gone@beratung.de", "invitation", "de", INVITE, sealer=SEALER
            )
            async with running(make_sender(port, on_permanent_failure=hook, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), mail_id, FAILED))
            row = await MailRows(db).Outbox.get(mail_id)
    assert row is not None and (row.attempts, row.last_error) == (1, "smtp 550")
    assert handler.data_calls == 1 and handler.messages == []
    assert calls == [("gone@beratung.de", "invitation")]


async def test_sealed_mail_that_does_not_open_fails_without_a_send(tmp_path: Path) -> None:
    """A sealed row the sender cannot open (another pickle key) is never sent: it fails at
    once, like a broken template, and the hook hears of it."""
    calls: list[tuple[str, str]] = []
    hook = recording_hook(calls)
    handler = Recorder()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "invitation", "de", INVITE, sealer=SEALER
            )
            other_key = outbox_sealer("a-changed-pickle-key")
            async with running(
                make_sender(port, sealer=other_key, on_permanent_failure=hook, rows=MailRows(db))
            ):
                await wait_for(lambda: state_is(MailRows(db), mail_id, FAILED))
            row = await MailRows(db).Outbox.get(mail_id)
    assert row is not None and (row.last_error, row.variables) == ("sealed", {})
    assert handler.data_calls == 0 and calls == [("anna@beratung.de", "invitation")]


async def test_mail_to_an_address_that_turned_bouncing_is_dropped(tmp_path: Path) -> None:
    """Queued before the bounces were counted: never sent, failed as "bouncing", no hook
    (the admins were told once when the address turned)."""
    calls: list[tuple[str, str]] = []
    hook = recording_hook(calls)
    handler = Recorder()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            dropped = await MailRows(db).Outbox.enqueue(
                "Gone@Beratung.de", "new_message", "de", NEW_MESSAGE
            )
            kept = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "new_message", "de", NEW_MESSAGE
            )
            assert await MailRows(db).MailAddress.record_hard_bounce(
                "gone@beratung.de", threshold=1
            )
            async with running(make_sender(port, on_permanent_failure=hook, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), kept, SENT))
                await wait_for(lambda: state_is(MailRows(db), dropped, FAILED))
            row = await MailRows(db).Outbox.get(dropped)
    assert row is not None and row.last_error == "bouncing"
    assert [m["To"] for m in handler.messages] == ["anna@beratung.de"] and calls == []


async def test_temporary_failures_give_up_after_max_attempts(tmp_path: Path) -> None:
    """A server that answers "later" for ever: after max_attempts the row fails and the hook
    is told."""
    calls: list[tuple[str, str]] = []
    hook = recording_hook(calls)
    with smtp_server(AlwaysLater()) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "new_message", "de", NEW_MESSAGE
            )
            retry = RetryPolicy(base_delay=0.05, max_delay=0.1, max_attempts=3)
            async with running(
                make_sender(port, retry=retry, on_permanent_failure=hook, rows=MailRows(db))
            ):
                await wait_for(lambda: state_is(MailRows(db), mail_id, FAILED))
            row = await MailRows(db).Outbox.get(mail_id)
    assert row is not None and row.attempts == 3
    assert calls == [("anna@beratung.de", "new_message")]


async def test_queue_survives_restart(database_url: str) -> None:
    """Mail queued before a shutdown is delivered by a new database and a new sender."""
    handler = Recorder()
    async with opened(database_url) as db:
        mail_id = await MailRows(db).Outbox.enqueue(
            "anna@beratung.de", "new_message", "de", NEW_MESSAGE
        )
    with smtp_server(handler) as port:
        async with opened(database_url) as db:
            async with running(make_sender(port, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), mail_id, SENT))
    assert len(handler.messages) == 1


async def test_stuck_sending_row_is_sent_again_with_its_message_id(database_url: str) -> None:
    """After a crash mid-send the row is sent again with the Message-ID of its first try (a
    copy the receiver can drop); a row without one is sent as any other; both in order."""
    handler = Recorder()
    async with opened(database_url) as db:
        stuck = await MailRows(db).Outbox.enqueue(
            "anna@beratung.de", "new_message", "de", NEW_MESSAGE
        )
        never = await MailRows(db).Outbox.enqueue(
            "ben@beratung.de", "new_message", "de", NEW_MESSAGE
        )
        await MailRows(db).Outbox.mark_sending(stuck, "<crash@lotse.test>")
        await db.main.execute("UPDATE mail_outbox SET state='sending' WHERE id=$1", never)
    with smtp_server(handler) as port:
        async with opened(database_url) as db:
            async with running(make_sender(port, rows=MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), never, SENT))
            row = await MailRows(db).Outbox.get(stuck)
    assert row is not None and (row.state, row.last_error) == (SENT, None)
    assert [m["To"] for m in handler.messages] == ["anna@beratung.de", "ben@beratung.de"]
    assert handler.messages[0]["Message-ID"] == "<crash@lotse.test>"


async def test_no_mail_carries_text_that_was_not_a_variable(tmp_path: Path) -> None:
    """A counselling-room secret never passed as a variable appears in no outbound mail."""
    secret = f"Geheimnis-{secrets.token_hex(8)}"
    room_event = {"type": "m.room.message", "content": {"body": secret}}  # what the room saw
    handler = Recorder()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            ids = [
                await MailRows(db).Outbox.enqueue(
                    "anna@beratung.de", "new_message", lang, NEW_MESSAGE
                )
                for lang in ("de", "en")
            ]
            ids.append(
                await MailRows(db).Outbox.enqueue(
                    "ben@beratung.de", "invitation", "en", INVITE, sealer=SEALER
                )
            )
            async with running(make_sender(port, rows=MailRows(db))) as sender:
                sender.wake()
                for mail_id in ids:
                    await wait_for(lambda mail_id=mail_id: state_is(MailRows(db), mail_id, SENT))
    assert len(handler.messages) == 3
    for msg in handler.messages:
        assert secret not in msg.as_string() and secret not in str(msg["Subject"])
        text, html = bodies(msg)
        assert secret not in text and secret not in html
    assert room_event["content"]["body"] == secret


async def test_stop_returns_promptly_when_idle(tmp_path: Path) -> None:
    """stop() ends an idle sender without waiting for the poll interval."""
    async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
        sender = make_sender(free_port(), poll_interval=30, rows=MailRows(db))
        await sender.start()
        started = time.monotonic()
        await sender.stop()
    assert time.monotonic() - started < 2


async def test_one_connection_serves_a_batch(tmp_path: Path) -> None:
    """Several due mails go out over one SMTP connection (one EHLO for the batch)."""

    class CountingRecorder(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.ehlos = 0

        async def handle_EHLO(
            self,
            server: SMTPServer,
            session: Session,
            envelope: Envelope,
            hostname: str,
            responses: list[str],
        ) -> list[str]:
            self.ehlos += 1
            session.host_name = hostname
            return responses

    handler = CountingRecorder()
    with smtp_server(handler) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            for i in range(5):
                await MailRows(db).Outbox.enqueue(
                    f"p{i}@beratung.de", "new_message", "de", NEW_MESSAGE
                )
            sender = make_sender(port, rows=MailRows(db))
            assert await sender.run_once() == 5
    assert len(handler.messages) == 5 and handler.ehlos == 1
