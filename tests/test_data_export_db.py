"""The data export on SQLite and PostgreSQL (issue 12, point 2): for a client and a counsellor
with rows in every table, the file parsed back covers every table that names them (found by
the erasure test's search of the whole catalogue), holds their own contact data, and none of
another person's."""

from __future__ import annotations

import json
from fnmatch import fnmatch
from typing import Any

from bots.accounts.data_export import SCHEMA, SCHEMA_VERSION, build_document
from mailgateway.rows import MailRows
from tests.conftest import opened
from tests.leftovers import needles_of, traces
from tests.test_erasure_db import (
    ADDRESS,
    CLIENT,
    COUNSELLOR,
    COUNSELLOR_NAME,
    NEW_ADDRESS,
    PHONE,
    PSEUDONYM,
    STAYS,
    fill_every_table,
)


def uncovered(tables: set[str], document: dict[str, Any]) -> set[str]:
    """The tables the file neither carries nor names as deliberately left out."""
    excluded = [pattern for e in document["excluded"] for pattern in e["tables"]]
    for entry in document["excluded"]:
        assert entry["reason"], entry  # every exclusion says why
    return {
        t for t in tables if t not in document["data"] and not any(fnmatch(t, p) for p in excluded)
    }


async def exported(rows: MailRows, user_id: str) -> dict[str, Any]:
    """The file as the person gets it, parsed back from its JSON."""
    document = build_document(
        user_id,
        await rows.PersonalData.collect(user_id),
        await rows.PersonalData.counts(user_id),
        0,
    )
    parsed = json.loads(json.dumps(document, ensure_ascii=False))
    assert parsed["schema"] == SCHEMA and parsed["schema_version"] == SCHEMA_VERSION
    assert parsed["user_id"] == user_id
    return dict(parsed)


async def test_export_covers_every_table(database_url: str) -> None:
    async with opened(database_url) as db:
        await fill_every_table(db)

        client = needles_of(CLIENT, PSEUDONYM, [ADDRESS, NEW_ADDRESS], PHONE)
        tables = {t.table for t in await traces(db.main, client)}
        assert {"person", "audit_log", "client_note", "mx_user_profile"} <= tables
        document = await exported(MailRows(db), CLIENT)
        assert uncovered(tables, document) == set()
        text = json.dumps(document["data"], ensure_ascii=False)
        for own in (ADDRESS, PHONE, PSEUDONYM, NEW_ADDRESS.lower(), "20095", "client_set"):
            assert own in text, own
        assert STAYS not in text and COUNSELLOR_NAME not in text
        assert document["data"]["mail_preference"][0]["delay_minutes"] == 60
        assert [r["status"] for r in document["data"]["counselling_request"]] == ["assigned"]
        counted = {e["what"]: e.get("count") for e in document["excluded"]}
        assert counted["notes by counsellors"] == 1
        assert counted["documents by counsellors"] == 1
        assert "sealed" not in text  # no note or document reference travels

        counsellor = needles_of(COUNSELLOR, COUNSELLOR_NAME, [])
        tables = {t.table for t in await traces(db.main, counsellor)}
        assert {"person", "absence", "centre_setting", "transfer"} <= tables
        document = await exported(MailRows(db), COUNSELLOR)
        assert uncovered(tables, document) == set()
        text = json.dumps(document["data"], ensure_ascii=False)
        assert "Urlaub" in text and COUNSELLOR_NAME in text
        assert PHONE not in text and ADDRESS not in text  # the client's contact data
