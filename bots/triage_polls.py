"""Triage questions offered as polls in the client's service room, beside the numbered text.

The poll is a convenience: if it cannot be sent, the typed answer works as before. Its event id
is kept in the dialogue so only a vote on the poll of the current question counts; once the
question is answered (by vote or by typing) the poll is ended, and Element shows it closed.
"""

from __future__ import annotations

import logging

from mautrix.errors import MatrixError
from mautrix.types import EventType, RoomID

from appservice.db import TriageDialogue

from .dispatch import CommandContext
from .poll_events import POLL_END, POLL_START, end_content, start_content
from .services import services_of
from .triage_questions import Question

log = logging.getLogger("lotse.triage")

START_TYPE = EventType.find(POLL_START, EventType.Class.MESSAGE)
END_TYPE = EventType.find(POLL_END, EventType.Class.MESSAGE)


async def offer_poll(ctx: CommandContext, dialogue: TriageDialogue, question: Question) -> None:
    """Send a poll for ``question`` unless one is out already, and tie it to the dialogue."""
    send = services_of(ctx).send_event
    if send is None or dialogue.poll_event_id is not None or dialogue.step != question.field:
        return
    content = start_content(question, ctx.render("triage_poll_question", field=question.field))
    if content is None:
        return  # too many options for a poll: the numbered text alone asks
    try:
        poll = await send(
            RoomID(ctx.room_id), START_TYPE, content, f"poll-{ctx.event_id}-{question.field}"
        )
    except MatrixError as e:
        log.warning("could not send the %s poll in %s: %s", question.field, ctx.room_id, e)
        return
    if not await dialogue.set_poll(poll):
        # The question was answered while the poll was on its way: close it at once.
        await end_poll(ctx, poll)


async def end_poll(ctx: CommandContext, poll: str | None) -> None:
    """End a poll whose question is answered (or whose dialogue ended); never raises."""
    send = services_of(ctx).send_event
    if send is None or poll is None:
        return
    content = end_content(poll, ctx.render("triage_poll_closed"))
    try:
        await send(RoomID(ctx.room_id), END_TYPE, content, f"poll-end-{poll}")
    except MatrixError as e:
        log.warning("could not end poll %s in %s: %s", poll, ctx.room_id, e)
