"""Where a person still appears in Lotse's database: every table and every column that can
hold text or bytes, found in the database's own catalogue (never a list kept here), so a table
added later is searched too."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mautrix.util.async_db import Database, Scheme

# PostgreSQL types whose values can hold a name or an address (enums come as USER-DEFINED).
_PG_TEXT = {"text", "character varying", "character", "json", "jsonb", "USER-DEFINED", "ARRAY"}
_PG_BYTES = {"bytea"}


@dataclass(frozen=True)
class Trace:
    table: str
    column: str
    what: str  # which needle: "id", "pseudonym", "address" …


async def text_columns(db: Database) -> dict[str, list[str]]:
    """Every table of the database with its text and bytes columns, from the catalogue."""
    columns: dict[str, list[str]] = {}
    if db.scheme == Scheme.SQLITE:
        tables = await db.fetch("SELECT name FROM sqlite_master WHERE type='table'")
        for table in (row["name"] for row in tables):
            # SQLite stores any value in any column: every column counts.
            info = await db.fetch("SELECT name FROM pragma_table_info($1)", table)
            columns[table] = [row["name"] for row in info]
        return columns
    rows = await db.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    for row in rows:
        columns.setdefault(row["table_name"], [])
        if row["data_type"] in _PG_TEXT | _PG_BYTES:
            columns[row["table_name"]].append(row["column_name"])
    return columns


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _forms(needle: str) -> set[str]:
    """The needle as typed and as JSON writes it (``ö`` → ``\\u00f6``), case-folded."""
    return {needle.casefold(), json.dumps(needle)[1:-1].casefold()}


async def traces(db: Database, needles: dict[str, str]) -> set[Trace]:
    """Every (table, column) holding one of ``needles`` (label → text), in any case."""
    found: set[Trace] = set()
    wanted = {label: _forms(text) for label, text in needles.items() if text}
    for table, cols in (await text_columns(db)).items():
        if not cols:
            continue
        selected = ", ".join(f'"{c}"' for c in cols)
        for row in await db.fetch(f'SELECT {selected} FROM "{table}"'):
            for column in cols:
                text = _as_text(row[column]).casefold()
                if not text:
                    continue
                for label, forms in wanted.items():
                    if any(form in text for form in forms):
                        found.add(Trace(table, column, label))
    return found


def needles_of(
    user_id: str, pseudonym: str | None, addresses: list[str], phone: str | None = None
) -> dict[str, str]:
    """What must be gone after a person's erasure: id, localpart, pseudonym, address(es), phone."""
    needles = {"id": user_id, "localpart": user_id[1:].split(":", 1)[0]}
    if pseudonym:
        needles["pseudonym"] = pseudonym
    for i, address in enumerate(addresses):
        needles[f"address{i}"] = address
    if phone:
        needles["phone"] = phone
    return needles


TOMBSTONE = {("erased_person", "user_id")}
"""The one place the Matrix id may stay (DESIGN.md privacy point 5)."""


def beyond_tombstone(found: set[Trace]) -> list[Trace]:
    """The traces a complete erasure must not leave, sorted for a readable failure."""
    rest = [t for t in found if (t.table, t.column) not in TOMBSTONE]
    return sorted(rest, key=lambda t: (t.table, t.column, t.what))
