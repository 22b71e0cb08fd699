"""The IMAP poller against a real IMAP server (pymap), address status on both databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest

from mailgateway.imap_poller import ImapPoller, ImapSettings
from mailgateway.rows import MailRows
from tests.conftest import opened
from tests.imap_server import ImapServer
from tests.test_mail_bounces import GARBAGE, dsn, huge, out_of_office, reply, vacation

PROCESSED = "Lotse/Processed"
SKIPPED = "Lotse/Skipped"
KNOWN_PEOPLE = ("anna", "bert")


@pytest.fixture
async def addresses(database_url: str) -> AsyncIterator[MailRows]:
    """A migrated database with the row classes bound to it (the app's binding comes back
    after), where anna@ and bert@example.org are confirmed addresses of people: the only
    ones an auto-answer may go to."""
    async with opened(database_url) as db:
        for name in KNOWN_PEOPLE:
            person = await db.rows.Person.upsert(f"@{name}:lotse.test", "nord", "client")
            await person.set_account(email=f"{name}@example.org")
            await MailRows(db).Preferences.mark_confirmed(person.user_id, f"{name}@example.org")
        yield MailRows(db)


@pytest.fixture
async def imap() -> AsyncIterator[ImapServer]:
    async with ImapServer() as server:
        yield server


class Recorder:
    """The injected callbacks: remembers whom it would have answered or reported."""

    def __init__(self) -> None:
        self.answered: list[str] = []
        self.bouncing: list[str] = []
        self.fail_next_answer = False

    async def send_auto_answer(self, address: str) -> None:
        if self.fail_next_answer:
            self.fail_next_answer = False
            raise ConnectionError("outbox unavailable")
        self.answered.append(address)

    async def on_bouncing(self, address: str) -> None:
        self.bouncing.append(address)


class FetchCountingPoller(ImapPoller):
    """Remembers which UIDs were downloaded (to prove oversized mail is not)."""

    fetched: list[int]

    async def _fetch(self, uid: int) -> bytes | None:
        self.fetched.append(uid)
        return await super()._fetch(uid)


def settings_for(server: ImapServer, **changes: object) -> ImapSettings:
    base = ImapSettings(
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        security="none",
        poll_interval=0.2,
        min_backoff=0.1,
        max_backoff=0.5,
        timeout=5,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def filed(server: ImapServer, processed: int, skipped: int = 0) -> None:
    """Wait until INBOX is empty and the folders hold the given numbers of messages."""

    async def check() -> bool:
        counts = [await server.count(m) for m in ("INBOX", PROCESSED, SKIPPED)]
        return counts == [0, processed, skipped]

    await eventually(check)


class Running:
    def __init__(self, poller: ImapPoller) -> None:
        self.poller = poller
        self.task = asyncio.create_task(poller.run())

    async def stop(self) -> None:
        self.poller.stop()
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Running]]:
    """``start(poller)`` runs it in a task; every poller is stopped (and must end) afterwards."""
    started: list[Running] = []

    def run(poller: ImapPoller) -> Running:
        started.append(Running(poller))
        return started[-1]

    yield run
    for running in started:
        if not running.task.done():
            await running.stop()


MODES = {
    "idle+move": {},
    "poll+copy": {"use_idle": False, "use_move": False},
}


# --- address status -------------------------------------------------------------------------


async def test_hard_bounce_threshold(addresses: MailRows) -> None:
    """The third hard bounce (any letter case) turns the address bouncing, reported once."""
    assert not await addresses.MailAddress.record_hard_bounce("Anna@Example.org", threshold=3)
    assert not await addresses.MailAddress.record_hard_bounce("anna@example.org", threshold=3)
    assert await addresses.MailAddress.record_hard_bounce("ANNA@example.org", threshold=3)
    assert not await addresses.MailAddress.record_hard_bounce("anna@example.org", threshold=3)
    assert await addresses.MailAddress.is_bouncing("anna@EXAMPLE.org")
    row = await addresses.MailAddress.get("anna@example.org")
    assert row is not None and row.hard_bounces == 4 and row.last_bounce_at
    assert not await addresses.MailAddress.is_bouncing("bert@example.org")


async def test_reset_clears_bounces(addresses: MailRows) -> None:
    """After reset the address is ok again and needs the full threshold anew."""
    for _ in range(2):
        await addresses.MailAddress.record_hard_bounce("anna@example.org", threshold=2)
    await addresses.MailAddress.reset("Anna@example.org")
    assert not await addresses.MailAddress.is_bouncing("anna@example.org")
    assert not await addresses.MailAddress.record_hard_bounce("anna@example.org", threshold=2)
    assert await addresses.MailAddress.record_hard_bounce("anna@example.org", threshold=2)


async def test_auto_answer_interval(addresses: MailRows) -> None:
    """One auto-answer per address per interval; concurrent claims have one winner."""
    hour = 3_600_000
    assert await addresses.MailAddress.mark_auto_answered("anna@example.org", 10 * hour, hour)
    assert not await addresses.MailAddress.mark_auto_answered(
        "ANNA@example.org", 10 * hour + 1, hour
    )
    assert await addresses.MailAddress.mark_auto_answered("anna@example.org", 11 * hour, hour)
    claims = await asyncio.gather(
        *(
            addresses.MailAddress.mark_auto_answered("bert@example.org", 5 * hour, hour)
            for _ in range(5)
        )
    )
    assert claims.count(True) == 1


# --- the poller -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_bounces_mark_address(
    mode: str, addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """Three hard bounces make an address bouncing (hook once); soft bounces count nothing."""
    calls = Recorder()
    poller = ImapPoller(
        settings_for(imap, **MODES[mode]),
        calls.send_auto_answer,
        calls.on_bouncing,
        addresses=addresses.MailAddress,
    )
    start(poller)
    for _ in range(3):
        await imap.append(dsn([("Anna@Example.org", "failed", "5.1.1")]))
        await imap.append(dsn([("bert@example.org", "delayed", "4.2.2")]))
    await filed(imap, processed=6)
    await imap.append(dsn([("anna@example.org", "failed", "5.1.1")]))
    await filed(imap, processed=7)
    assert calls.bouncing == ["anna@example.org"]
    assert await addresses.MailAddress.is_bouncing("anna@example.org")
    assert not await addresses.MailAddress.is_bouncing("bert@example.org")
    assert await addresses.MailAddress.get("bert@example.org") is None
    assert calls.answered == []


async def test_foreign_reports_count_nothing(
    addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """With a Message-ID check, reports about mail Lotse never sent are filed but not counted."""
    calls = Recorder()

    async def ours(message_id: str) -> bool:
        return message_id == "<n1@beratung.example>"

    settings = settings_for(imap, bounce_threshold=1)
    start(
        ImapPoller(
            settings,
            calls.send_auto_answer,
            calls.on_bouncing,
            ours,
            addresses=addresses.MailAddress,
        )
    )
    await imap.append(dsn([("anna@example.org", "failed", "5.1.1")], "<forged@evil.example>"))
    await filed(imap, processed=1)
    assert not await addresses.MailAddress.is_bouncing("anna@example.org")
    await imap.append(dsn([("anna@example.org", "failed", "5.1.1")]))
    await filed(imap, processed=2)
    assert calls.bouncing == ["anna@example.org"]


@pytest.mark.parametrize("mode", MODES)
async def test_replies(
    mode: str, addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """A human gets one auto-answer even when writing twice; auto-replies get none."""
    calls = Recorder()
    settings = settings_for(
        imap, own_addresses=frozenset({"Lotse@Beratung.example"}), **MODES[mode]
    )
    start(
        ImapPoller(
            settings,
            calls.send_auto_answer,
            calls.on_bouncing,
            is_known_address=addresses.Preferences.is_confirmed_address,
            addresses=addresses.MailAddress,
        )
    )
    await imap.append(reply("Anna Beispiel <Anna@Example.org>"))
    await imap.append(reply("anna@example.org", "Noch eine Frage"))
    await imap.append(out_of_office("bert@example.org"))
    await imap.append(vacation("carla@example.org"))
    await imap.append(reply("lotse@beratung.example"))  # our own mail coming back
    await filed(imap, processed=5)
    assert calls.answered == ["anna@example.org"]


@pytest.mark.parametrize("mode", MODES)
async def test_strangers_get_no_answer_and_leave_no_trace(
    mode: str, addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """Only a confirmed address of a person is answered. A stranger's reply, an address that
    is only waiting for confirmation, and a deleted person's address get nothing, and none
    of them is stored (no mail_address row, nothing anywhere else)."""
    calls = Recorder()
    pending = await addresses.Person.upsert("@dora:lotse.test", "nord", "client")
    await addresses.Preferences.start_confirmation(pending.user_id, "dora@example.org")
    gone = await addresses.Person.upsert("@emil:lotse.test", "nord", "client")
    await gone.set_account(email="emil@example.org")
    await addresses.Preferences.mark_confirmed(gone.user_id, "emil@example.org")
    await gone.set_account(deleted_at=1)
    settings = settings_for(imap, **MODES[mode])
    start(
        ImapPoller(
            settings,
            calls.send_auto_answer,
            is_known_address=addresses.Preferences.is_confirmed_address,
            addresses=addresses.MailAddress,
        )
    )
    for sender in ("Fremd <stranger@example.net>", "dora@example.org", "emil@example.org"):
        await imap.append(reply(sender))
    await imap.append(reply("Anna@Example.org"))  # the marker: it is answered after the rest
    await filed(imap, processed=4)
    assert calls.answered == ["anna@example.org"]
    for address in ("stranger@example.net", "dora@example.org", "emil@example.org"):
        assert await addresses.MailAddress.get(address) is None
    stored = await addresses.db.fetch("SELECT address FROM mail_address")
    # The one row is Anna's, keyed by her address's keyed hash (never the address).
    assert [row["address"] for row in stored] == [addresses.contact.lookup("anna@example.org")]


async def test_no_answer_to_bouncing_address(
    addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """A reply from an address known to bounce is filed without an answer."""
    calls = Recorder()
    await addresses.MailAddress.record_hard_bounce("anna@example.org", threshold=1)
    start(
        ImapPoller(
            settings_for(imap),
            calls.send_auto_answer,
            is_known_address=addresses.Preferences.is_confirmed_address,
            addresses=addresses.MailAddress,
        )
    )
    await imap.append(reply())
    await filed(imap, processed=1)
    assert calls.answered == []


@pytest.mark.parametrize("mode", MODES)
async def test_garbage_and_oversized_skipped(
    mode: str, addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """Bad mail goes to Skipped, oversized is never downloaded, and the poller carries on."""
    calls = Recorder()
    settings = settings_for(imap, max_message_bytes=100_000, **MODES[mode])
    poller = FetchCountingPoller(
        settings,
        calls.send_auto_answer,
        is_known_address=addresses.Preferences.is_confirmed_address,
        addresses=addresses.MailAddress,
    )
    poller.fetched = []
    running = start(poller)
    await imap.append(GARBAGE)
    await imap.append(huge(size=300_000))
    await imap.append(b"From: nobody\r\n\r\n")
    await filed(imap, processed=0, skipped=3)
    assert len(poller.fetched) == 2  # garbage and the From-less mail, not the huge one
    await imap.append(reply())
    await filed(imap, processed=1, skipped=3)
    assert calls.answered == ["anna@example.org"]
    assert not running.task.done()


async def test_failing_callback_leaves_message_and_continues(
    addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """If the answer cannot be queued the mail stays in INBOX and later mail is still handled."""
    calls = Recorder()
    calls.fail_next_answer = True
    running = start(
        ImapPoller(
            settings_for(imap),
            calls.send_auto_answer,
            is_known_address=addresses.Preferences.is_confirmed_address,
            addresses=addresses.MailAddress,
        )
    )
    await imap.append(reply("anna@example.org"))
    await eventually(lambda: _value(running.poller.counts["error"] == 1))
    await imap.append(reply("bert@example.org"))
    await eventually(lambda: _value(calls.answered == ["bert@example.org"]))
    assert await imap.count("INBOX") == 1
    assert not running.task.done()


async def test_reconnects_after_server_restart(
    addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """When the server goes away the poller retries with backoff and resumes on return."""
    calls = Recorder()
    running = start(
        ImapPoller(
            settings_for(imap),
            calls.send_auto_answer,
            is_known_address=addresses.Preferences.is_confirmed_address,
            addresses=addresses.MailAddress,
        )
    )
    await imap.append(reply("anna@example.org"))
    await filed(imap, processed=1)
    await imap.stop()
    await eventually(lambda: _value(running.poller.counts["session-error"] >= 2))
    await imap.start()  # same port, empty mailboxes
    await imap.append(reply("bert@example.org"))
    await filed(imap, processed=1)
    assert calls.answered == ["anna@example.org", "bert@example.org"]


async def test_stop_ends_idle_promptly(
    addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """stop() wakes a poller waiting in IDLE; run() returns within a second."""
    calls = Recorder()
    running = start(
        ImapPoller(
            settings_for(imap, idle_renew=600),
            calls.send_auto_answer,
            addresses=addresses.MailAddress,
        )
    )
    await imap.append(reply())
    await filed(imap, processed=1)
    began = time.monotonic()
    await running.stop()
    assert time.monotonic() - began < 1


async def test_wrong_password_retries_without_crashing(
    addresses: MailRows, imap: ImapServer, start: Callable[..., Running]
) -> None:
    """A refused login is a failed session, retried; it never ends run()."""
    calls = Recorder()
    running = start(
        ImapPoller(
            settings_for(imap, password="wrong"),
            calls.send_auto_answer,
            addresses=addresses.MailAddress,
        )
    )
    await eventually(lambda: _value(running.poller.counts["session-error"] >= 2))
    assert not running.task.done()


async def test_process_once(addresses: MailRows, imap: ImapServer) -> None:
    """One pass handles what is there and disconnects."""
    calls = Recorder()
    await imap.append(reply())
    await imap.append(GARBAGE)
    await ImapPoller(
        settings_for(imap),
        calls.send_auto_answer,
        is_known_address=addresses.Preferences.is_confirmed_address,
        addresses=addresses.MailAddress,
    ).process_once()
    assert [await imap.count(m) for m in ("INBOX", PROCESSED, SKIPPED)] == [0, 1, 1]
    assert calls.answered == ["anna@example.org"]


async def _value(result: bool) -> bool:
    return result
