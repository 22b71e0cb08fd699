"""The running appservice delivers queued notifications through its configured SMTP server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import aiohttp
import pytest

from appservice.app import LotseApp, StartError
from mailgateway.outbox import SENT
from mailgateway.render import TemplateProblem
from tests.conftest import MailSink, Stack

pytestmark = pytest.mark.synapse


async def test_queued_mail_is_sent_by_the_running_app(
    running: LotseApp, mail_sink: MailSink
) -> None:
    """A notification put into the outbox reaches the SMTP server with the automated headers,
    and the operator's /metrics counts it."""
    assert running.mail_sender is not None, "lotse dev/test stacks enable mail"
    sent_before = await _sent_count(running)
    recipient = f"person-{time.time_ns()}@example.net"
    mail_id = await running.mail_rows.Outbox.enqueue(
        recipient,
        "new_message",
        "de",
        {"centre_name": "Beratungsstelle Nord", "room_label": "Beratung", "app_url": "https://x"},
    )
    running.mail_sender.wake()
    deadline = time.monotonic() + 20
    while not any(recipient in rcpts for rcpts, _ in mail_sink.messages):
        assert time.monotonic() < deadline, "the mail did not arrive"
        await asyncio.sleep(0.1)
    raw = next(data for rcpts, data in mail_sink.messages if recipient in rcpts)
    msg = message_from_bytes(raw, policy=default_policy)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "Beratungsstelle Nord" in str(msg["From"])
    row = await running.mail_rows.Outbox.get(mail_id)
    assert row is not None and row.state == SENT
    assert await _sent_count(running) >= sent_before + 1


async def _sent_count(app: LotseApp) -> float:
    """``lotse_mails_total{outcome="sent"}`` as the web listener's /metrics shows it."""
    url = f"http://127.0.0.1:{app.cfg.appservice.port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith('lotse_mails_total{outcome="sent"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_broken_mail_template_refuses_to_build(stack: Stack, tmp_path: Path) -> None:
    """An operator template using a variable its kind does not have stops Lotse before
    anything starts (not when the first such mail is due)."""
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "new_request.txt.j2").write_text("{{ client_name }}\n")
    cfg = replace(stack.cfg, mail=replace(stack.cfg.mail, templates_dir=str(tmp_path)))
    with pytest.raises(StartError, match=r"mail\.templates_dir.*client_name") as refused:
        LotseApp(cfg)
    assert isinstance(refused.value.__cause__, TemplateProblem)
