"""A client deletes their own access (issue 12, point 1), through real Synapse and E2EE clients:
a code to type back, bad codes and staff refused with nothing changed, then the account is
marked, locked and logged out everywhere, and the deletion routine erases it (Synapse answers
M_FORBIDDEN to the login). A restore after the erasure is refused and changes nothing."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import SyncError

from appservice.app import LotseApp
from appservice.dev.client import PASSWORD, ask
from appservice.dev.synapse_runner import password_login
from bots.accounts import self_service
from bots.records.client_rules import DAY_MS
from mailgateway.rows import MailRows
from tests.conftest import Lotse, MailSink, Stack
from tests.test_erasure import Env, postgres_env
from tests.test_requests import _request

pytestmark = pytest.mark.synapse

CODE_RE = re.compile(r"`konto löschen ([A-Z0-9]{6})`")


async def login_status(running: LotseApp, user_id: str) -> tuple[int, str]:
    status, body = await password_login(running.cfg.homeserver.address, user_id, PASSWORD)
    return status, str(body.get("errcode", ""))


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    """Poll Synapse's own answer (a login, a device list) until ``check`` holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_client_deletes_own_access_to_erasure_sqlite(
    stack: Stack, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    """On the session's Synapse and Lotse (SQLite)."""
    env = Env(running, stack.synapse, mail_sink, tmp_path)
    try:
        await check_self_deletion(env)
    finally:
        await env.close()


async def test_client_deletes_own_access_to_erasure_postgres(
    lotse: Lotse, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    """On a second Synapse with a Lotse on a fresh PostgreSQL database."""
    async with postgres_env(lotse, mail_sink, tmp_path) as env:
        await check_self_deletion(env)


async def check_self_deletion(env: Env) -> None:
    running = env.app
    bot = env.bot
    services = running.assistant.services
    admin, admin_room = await env.human("selbstadmin", "admin")
    counsellor, counsellor_room = await env.human("selbstberater", "counsellor")
    client, room = await env.human("selbstweg", "client")
    await _request(client, room, bot)
    assert await login_status(running, client.user_id) == (200, "")

    async def unchanged(rows: MailRows) -> None:
        person = await env.app.mail_rows.Person.get(client.user_id)
        assert person is not None and person.deleted_at is None and person.locked_at is None
        assert await login_status(running, client.user_id) == (200, "")

    # Staff cannot delete themselves here; nothing changes.
    for human, staff_room in ((counsellor, counsellor_room), (admin, admin_room)):
        refused = await ask(human, staff_room, bot, "konto löschen")
        assert "Admin-Person" in refused.body and "Nichts wurde geändert" in refused.body
        person = await env.app.mail_rows.Person.get(human.user_id)
        assert person is not None and person.deleted_at is None

    # A code before any was asked for, a wrong one, an expired one: a clear answer, no change.
    early = await ask(client, room, bot, "konto löschen ABCDEF")
    assert "kein Code" in early.body, early.body
    await unchanged(env.app.mail_rows)
    prompt = await ask(client, room, bot, "konto löschen")
    match = CODE_RE.search(prompt.body)
    assert match, prompt.body
    grace = (await services.settings("nord")).deletion_grace_days
    assert f"{grace} Tagen" in prompt.body and "bis zum" in prompt.body
    code = match.group(1)
    wrong = "".join("A" if c != "A" else "B" for c in code)
    bad = await ask(client, room, bot, f"konto löschen {wrong}")
    assert "stimmt nicht" in bad.body and "nichts wurde geändert" in bad.body, bad.body
    await unchanged(env.app.mail_rows)
    key = self_service.code_key(services)
    now = int(time.time() * 1000)
    codes = env.app.mail_rows.AccountCode
    await codes.issue(key, client.user_id, self_service.PURPOSE, "OLDOLD", now - 1)
    old = await ask(client, room, bot, "delete account OLDOLD")
    assert "abgelaufen" in old.body, old.body
    await unchanged(env.app.mail_rows)
    # A fresh code replaced the expired one; it works in lower case too.
    prompt = await ask(client, room, bot, "konto löschen")
    match = CODE_RE.search(prompt.body)
    assert match, prompt.body

    before = await services.admin.device_count(client.user_id)
    assert before >= 1
    await client.send(room, f"konto löschen {match.group(1).lower()}")

    # Marked at once, locked and logged out on every device.
    async def locked() -> bool:
        return await login_status(running, client.user_id) == (401, "M_USER_LOCKED")

    await until(locked, "the lock")

    async def logged_out() -> bool:
        return await services.admin.device_count(client.user_id) == 0

    await until(logged_out, "every device logged out")
    person = await env.app.mail_rows.Person.get(client.user_id)
    assert person is not None and person.deleted_at is not None
    resp = await client.client.sync(timeout=0)
    assert isinstance(resp, SyncError), resp
    entries = [
        (e.action, e.actor_id, e.target)
        for e in await env.app.mail_rows.AuditEntry.recent("nord", 200)
        if e.target == client.user_id
    ]
    assert ("self_delete", client.user_id, client.user_id) in entries

    # After the grace period the routine erases the account: the login is refused for good.
    await person.set_account(deleted_at=person.deleted_at - (grace + 1) * DAY_MS)
    await running.scheduler.run_now("deletion_routine")
    tomb = await env.app.mail_rows.ErasedPerson.get(client.user_id)
    assert tomb is not None and tomb.erased_at is not None
    assert await login_status(running, client.user_id) == (403, "M_FORBIDDEN")
    assert await env.app.mail_rows.Person.get(client.user_id) is None
    # Restoring after the erasure: a clear answer, nothing changes.
    restore = await ask(admin, admin_room, bot, f"client restore {client.user_id}")
    assert "nicht gefunden" in restore.body or "keine" in restore.body.lower(), restore.body
    assert await env.app.mail_rows.Person.get(client.user_id) is None
    assert await login_status(running, client.user_id) == (403, "M_FORBIDDEN")
