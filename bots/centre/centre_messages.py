"""Messages from the centre to a client (assisto "Direkt-Nachricht", admins only).

The message is delivered encrypted into the client's service room by the assistant. Lotse
keeps who sent what subject to whom and when; the text itself is never stored: it exists only
in the client's end-to-end-encrypted room.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bots.framework.commands import ADMINS, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.names import Names
from bots.framework.services import rows_of, services_of

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.centre_messages")

MAX_SUBJECT = 120
MAX_TEXT = 4000
LIST_LIMIT = 20


@registry.command(
    "message",
    aliases=("nachricht",),
    roles=ADMINS,
    section="admin",
    args=(
        Argument("client", label={"de": "KLIENT", "en": "CLIENT"}),
        Argument("subject", label={"de": "BETREFF", "en": "SUBJECT"}),
        Argument("text", rest=True, label={"de": "TEXT", "en": "TEXT"}),
    ),
    help={
        "de": "Schickt eine Nachricht der Beratungsstelle an eine:n Ratsuchende:n; Betreff mit "
        'mehreren Wörtern in "Anführungszeichen"',
        "en": "Sends a message from the centre to a client; put a subject of several words in "
        '"quotes"',
    },
)
async def message_command(ctx: CommandContext, client: str, subject: str, text: str) -> str:
    person = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, client, roles=("client",))
    if person is None:
        return ctx.render("message_refused", reason="not_found", given=client, limit=0)
    subject = " ".join(subject.split())
    if not subject or len(subject) > MAX_SUBJECT:
        return ctx.render("message_refused", reason="subject", given=client, limit=MAX_SUBJECT)
    if len(text) > MAX_TEXT:
        return ctx.render("message_refused", reason="text", given=client, limit=MAX_TEXT)
    if person.deleted_at is not None:
        return ctx.render("message_refused", reason="deleted", given=person.name, limit=0)
    if not person.service_room_id:
        return ctx.render("message_refused", reason="no_room", given=person.name, limit=0)
    services = services_of(ctx)
    delivered = await services.tell(
        person, "centre_message", centre_name=ctx.centre_name, subject=subject, text=text
    )
    if not delivered:
        return ctx.render("message_refused", reason="no_room", given=person.name, limit=0)
    # The mail says only that there is a message; subject and text stay in Matrix.
    mailed = await services.notify(person, "centre_message")
    number = await services.rows.CentreMessage.record(
        ctx.centre_id, person.user_id, ctx.user_id, subject
    )
    await services.audit(ctx.centre_id, ctx.user_id, "message.send", person.user_id, f"#{number}")
    log.info("centre message %d from %s to %s", number, ctx.user_id, person.user_id)
    return ctx.render(
        "message_sent",
        id=number,
        client=person.name,
        mailed=mailed == "queued",
        locked=person.locked_at is not None,
    )


@registry.command(
    "messages",
    aliases=("nachrichten",),
    roles=ADMINS,
    section="admin",
    args=(Argument("client", required=False, label={"de": "KLIENT", "en": "CLIENT"}),),
    help={
        "de": "Listet die gesendeten Nachrichten der Beratungsstelle, neueste zuerst",
        "en": "Lists the messages the centre sent, newest first",
    },
)
async def messages_command(ctx: CommandContext, client: str | None = None) -> str:
    client_id = None
    if client is not None:
        person = await rows_of(ctx).Person.find_in_centre(ctx.centre_id, client, roles=("client",))
        if person is None:
            return ctx.render("message_refused", reason="not_found", given=client, limit=0)
        client_id = person.user_id
    sent = await rows_of(ctx).CentreMessage.recent(ctx.centre_id, LIST_LIMIT, client_id)
    names = Names(ctx)
    rows = []
    for m in sent:
        rows.append(
            {
                "id": m.id,
                "when": datetime.fromtimestamp(m.sent_at / 1000, UTC).strftime("%d.%m.%Y %H:%M"),
                "client": await names.of(m.client_id),
                "sender": await names.of(m.sender_id),
                "subject": m.subject,
            }
        )
    return ctx.render("messages_list", messages=rows)
