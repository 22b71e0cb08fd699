"""``lotse rotate-key``: re-seal every sealed value under a new ``encryption.sealing_key``.

Every sealed value names its key (appservice/sealing.py), so the run goes table by table in
batches, each batch one transaction: a value already under the new key is left alone, any
other one is opened with the old key and sealed with the new one, together with the lookup
hashes of addresses (appservice/contact_data.py) in the same row. A run killed at any point
leaves every value readable with one of the two keys and a second run finishes the job.

Before the first write, a check pass opens every value still under the old key: a wrong old
key (or a value that opens with neither key) is refused and nothing is changed.

Lotse may run meanwhile if it knows both keys (``sealing_key`` the new one, the old one in
``previous_sealing_keys``): it then opens values under either and seals new ones with the new
key. Each row is updated only where its sealed columns still hold what the run read
(compare-and-set), so a value Lotse wrote meanwhile is never overwritten; such rows are
visited again in a further pass until a pass finds nothing left under the old key.

Rows are described as data (``TABLES``): a table added later with a sealed column has to be
added here. tests/test_rotation_db.py fills every table that holds sealed values and finds no
value under the old key afterwards, whichever table it is in.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from mautrix.util.async_db import Connection, Database, UpgradeTable

from appservice import contact_data as cd
from appservice.cross_signing import SEAL_PURPOSE as SEEDS_PURPOSE
from appservice.cross_signing import STATE_KEY as SEEDS_KEY
from appservice.db import rows_changed
from appservice.db.pool import open_database
from appservice.db.upgrade import upgrade_table
from appservice.once import OUTCOME_PURPOSE, outcome_context
from appservice.sealing import Sealer, SealError, sealer
from bots.monitoring.commands import MONITORING_PURPOSE
from bots.monitoring.commands import _context as monitoring_context
from bots.monitoring.commands import _dialogue_context as dialogue_context
from bots.records.documents import DOC_PURPOSE
from bots.records.documents import _context as document_context
from bots.records.notes import NOTE_PURPOSE
from bots.records.notes import _context as note_context
from mailgateway.addresses import BOUNCING
from mailgateway.outbox import _SEALED as OUTBOX_SEALED_KEY
from mailgateway.outbox import OUTBOX_PURPOSE
from mailgateway.outbox import _seal_context as outbox_variables_context

__all__ = ["Refused", "Rotation", "TABLES", "rotate"]

T = TypeVar("T")
log = logging.getLogger("lotse.rotation")

Row = Any  # a database record: columns by name
Changes = dict[str, Any]


class Refused(Exception):
    """The run cannot start (wrong old key, unreadable values, old schema): nothing changed."""


class Rotation:
    """The two keys of a run: opens with whichever sealed a value, seals with the new one."""

    def __init__(self, old_secret: str, new_secret: str, assistant_id: str) -> None:
        self.old_secret = old_secret
        self.new_secret = new_secret
        self.assistant_id = assistant_id
        self.old_lookup = cd.lookup_key_of(old_secret)
        self.new_lookup = cd.lookup_key_of(new_secret)
        # Every address seen: the bounce table is keyed by nothing but their hashes.
        self.addresses: set[str] = set()
        self.opened_with_old = 0

    def _old(self, purpose: str) -> Sealer:
        return sealer(self.old_secret, purpose)

    def new(self, purpose: str) -> Sealer:
        return sealer(self.new_secret, purpose)

    def _contact_old(self) -> Sealer:
        return cd.contact_sealer(self.old_secret)

    def contact_new(self) -> Sealer:
        return cd.contact_sealer(self.new_secret)

    def open(self, old: Sealer, new: Sealer, stored: str, context: str) -> tuple[str, bool]:
        """The plain value and whether it still has to be re-sealed."""
        if new.sealed_by_me(stored):
            return new.open(stored, context), False
        plain = old.open(stored, context)
        self.opened_with_old += 1
        return plain, True

    def reseal(self, purpose: str, stored: str, context: str) -> str | None:
        """The value sealed under the new key; None if it already is."""
        new = self.new(purpose)
        plain, todo = self.open(self._old(purpose), new, stored, context)
        return new.seal(plain, context) if todo else None

    def open_contact(self, stored: str, context: str) -> tuple[str, bool]:
        return self.open(self._contact_old(), self.contact_new(), stored, context)

    def new_hash(self, address: str) -> str:
        return cd.lookup_with(self.new_lookup, address)

    def old_hash(self, address: str) -> str:
        return cd.lookup_with(self.old_lookup, address)


Plan = Callable[[Rotation, Row], Changes]

# Passes over all tables before giving up on rows Lotse keeps rewriting.
MAX_PASSES = 20


@dataclass(frozen=True)
class Table:
    """A table with sealed columns: how to name its rows and what to change in one."""

    name: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    plan: Plan
    where: str = ""


def _sealed(column: str, purpose: str, context: Callable[[Row], str]) -> Plan:
    def plan(rot: Rotation, row: Row) -> Changes:
        stored = row[column]
        if not stored:
            return {}
        sealed = rot.reseal(purpose, stored, context(row))
        return {} if sealed is None else {column: sealed}

    return plan


def _contact(column: str, context: Callable[[Row], str], hashed: str | None = None) -> Plan:
    """A sealed contact value; with ``hashed`` also its lookup hash, recomputed with it."""

    def plan(rot: Rotation, row: Row) -> Changes:
        stored = row[column]
        if not cd.is_sealed(stored):
            return {}
        plain, todo = rot.open_contact(stored, context(row))
        if hashed is not None:
            rot.addresses.add(plain)
        if not todo:
            return {}
        changes: Changes = {column: rot.contact_new().seal(plain, context(row))}
        if hashed is not None:
            changes[hashed] = rot.new_hash(plain)
        return changes

    return plan


def _both(*plans: Plan) -> Plan:
    def plan(rot: Rotation, row: Row) -> Changes:
        changes: Changes = {}
        for one in plans:
            changes |= one(rot, row)
        return changes

    return plan


def _outbox(rot: Rotation, row: Row) -> Changes:
    """The recipient (context: its own hash, which changes) and the sealed variables."""
    changes: Changes = {}
    recipient = row["recipient"]
    if cd.is_sealed(recipient):
        plain, todo = rot.open_contact(recipient, cd.outbox_context(row["recipient_hash"] or ""))
        rot.addresses.add(plain)
        if todo:
            digest = rot.new_hash(plain)
            changes["recipient_hash"] = digest
            changes["recipient"] = rot.contact_new().seal(plain, cd.outbox_context(digest))
        recipient = plain
    try:
        variables = json.loads(row["variables"])
    except (TypeError, ValueError):  # none, or not JSON: nothing sealed in it
        return changes
    if isinstance(variables, dict) and set(variables) == {OUTBOX_SEALED_KEY}:
        context = outbox_variables_context(recipient, row["kind"], row["lang"], row["created_at"])
        sealed = rot.reseal(OUTBOX_PURPOSE, variables[OUTBOX_SEALED_KEY], context)
        if sealed is not None:
            changes["variables"] = json.dumps({OUTBOX_SEALED_KEY: sealed})
    return changes


TABLES = (
    Table(
        "person",
        ("user_id",),
        ("email", "phone"),
        _both(
            _contact("email", lambda r: cd.person_context(r["user_id"], "email"), "email_hash"),
            _contact("phone", lambda r: cd.person_context(r["user_id"], "phone")),
        ),
    ),
    Table(
        "client_master_data",
        ("user_id", "key"),
        ("value",),
        _contact("value", lambda r: cd.master_context(r["user_id"], r["key"])),
    ),
    Table(
        "mail_preference",
        ("user_id",),
        ("confirmed_address",),
        _contact(
            "confirmed_address", lambda r: cd.preference_context(r["user_id"]), "confirmed_hash"
        ),
    ),
    Table(
        "mail_confirmation",
        ("token_hash",),
        ("address",),
        _contact(
            "address",
            lambda r: cd.token_context("mail_confirmation", r["token_hash"]),
            "address_hash",
        ),
    ),
    Table(
        "registration",
        ("token_hash",),
        ("email",),
        _contact(
            "email", lambda r: cd.token_context("registration", r["token_hash"]), "email_hash"
        ),
    ),
    Table(
        "invitation",
        ("token_hash",),
        ("sent_to",),
        _contact(
            "sent_to", lambda r: cd.token_context("invitation", r["token_hash"]), "sent_to_hash"
        ),
    ),
    Table(
        "mail_outbox",
        ("id",),
        ("recipient", "recipient_hash", "variables", "kind", "lang", "created_at"),
        _outbox,
    ),
    Table(
        "client_note",
        ("id",),
        ("client_id", "sealed_text"),
        _sealed("sealed_text", NOTE_PURPOSE, lambda r: note_context(r["client_id"])),
    ),
    Table(
        "client_document",
        ("id",),
        ("client_id", "uploader_id", "sealed_ref"),
        _sealed(
            "sealed_ref",
            DOC_PURPOSE,
            lambda r: document_context(r["client_id"], r["uploader_id"]),
        ),
    ),
    Table(
        "monitoring",
        ("id",),
        ("centre_id", "client_id", "sealed_values"),
        _sealed(
            "sealed_values",
            MONITORING_PURPOSE,
            lambda r: monitoring_context(r["centre_id"], r["client_id"]),
        ),
    ),
    Table(
        "monitoring_dialogue",
        ("counsellor_id",),
        ("sealed_state",),
        _sealed("sealed_state", MONITORING_PURPOSE, lambda r: dialogue_context(r["counsellor_id"])),
    ),
    Table(
        "command_outcome",
        ("event_id",),
        ("outgoing",),
        _sealed("outgoing", OUTCOME_PURPOSE, lambda r: outcome_context(r["event_id"])),
    ),
)


def _seeds_table(assistant_id: str) -> Table:
    # The assistant's cross-signing seeds, bound to its Matrix id (appservice/cross_signing.py).
    return Table(
        "bot_state",
        ("key",),
        ("value",),
        _sealed("value", SEEDS_PURPOSE, lambda r: assistant_id),
        where=f"key='{SEEDS_KEY}'",
    )


@dataclass
class Report:
    """What a run did, for the operator (counts only: no value, no person)."""

    resealed: dict[str, int] = field(default_factory=dict)
    dropped_bounce_records: int = 0

    def lines(self) -> list[str]:
        done = [f"{table}: {n} re-sealed" for table, n in self.resealed.items() if n]
        if self.dropped_bounce_records:
            done.append(
                f"mail_address: {self.dropped_bounce_records} bounce record(s) of addresses "
                "Lotse no longer holds dropped (their hash was under the old key)"
            )
        return done or ["nothing to re-seal: every value is under the new key"]


def _keyset(table: Table, after: tuple[Any, ...] | None, limit: int) -> tuple[str, list[Any]]:
    """The next ``limit`` rows after the key ``after`` (rows named by their key columns)."""
    keys = ", ".join(table.keys)
    cols = ", ".join((*table.keys, *table.columns))
    where = [table.where] if table.where else []
    args: list[Any] = []
    if after is not None:
        marks = ", ".join(f"${i + 1}" for i in range(len(after)))
        where.append(f"({keys}) > ({marks})")
        args = list(after)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {cols} FROM {table.name}{clause} ORDER BY {keys} LIMIT {limit}", args


async def _rows(db: Database, table: Table, batch: int) -> AsyncIterator[Row]:
    """Every row of ``table``, a batch at a time (read only)."""
    after = None
    while True:
        query, args = _keyset(table, after, batch)
        rows = await db.fetch(query, *args)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = tuple(rows[-1][k] for k in table.keys)


def _name(table: Table, row: Row) -> str:
    return f"{table.name} ({', '.join(str(row[k]) for k in table.keys)})"


async def check(db: Database, rot: Rotation, tables: tuple[Table, ...], batch: int) -> int:
    """Open every value with the key it names; refuse if any opens with neither. Writes
    nothing. Returns how many values are still under the old key."""
    unreadable: list[str] = []
    for table in tables:
        async for row in _rows(db, table, batch):
            try:
                table.plan(rot, row)
            except SealError:
                unreadable.append(_name(table, row))
    if unreadable and rot.opened_with_old == 0:
        raise Refused(
            f"the old key opens none of the {len(unreadable)} value(s) sealed under another "
            "key: wrong old key? Nothing was changed."
        )
    if unreadable:
        raise Refused(
            f"{len(unreadable)} sealed value(s) open with neither key (first: "
            f"{unreadable[0]}); nothing was changed"
        )
    return rot.opened_with_old


async def _update(conn: Connection, table: Table, row: Row, changes: Changes) -> bool:
    """Write ``changes`` only if the row still holds what was read (Lotse may have written
    meanwhile); False if it did not."""
    names = list(changes)
    sets = ", ".join(f"{c}=${i + 1}" for i, c in enumerate(names))
    # The row's key, then each read column that changes: compare-and-set.
    same = [*table.keys, *(c for c in names if c in table.columns and row[c] is not None)]
    where = " AND ".join(f"{c}=${len(names) + i + 1}" for i, c in enumerate(same))
    values = [changes[c] for c in names] + [row[c] for c in same]
    result = await conn.execute(f"UPDATE {table.name} SET {sets} WHERE {where}", *values)
    return rows_changed(result) == 1


async def _reseal_table(
    db: Database,
    rot: Rotation,
    table: Table,
    batch: int,
    pause: float,
    progress: Callable[[str], None],
) -> tuple[int, int]:
    """One pass over ``table``: (rows re-sealed, rows skipped because Lotse wrote them
    meanwhile, to be visited again)."""
    done = skipped = 0
    after: tuple[Any, ...] | None = None
    while True:
        rows, changed, missed = await _locked_retried(partial(_batch, db, rot, table, after, batch))
        skipped += missed
        if changed:
            done += changed
            progress(f"{table.name}: {done} re-sealed (batch committed)")
            if pause:
                await asyncio.sleep(pause)
        if len(rows) < batch:
            return done, skipped
        after = tuple(rows[-1][k] for k in table.keys)


# SQLite: a batch that read before Lotse's write and then writes itself gets "database is
# locked" at once (WAL allows one writer); the batch is rolled back whole and tried again.
LOCKED_TRIES = 100


async def _locked_retried(step: Callable[[], Awaitable[T]]) -> T:
    """``step`` (one transaction) again from the start while SQLite says it is locked."""
    for attempt in range(1, LOCKED_TRIES + 1):
        try:
            return await step()
        except Exception as err:
            if "database is locked" not in str(err) or attempt == LOCKED_TRIES:
                raise
            await asyncio.sleep(min(0.01 * attempt, 0.5))
    raise AssertionError("unreachable")


async def _batch(
    db: Database, rot: Rotation, table: Table, after: tuple[Any, ...] | None, batch: int
) -> tuple[list[Row], int, int]:
    """One transaction: (rows read, rows re-sealed, rows to visit again)."""
    changed = skipped = 0
    conn: Connection
    async with db.acquire() as conn, conn.transaction():
        query, args = _keyset(table, after, batch)
        rows = list(await conn.fetch(query, *args))
        for row in rows:
            try:
                changes = table.plan(rot, row)
            except SealError:
                # Read between Lotse's writes of one row (e.g. a hash and its value): the
                # next pass reads it again.
                skipped += 1
                continue
            if not changes:
                continue
            if await _update(conn, table, row, changes):
                changed += 1
            else:
                skipped += 1
    return rows, changed, skipped


def _later(a: int | None, b: int | None) -> int | None:
    return max((t for t in (a, b) if t is not None), default=None)


async def _merge_bounces(conn: Connection, old: Row, new_digest: str) -> None:
    """Add the old row's bounces to the row Lotse began under the new hash; drop the old."""
    new = await conn.fetchrow("SELECT * FROM mail_address WHERE address=$1", new_digest)
    if new is None:  # gone again meanwhile: the old row simply moves
        q = "UPDATE mail_address SET address=$2 WHERE address=$1"
        await conn.execute(q, old["address"], new_digest)
        return
    await conn.execute(
        "UPDATE mail_address SET hard_bounces=$2, status=$3, last_bounce_at=$4, "
        "auto_answered_at=$5 WHERE address=$1",
        new_digest,
        new["hard_bounces"] + old["hard_bounces"],
        BOUNCING if BOUNCING in (old["status"], new["status"]) else new["status"],
        _later(old["last_bounce_at"], new["last_bounce_at"]),
        _later(old["auto_answered_at"], new["auto_answered_at"]),
    )
    await conn.execute("DELETE FROM mail_address WHERE address=$1", old["address"])


