"""Inactive accounts (issue 12, point 3) through real Synapse, E2EE clients and SMTP, with
Lotse's clock moved by the test (Synapse's last seen stays real): a client is warned in their
service room and by mail 7 days before, a login in between cancels it, and without one they
are marked for deletion (the login is refused); a counsellor is never deleted, the admins get
them in a list. Only centre ``ost`` takes part: the others, whose people belong to other
tests, are switched off meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appservice import clock
from appservice.app import LotseApp
from appservice.dev.client import PASSWORD, Human, notices_before_marker
from appservice.dev.synapse_runner import password_login
from bots.accounts.inactivity_rules import DAY_MS
from tests.conftest import Lotse, MailSink, Stack, join_control_room
from tests.invitation_support import mail_to
from tests.mail_helpers import give_confirmed_address, mails_to
from tests.test_erasure import Env, postgres_env

pytestmark = pytest.mark.synapse

CENTRE = "ost"
KEY = "inactive_account_months"


@pytest.fixture
async def only_ost(running: LotseApp) -> AsyncIterator[None]:
    """Switch the rule off for the other centres; put everything back afterwards."""
    others = [c.id for c in running.cfg.centres if c.id != CENTRE]
    saved = {
        c: (await running.rows.CentreSettingRow.overrides(c)).get(KEY) for c in [*others, CENTRE]
    }
    for centre in others:
        await running.rows.CentreSettingRow.set(centre, KEY, "0", "@test:lotse.test")
    await running.rows.CentreSettingRow.set(CENTRE, KEY, "3", "@test:lotse.test")
    try:
        yield
    finally:
        clock.reset()
        for centre, value in saved.items():
            if value is None:
                await running.db.main.execute(
                    "DELETE FROM centre_setting WHERE centre_id=$1 AND key=$2", centre, KEY
                )
            else:
                await running.rows.CentreSettingRow.set(centre, KEY, value, "@test:lotse.test")


async def _last_seen(running: LotseApp, user_id: str) -> int:
    info = await running.assistant.services.admin.get_user(user_id)
    return int(info.last_seen_ts or 0) if info is not None else 0


async def _seen_after(running: LotseApp, user_id: str, after: int) -> int:
    """Synapse writes last-seen times in batches: wait until it has one beyond ``after``."""
    deadline = time.monotonic() + 30
    while (seen := await _last_seen(running, user_id)) <= after:
        assert time.monotonic() < deadline, "Synapse recorded no login"
        await asyncio.sleep(0.5)
    return seen


async def test_inactive_accounts_sqlite(
    stack: Stack, running: LotseApp, mail_sink: MailSink, tmp_path: Path, only_ost: None
) -> None:
    """On the session's Synapse and Lotse (SQLite), centre ``ost`` alone."""
    env = Env(running, stack.synapse, mail_sink, tmp_path)
    try:
        await check_inactivity(env)
    finally:
        await env.close()


async def test_inactive_accounts_postgres(
    lotse: Lotse, running: LotseApp, mail_sink: MailSink, tmp_path: Path
) -> None:
    """On a second Synapse with a Lotse on a fresh PostgreSQL database."""
    try:
        async with postgres_env(lotse, mail_sink, tmp_path) as env:
            await check_inactivity(env)
    finally:
        clock.reset()


async def check_inactivity(env: Env) -> None:
    running, mail_sink, tmp_path = env.app, env.sink, env.tmp
    bot = running.cfg.assistant_mxid
    admin, _ = await env.human("ostadmin", "admin", CENTRE)
    control = await join_control_room(running, admin)
    counsellor, _ = await env.human("ostberater", "counsellor", CENTRE)
    client, room = await env.human("ostklient", "client", CENTRE)
    _, address = await give_confirmed_address(env.app.mail_rows, client)
    seen = await _seen_after(running, client.user_id, 0)

    async def run() -> None:
        await running.scheduler.run_now("inactive_accounts")

    # Three months minus six days later: the warning, in the room and by mail.
    before = len(client.notices(room, bot))
    admin_before = len(admin.notices(control, bot))
    clock.advance(84 * DAY_MS)
    await run()
    warned = await client.next_notice(room, bot, before, contains="nicht angemeldet")
    assert "3 Monaten" in warned.body and "melden Sie sich" in warned.body
    mail = await mail_to(mail_sink, running, address)
    assert "gelöscht" in str(mail["Subject"])
    person = await env.app.mail_rows.Person.get(client.user_id)
    assert person is not None and person.deleted_at is None
    listed = await admin.next_notice(control, bot, admin_before, contains=counsellor.user_id)
    assert "nicht angemeldet" in listed.body and client.user_id not in listed.body

    # A second run the same day warns nobody again.
    await run()
    assert await notices_before_marker(client, room, bot, before + 1) == []
    assert len(mails_to(mail_sink, address)) == 1

    # The client logs in: past the first warning's day they are still there.
    again = await Human.login(running.cfg.homeserver.address, client.user_id, PASSWORD, tmp_path)
    try:
        await _seen_after(running, client.user_id, seen)
    finally:
        await again.close()
    clock.advance(8 * DAY_MS)
    await run()
    person = await env.app.mail_rows.Person.get(client.user_id)
    assert person is not None and person.deleted_at is None
    status, _ = await password_login(running.cfg.homeserver.address, client.user_id, PASSWORD)
    assert status == 200

    # No login after the next warning: marked for deletion, the login refused at once.
    clock.advance(8 * DAY_MS)
    await run()
    person = await env.app.mail_rows.Person.get(client.user_id)
    assert person is not None and person.deleted_at is not None
    status, body = await password_login(running.cfg.homeserver.address, client.user_id, PASSWORD)
    assert (status, body.get("errcode")) == (401, "M_USER_LOCKED")
    assert client.user_id not in await env.app.mail_rows.InactivityNotice.all()
    actions = {(e.action, e.target) for e in await env.app.mail_rows.AuditEntry.recent(CENTRE, 50)}
    assert ("inactive_delete", client.user_id) in actions
    await admin.next_notice(control, bot, admin_before, contains="zum Löschen vorgemerkt")
    # Staff are never deleted this way.
    for user_id in (counsellor.user_id, admin.user_id):
        staff = await env.app.mail_rows.Person.get(user_id)
        assert staff is not None and staff.deleted_at is None
