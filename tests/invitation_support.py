"""Helpers shared by the invitation tests: people with Synapse accounts, links, mail."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from appservice.app import LotseApp
from appservice.config import WebConfig
from appservice.db import Person
from appservice.dev.synapse_runner import free_port
from bots.accounts.invitation_rules import hash_token, new_token
from bots.framework.services import BotServices, PageParts
from bots.web.invitation_page import add_invitation_routes
from tests.conftest import DOMAIN, MailSink

LINK_RE = re.compile(r"https?://[^\s<>\"]+/invite/[A-Za-z0-9_-]{43}")
HOUR_MS = 3600 * 1000


async def new_person(
    app: LotseApp,
    name: str,
    centre: str = "nord",
    role: str = "client",
    email: str | None = None,
    synapse_account: bool = True,
) -> Person:
    """A person as the clients/accounts commands leave them: Synapse account without password."""
    suffix = secrets.token_hex(3)
    user_id = f"@{name.lower()}-{suffix}:{DOMAIN}"
    if synapse_account:
        await app.assistant.services.admin.create_or_update_user(user_id, displayname=name)
    person = await app.rows.Person.upsert(user_id, centre, role)
    assert await person.set_display_name(f"{name} {suffix}")
    if email is not None:
        await person.set_account(email=email)
    return person


async def direct_link(app: LotseApp, person: Person, valid_ms: int = HOUR_MS) -> str:
    """An invitation stored straight in the table (for page tests that need no chat)."""
    token = new_token()
    expires = int(time.time() * 1000) + valid_ms
    await app.rows.Invitation.create(
        hash_token(token), person.user_id, person.centre_id, "@t:x", expires
    )
    return f"{app.cfg.public_web_url}/invite/{token}"


def link_in(text: str) -> str:
    match = LINK_RE.search(text)
    assert match, f"no invitation link in: {text!r}"
    return match.group(0)


async def mail_to(sink: MailSink, app: LotseApp, address: str, timeout: float = 30) -> EmailMessage:
    """The first mail the running app sent to ``address``."""
    if app.mail_sender is not None:
        app.mail_sender.wake()
    deadline = time.monotonic() + timeout
    while True:
        for recipients, raw in sink.messages:
            if address in recipients:
                msg = message_from_bytes(raw, policy=default_policy)
                assert isinstance(msg, EmailMessage)
                return msg
        assert time.monotonic() < deadline, f"no mail to {address} arrived"
        await asyncio.sleep(0.1)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@asynccontextmanager
async def second_listener(
    running: LotseApp, services: BotServices | None = None, **changes: Any
) -> AsyncIterator[str]:
    """The public pages (invitation, reset, registration) on a second listener whose config
    differs by ``changes`` and has its own public URL, which it yields. Everything behind the
    pages (Synapse, the database, the outbox and its sender) is the running app's."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = dataclasses.replace(running.cfg, web=WebConfig(public_url=base), **changes)
    app = web.Application()
    services = services or running.assistant.services
    add_invitation_routes(app, PageParts(cfg, services.rows, services.mail_rows, services))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield base
    finally:
        await server.close()
