"""The authorisation matrix on real Synapse (issue 13): refused cells change nothing.

Every command of the registry that names somebody or something (a client, a counsellor's
login, a group, a note, a request) is typed with a target of centre Nord by an admin of
another centre, and every staff command by a client of Nord itself; between the first and
the last, Lotse's tables (all but the event inbox and the crypto and Matrix-state caches)
must be exactly the same, but for the client's own intake dialogue (see below). The rule
per role is table-tested in tests/test_fuzz.py; what allowed cells do is the feature tests'
job.
"""

from __future__ import annotations

from typing import Any

import pytest
from mautrix.util.async_db import Database, Scheme

from appservice.app import LotseApp
from appservice.dev.client import ask
from bots.framework.commands import Role
from tests.conftest import MakeHuman
from tests.fuzz_inputs import REGISTRY
from tests.test_clients import created, staff, unique

pytestmark = pytest.mark.synapse

# Not Lotse's state: Synapse's events as they arrive, and caches of Matrix state and keys.
SKIPPED_PREFIXES = ("event_inbox", "command_outcome", "crypto_", "mx_", "lotse_version")


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    if db.scheme == Scheme.SQLITE:
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type='table'")
    else:
        rows = await db.fetch("SELECT tablename AS name FROM pg_tables WHERE schemaname='public'")
    tables = sorted(r["name"] for r in rows if not r["name"].startswith(SKIPPED_PREFIXES))
    out = {}
    for table in tables:
        content = await db.fetch(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the catalogue
        out[table] = sorted(tuple(str(v) for v in row) for row in content)
    return out


def typed(name: str, targets: dict[str, str]) -> str:
    """The command with each required argument filled from ``targets`` (else ``x``)."""
    spec = next(s for s in REGISTRY.specs if s.name == name)
    words = []
    for arg in spec.args:
        if not arg.required:
            continue
        value = targets.get(arg.name, "x")
        words.append(f"{arg.name}={value}" if arg.keyword else value)
    return " ".join([name, *words])


def diff(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> dict[str, Any]:
    return {
        t: {
            "gone": sorted(set(before.get(t, [])) - set(after.get(t, []))),
            "new": sorted(set(after.get(t, [])) - set(before.get(t, []))),
        }
        for t in set(before) | set(after)
        if before.get(t) != after.get(t)
    }


async def test_refused_cells_change_nothing(make_human: MakeHuman, running: LotseApp) -> None:
    bot = running.cfg.assistant_mxid
    counsellor, c_room = await staff(make_human, bot, "matrixnord", "counsellor")
    client = await created(
        running.mail_rows, counsellor, c_room, bot, f"client new {unique('Matrix')}"
    )
    await ask(counsellor, c_room, bot, f"note {client.user_id} nur für Nord")
    await ask(counsellor, c_room, bot, f"group new {unique('Nordgruppe')}")
    db = running.db.main
    note_id = str(await db.fetchval("SELECT MAX(id) FROM client_note"))
    group_id = str(await db.fetchval("SELECT MAX(id) FROM client_group"))
    targets = {
        "client": client.user_id,
        "counsellor": counsellor.user_id,
        "login": counsellor.user_id.split(":")[0].lstrip("@"),
        "id": note_id,
        "group": group_id,
        "text": "Text",
        "subject": "Betreff",
        "first": "2030-01-01",
        "last": "2030-01-02",
        "label": "Urlaub",
        "pseudonym": unique("Fremd"),
        "name": "Fremd",
        "email": "fremd@example.org",
        "capacity": "3",
        "role": "admin",
    }
    outsider, o_room = await staff(make_human, bot, "matrixsouth", "admin", centre="south")
    nord_client = await make_human("matrixclient", centre="nord", role="client")
    n_room = await nord_client.service_room(bot)
    await nord_client.next_notice(n_room, bot, 0)
    # An admin of another centre: everything aimed at Nord's people, rooms and records.
    aimed = {"client", "counsellor", "login", "id", "group"}
    across = [s.name for s in REGISTRY.specs if any(a.name in aimed and a.required for a in s.args)]
    # A client: every command clients may not use (admins' and counsellors').
    staff_only = [s.name for s in REGISTRY.specs if Role.CLIENT not in s.roles]
    assert len(across) > 20 and len(staff_only) > 40
    before = await snapshot(db)
    answers = {}
    for name in across:
        text = typed(name, targets)
        answers[("admin of South", text)] = (await ask(outsider, o_room, bot, text)).body
    for name in staff_only:
        text = typed(name, targets)
        answers[("client of Nord", text)] = (await ask(nord_client, n_room, bot, text)).body
    after = await snapshot(db)
    changed = diff(before, after)
    # The one change allowed: clients never learn that staff commands exist, so a longer
    # one reads as a sentence and starts the client's own intake dialogue (bots/triage.py).
    intake = changed.pop("triage_dialogue", {"gone": [], "new": []})
    assert changed == {}
    assert intake["gone"] == [] and all(row[0] == nord_client.user_id for row in intake["new"])
    assert all(body.strip() for body in answers.values())