async def _rehash_bounces(db: Database, rot: Rotation) -> int:
    """``mail_address`` is keyed by the hash alone: move each to the new hash of its address;
    drop those whose address no row holds any more (no key can match them again)."""
    new = {rot.new_hash(a) for a in rot.addresses}
    old = {rot.old_hash(a): rot.new_hash(a) for a in rot.addresses}
    dropped = 0
    conn: Connection
    async with db.acquire() as conn, conn.transaction():
        for row in await conn.fetch("SELECT * FROM mail_address"):
            digest = row["address"]
            if digest in new:
                continue
            if digest in old:
                q = (
                    "UPDATE mail_address SET address=$2 WHERE address=$1 AND NOT EXISTS "
                    "(SELECT 1 FROM mail_address WHERE address=$2)"
                )
                if rows_changed(await conn.execute(q, digest, old[digest])) == 0:
                    # Lotse started a row under the new hash meanwhile: the two become one.
                    await _merge_bounces(conn, row, old[digest])
            else:
                await conn.execute("DELETE FROM mail_address WHERE address=$1", digest)
                dropped += 1
    return dropped


async def _schema_is_current(db: Database) -> bool:
    version = await db.fetchval("SELECT version FROM lotse_version")
    return int(version or 0) == len(upgrade_table.upgrades)


