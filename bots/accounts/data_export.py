"""The person's own data as a file (GDPR Art. 15 access, Art. 20 portability).

``meine daten`` / ``export`` sends a JSON file, encrypted like any attachment, into the
asker's service room: everything Lotse's tables hold about them (appservice/db/personal_data.py
says which tables), and what it deliberately leaves out, with the reason. Only the asker's
own data: there is no way to ask for somebody else's.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from mautrix.crypto.attachments import encrypt_attachment
from mautrix.types import FileInfo, MediaMessageEventContent, MessageType, RoomID

from appservice.clock import now_ms
from appservice.db.personal_data import EXCLUDED
from bots.framework.commands import EVERYONE, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import services_of

registry = CommandRegistry()
log = logging.getLogger("lotse.data_export")

SCHEMA = "lotse-export"
SCHEMA_VERSION = 1
MIME = "application/json"
# Columns holding a time in ms since the epoch: written as ISO 8601 (UTC) in the file.
_TIMES = ("_at", "_since", "_ts")


def _value(column: str, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and column.endswith(_TIMES):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds")
    return value


def build_document(
    user_id: str,
    data: dict[str, list[dict[str, Any]]],
    counts: dict[str, int],
    created_at: int,
) -> dict[str, Any]:
    """The file's content: schema, who, when, the data by table, and what is left out."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "user_id": user_id,
        "created_at": _value("created_at", created_at),
        "data": {
            table: [{c: _value(c, v) for c, v in row.items()} for row in rows]
            for table, rows in sorted(data.items())
        },
        "excluded": [
            {
                "what": e.what,
                "tables": list(e.tables),
                "reason": e.reason,
                **({"count": counts.get(e.what, 0)} if e.count else {}),
            }
            for e in EXCLUDED
        ],
    }


def file_name(user_id: str, created_at: int) -> str:
    login = user_id.removeprefix("@").split(":", 1)[0]
    day = datetime.fromtimestamp(created_at / 1000, UTC).strftime("%Y-%m-%d")
    return f"lotse-daten-{login}-{day}.json"


@registry.command(
    "export",
    aliases=("meine daten", "auskunft", "my data"),
    roles=EVERYONE,
    section="general",
    args=(Argument("who", required=False, rest=True, label={"de": "WER", "en": "WHO"}),),
    help={
        "de": "Schickt Ihnen hier eine Datei (JSON) mit allem, was Lotse über Sie speichert",
        "en": "Sends you a file (JSON) here with everything Lotse stores about you",
    },
    private=True,
)
async def export(ctx: CommandContext, who: str | None = None) -> str:
    if who is not None and who.strip() not in _names_of(ctx.user_id):
        return ctx.render("export_own_only")
    services = services_of(ctx)
    created = now_ms()
    document = build_document(
        ctx.user_id,
        await services.rows.PersonalData.collect(ctx.user_id),
        await services.rows.PersonalData.counts(ctx.user_id),
        created,
    )
    data = json.dumps(document, ensure_ascii=False, indent=2).encode()
    ciphertext, encrypted = encrypt_attachment(data)
    name = file_name(ctx.user_id, created)
    assert services.upload_media is not None and services.send_content is not None
    encrypted.url = await services.upload_media(ciphertext, "application/octet-stream", name)
    content = MediaMessageEventContent(
        msgtype=MessageType.FILE,
        body=name,
        filename=name,
        file=encrypted,
        info=FileInfo(mimetype=MIME, size=len(data)),
    )
    await services.send_content(RoomID(ctx.room_id), content, f"export-{ctx.event_id}")
    log.info("data export sent (%d tables)", len(document["data"]))
    return ctx.render("export_sent", filename=name, tables=len(document["data"]))


def _names_of(user_id: str) -> set[str]:
    """How the asker may name themselves: Matrix id or login (``ich``/``me`` too)."""
    return {user_id, user_id.removeprefix("@").split(":", 1)[0], "ich", "me", "mich"}
