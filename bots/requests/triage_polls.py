"""Triage questions offered as polls in the client's service room, beside the numbered text.

The poll is a convenience: if it cannot be sent, the typed answer works as before. Its event id
is kept in the dialogue so only a vote on the poll of the current question counts; once the
question is answered (by vote or by typing) the poll is ended, and Element shows it closed.
"""

from __future__ import annotations

import logging

from mautrix.errors import MatrixError
from mautrix.types import EventID, EventType, RoomID

from appservice.db import TriageDialogue
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, services_of

from .poll_events import POLL_END, POLL_START, end_content, start_content
from .triage_questions import Question

log = logging.getLogger("lotse.triage")

START_TYPE = EventType.find(POLL_START, EventType.Class.MESSAGE)
END_TYPE = EventType.find(POLL_END, EventType.Class.MESSAGE)
# The name under which the assistant calls ``poll_sent`` once a poll is out.
POLL_SENT = "triage-poll"


async def offer_poll(ctx: CommandContext, dialogue: TriageDialogue, question: Question) -> None:
    """Send a poll for ``question`` unless one is out already; ``poll_sent`` ties it to the
    dialogue once it is sent (after the command's changes are committed)."""
    send = services_of(ctx).send_event
    if send is None or dialogue.poll_event_id is not None or dialogue.step != question.field:
        return
    content = start_content(question, ctx.render("triage_poll_question", field=question.field))
    if content is None:
        return  # too many options for a poll: the numbered text alone asks
    tie = {"client": dialogue.client_id, "centre": dialogue.centre_id, "step": question.field}
    try:
        await send(
            RoomID(ctx.room_id),
            START_TYPE,
            content,
            f"poll-{ctx.event_id}-{question.field}",
            hook=POLL_SENT,
            hook_arg={**tie, "lang": ctx.lang},
        )
    except MatrixError as e:
        log.warning("could not send the %s poll in %s: %s", question.field, ctx.room_id, e)


async def poll_sent(services: BotServices, tie: dict[str, str]) -> None:
    """The poll is out: votes on it now answer its question."""
    poll, room_id = EventID(tie["event_id"]), RoomID(tie["room_id"])
    dialogue = services.rows.TriageDialogue(tie["client"], tie["centre"], tie["step"])
    if not await dialogue.set_poll(poll):
        # The question was answered while the poll was on its way: close it at once.
        text = services.renderer.render(tie["lang"], "triage_poll_closed")
        await _end(services, room_id, poll, text)


async def end_poll(ctx: CommandContext, poll: str | None) -> None:
    """End a poll whose question is answered (or whose dialogue ended); never raises."""
    if poll is not None:
        await _end(services_of(ctx), RoomID(ctx.room_id), poll, ctx.render("triage_poll_closed"))


async def _end(services: BotServices, room_id: RoomID, poll: str, text: str) -> None:
    if services.send_event is None:
        return
    try:
        await services.send_event(room_id, END_TYPE, end_content(poll, text), f"poll-end-{poll}")
    except MatrixError as e:
        log.warning("could not end poll %s in %s: %s", poll, room_id, e)
