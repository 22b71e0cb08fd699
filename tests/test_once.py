"""The exactly-once runner on both backends: a command's effect and its recorded outcome
commit together, a repeat answers from the record, a failure leaves nothing behind."""

from __future__ import annotations

import secrets

import pytest

from appservice import once
from appservice.once import Outgoing, Rollback, Scope, run_once
from appservice.sealing import sealer
from mailgateway.rows import MailRows
from tests.conftest import opened

SEALER = sealer("test pickle key", "command outcomes")
SECRET = "Anschrift: Lindenweg 7"


def _reply(text: str) -> list[Outgoing]:
    return [Outgoing("!service:x", "m.room.message", {"body": text}, "reply-x")]


async def _event(rows: MailRows) -> str:
    event_id = f"${secrets.token_hex(6)}"
    assert await rows.Inbox.add_many([{"event_id": event_id, "room_id": "!service:x"}]) == 1
    return event_id


async def test_a_repeated_event_is_answered_from_the_record(database_url: str) -> None:
    """The note is written once; the second run sends exactly what the first would have,
    from the sealed record (no clear text in the database); once the event is settled the
    record is gone."""
    async with opened(database_url) as db:
        event_id = await _event(MailRows(db))
        runs = 0
        woken: list[str] = []

        async def work(scope: Scope) -> None:
            nonlocal runs
            runs += 1
            await db.rows.ClientNote.add("nord", "@c:x", "@author:x", "sealed note")
            once.after_commit(lambda: woken.append("mail"))
            assert woken == []  # not before the commit
            scope.outgoing.extend(_reply(SECRET))

        first = await run_once(db.rows.CommandOutcome, SEALER, event_id, work, _reply)
        assert woken == ["mail"]
        second = await run_once(db.rows.CommandOutcome, SEALER, event_id, work, _reply)
        assert runs == 1 and first == second == _reply(SECRET)
        assert len(await db.rows.ClientNote.for_client("nord", "@c:x")) == 1
        stored = await db.rows.CommandOutcome.get(event_id)
        assert stored is not None and "Lindenweg" not in stored
        await db.rows.Inbox.mark_handled(event_id)
        assert await db.rows.CommandOutcome.get(event_id) is None


async def test_a_rolled_back_command_changes_nothing_and_says_so(database_url: str) -> None:
    """A command that raises Rollback keeps none of its writes, messages or after-commit
    callbacks; its answer is recorded like any other."""
    async with opened(database_url) as db:
        event_id = await _event(MailRows(db))
        woken: list[str] = []

        async def work(scope: Scope) -> None:
            await db.rows.ClientNote.add("nord", "@rolled:x", "@author:x", "sealed note")
            once.after_commit(lambda: woken.append("mail"))
            scope.outgoing.extend(_reply("would have told someone"))
            raise Rollback("nothing was changed")

        outgoing = await run_once(db.rows.CommandOutcome, SEALER, event_id, work, _reply)
        assert outgoing == _reply("nothing was changed") and woken == []
        assert await db.rows.ClientNote.for_client("nord", "@rolled:x") == []
        assert await run_once(db.rows.CommandOutcome, SEALER, event_id, work, _reply) == outgoing


async def test_an_unexpected_error_leaves_no_record(database_url: str) -> None:
    """Any other failure rolls back and records nothing: the inbox retries the whole event,
    which then runs the command afresh."""
    async with opened(database_url) as db:
        event_id = await _event(MailRows(db))
        attempts = 0

        async def work(scope: Scope) -> None:
            nonlocal attempts
            attempts += 1
            await db.rows.ClientNote.add("nord", "@retried:x", "@author:x", "sealed note")
            if attempts == 1:
                raise RuntimeError("the database went away")
            scope.outgoing.extend(_reply("done"))

        with pytest.raises(RuntimeError):
            await run_once(db.rows.CommandOutcome, SEALER, event_id, work, _reply)
        assert await db.rows.CommandOutcome.get(event_id) is None
        assert await run_once(db.rows.CommandOutcome, SEALER, event_id, work, _reply) == _reply(
            "done"
        )
        assert len(await db.rows.ClientNote.for_client("nord", "@retried:x")) == 1
