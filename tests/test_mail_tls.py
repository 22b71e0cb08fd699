"""The SMTP sender over TLS against real aiosmtpd servers with a certificate made here:
STARTTLS and implicit TLS deliver when the configured CA file vouches for the server, and
nothing is sent to a server whose certificate does not verify."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from appservice.dev.synapse_runner import free_port
from mailgateway.outbox import QUEUED, SENT
from mailgateway.render import MailTemplates
from mailgateway.rows import MailRows
from mailgateway.sender import MailSender, RetryPolicy, SmtpSettings
from tests.test_mail_outbox import opened
from tests.test_mail_sender import FROM, NEW_MESSAGE, Recorder, running, state_is, wait_for


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@contextmanager
def tls_server(handler: Recorder, mode: str, context: ssl.SSLContext) -> Iterator[int]:
    options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True}
        if mode == "starttls"
        else {"ssl_context": context}
    )
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def sender(port: int, mode: str, ca_file: str | None, rows: MailRows) -> MailSender:
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        from_address=FROM,
        security=mode,  # type: ignore[arg-type]
        timeout=5,
        ca_file=ca_file,
    )
    retry = RetryPolicy(base_delay=30, max_delay=60, max_attempts=5)
    return MailSender(smtp, MailTemplates(), retry=retry, poll_interval=0.05, rows=rows)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_delivered_over_verified_tls(
    mode: str, server_context: ssl.SSLContext, ca_file: str, tmp_path: Path
) -> None:
    handler = Recorder()
    with tls_server(handler, mode, server_context) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "new_message", "de", NEW_MESSAGE
            )
            async with running(sender(port, mode, ca_file, MailRows(db))):
                await wait_for(lambda: state_is(MailRows(db), mail_id, SENT))
    assert len(handler.messages) == 1
    assert "Beratungsstelle Nord" in handler.messages[0]["Subject"]


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_unverifiable_certificate_sends_nothing(
    mode: str, server_context: ssl.SSLContext, tmp_path: Path
) -> None:
    """Without the CA file the self-signed chain is refused (verification is the default);
    the mail stays queued for a retry instead of going out unprotected."""
    handler = Recorder()
    with tls_server(handler, mode, server_context) as port:
        async with opened(f"sqlite:{tmp_path / 'l.db'}") as db:
            mail_id = await MailRows(db).Outbox.enqueue(
                "anna@beratung.de", "new_message", "de", NEW_MESSAGE
            )
            worker = sender(port, mode, None, MailRows(db))

            async def tried() -> bool:
                return worker.connect_failures >= 1

            async with running(worker):
                await wait_for(tried)
            row = await MailRows(db).Outbox.get(mail_id)
    assert row is not None and row.state == QUEUED
    # aiosmtplib reports the failed handshake wrapped (implicit TLS) or as it is (STARTTLS);
    # the same server with the CA file delivers (test above), so verification is the cause.
    expected = "SMTPConnectError" if mode == "tls" else "SSLCertVerificationError"
    assert worker.last_connect_error == expected
    assert handler.messages == []