async def rotate(
    url: str,
    rot: Rotation,
    *,
    batch: int = 500,
    pause: float = 0.0,
    progress: Callable[[str], None] = print,
) -> Report:
    """Check, then re-seal every table; raises :class:`Refused` with nothing changed."""
    db = open_database(url, UpgradeTable(), log)
    await db.start()
    try:
        if not await db.table_exists("lotse_version") or not await _schema_is_current(db):
            raise Refused(
                "the database is not at this Lotse's schema version: start `lotse run` once "
                "(it upgrades the database), stop it, then rotate"
            )
        tables = (*TABLES, _seeds_table(rot.assistant_id))
        pending = await check(db, rot, tables, batch)
        progress(f"check passed: {pending} value(s) to re-seal")
        report = Report()
        for _ in range(MAX_PASSES):
            skipped = 0
            for table in tables:
                done, missed = await _reseal_table(db, rot, table, batch, pause, progress)
                report.resealed[table.name] = report.resealed.get(table.name, 0) + done
                skipped += missed
            if not skipped:
                break
            progress(f"{skipped} row(s) written by Lotse meanwhile: another pass")
        else:
            raise Refused(
                f"rows kept changing under the run for {MAX_PASSES} passes; what is done stays "
                "done, run it again"
            )
        report.dropped_bounce_records = await _locked_retried(lambda: _rehash_bounces(db, rot))
        return report
    finally:
        await db.stop()
