"""One-time links never lie in the database in clear, even while SMTP is down: every kind of
secret link Lotse mails (invitation, reset, address confirmation, registration, unsubscribe)
is looked for in the raw SQLite file and in every PostgreSQL table while its mail waits; then
the SMTP server comes up, the mails arrive and every link works. Real Synapse, real SMTP
servers, both databases."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import aiohttp
import pytest

from appservice.app import LotseApp
from appservice.db import LotseDatabase
from appservice.dev.synapse_runner import free_port
from bots.framework.commands import Role
from bots.framework.dispatch import CommandContext, run_command
from mailgateway.outbox import QUEUED, SENT, outbox_sealer
from mailgateway.render import MailTemplates
from mailgateway.rows import MailRows
from mailgateway.sender import MailSender, RetryPolicy, SmtpSettings
from tests.conftest import MakeHuman
from tests.invitation_support import new_person, second_listener
from tests.mail_helpers import give_confirmed_address, readable
from tests.test_mail_sender import Recorder, smtp_server

pytestmark = pytest.mark.synapse

LINK_RE = re.compile(
    r"https?://[^\s<>\"]+/(invite|reset|confirm|register|unsubscribe)/([^\s<>\"]+)"
)


def _ctx(running: LotseApp, user_id: str, role: Role) -> CommandContext:
    return CommandContext(
        user_id=user_id,
        role=role,
        centre_id="nord",
        centre_name="Beratungsstelle Nord",
        lang="de",
        room_id="!room:lotse.test",
        event_id=f"$evt{secrets.token_hex(4)}",
        renderer=running.renderer,
        registry=running.assistant.registry,
        extra={"services": running.assistant.services},
    )


async def _at_rest(url: str, db: LotseDatabase) -> str:
    """What a copy of the database shows: the SQLite file's raw bytes (with its journal), or
    every column of every PostgreSQL table as text."""
    if url.startswith("sqlite:"):
        path = Path(url.removeprefix("sqlite:"))
        files = sorted(path.parent.glob(path.name + "*"))
        assert path in files
        return b"".join(f.read_bytes() for f in files).decode("latin-1")
    tables = await db.main.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
    lines = []
    for row in tables:
        rows = await db.main.fetch(f'SELECT t::text AS line FROM "{row["tablename"]}" t')
        lines += [r["line"] for r in rows]
    return "\n".join(lines)


async def _post(url: str, form: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=form, allow_redirects=False) as resp:
            return resp.status


async def _states(rows: MailRows, ids: set[int]) -> set[str]:
    mails = [await rows.Outbox.get(i) for i in ids]
    return {m.state for m in mails if m is not None}


async def _sent_all(rows: MailRows, sender: MailSender, deadline: float, ids: set[int]) -> None:
    while QUEUED in await _states(rows, ids):
        assert time.monotonic() < deadline, "the queued mails were not sent"
        await sender.run_once()


async def test_links_waiting_for_smtp_are_in_no_table_and_work_once_sent(
    running: LotseApp, make_human: MakeHuman, rows: MailRows
) -> None:
    """SMTP down: five mails with secret links wait, and none of the tokens is in the raw
    database (the rows are). SMTP up: they arrive, and each link does its job."""
    down = free_port()  # nothing listens here yet: SMTP is down
    sender = MailSender(
        SmtpSettings(host="127.0.0.1", port=down, from_address="lotse@lotse.test", security="none"),
        MailTemplates(),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05, max_attempts=100),
        sealer=outbox_sealer(running.cfg.encryption.sealing_key),
        rows=rows,
    )
    # Only this sender may take the rows (the app's own would deliver them at once).
    await running.mail_sender.stop()
    try:
        # The app's own database: every part that stores a link (commands, pages, the mail
        # gateway) writes there, and the test reads that database as a copy would show it.
        db, database_url = running.db, running.cfg.database.url
        # Other tests' mail lies there too: count what this test adds.
        before = {m.id for m in await rows.Outbox.due(now=2**62)}
        async with second_listener(running, self_registration_centre="south") as site:
            admin = await rows.Person.upsert(
                f"@chefin-{secrets.token_hex(3)}:lotse.test", "nord", "admin"
            )
            as_admin = _ctx(running, admin.user_id, Role.ADMIN)
            tag = secrets.token_hex(3)
            fresh = await new_person(running, "Siegel", email=f"siegel-{tag}@example.org")
            reply = await run_command(f"client invite {fresh.user_id}", as_admin)
            assert reply is not None and "per E-Mail" in reply
            user = await make_human("versiegelt", centre="nord", role="client")
            person, _ = await give_confirmed_address(rows, user)
            reply = await run_command(f"client invite {user.user_id}", as_admin)
            assert reply is not None and "Link zum Zurücksetzen" in reply
            as_user = _ctx(running, user.user_id, Role.CLIENT)
            reply = await run_command(f"email neu-{tag}@example.org", as_user)
            assert reply is not None and "Bestätigungslink" in reply
            assert await running.assistant.services.notify(person, "centre_message") == "queued"
            registered = await _post(
                f"{site}/register",
                {"pseudonym": f"Robbe {tag}", "email": f"robbe-{tag}@example.org"},
            )
            assert registered == 200

            await sender.run_once()  # refused: the connection fails, the batch waits
            waiting = [m for m in await rows.Outbox.due(now=2**62) if m.id not in before]
            assert len(waiting) == 5 and sender.connect_failures == 1
            ids = {m.id for m in waiting}
            recipients = {m.recipient.lower() for m in waiting}
            at_rest = await _at_rest(database_url, db)
            assert fresh.user_id in at_rest  # the copy holds the rows it must be searched in

            handler = Recorder()
            with smtp_server(handler, port=down):
                await _sent_all(rows, sender, time.monotonic() + 30, ids)
            assert await _states(rows, ids) == {SENT}
            ours = [m for m in handler.messages if str(m["To"]).lower() in recipients]
            assert len(ours) == 5
            texts = [readable(msg) + str(msg["List-Unsubscribe"] or "") for msg in ours]
            links = {m.group(1): m.group(0) for text in texts for m in LINK_RE.finditer(text)}
            assert set(links) == {"invite", "reset", "confirm", "register", "unsubscribe"}
            for kind, link in links.items():
                token = link.rsplit("/", 1)[1]
                assert token not in at_rest, f"the {kind} token lay in the database"
                assert token not in await _at_rest(database_url, db)

            # Every link works.
            good = {"password": "Siegel!2027", "password_repeat": "Siegel!2027"}
            assert await _post(links["invite"], good) == 200
            assert await _post(links["reset"], good) == 200
            assert await _post(links["confirm"], {}) == 200
            assert await _post(links["unsubscribe"], {}) == 200
            assert await _post(links["register"], {}) == 303
    finally:
        await running.mail_sender.start()
