"""The monitoring form's choice and yes/no questions offered as polls, beside the numbered text.

As in triage (bots/triage_polls.py): the poll is a convenience, its event id is kept with the
dialogue once it is out, only a vote on the poll of the field being asked counts, and it is
ended once that field is answered. A vote means exactly what typing its number would.
"""

from __future__ import annotations

import logging

from mautrix.errors import MatrixError
from mautrix.types import RoomID

from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, services_of
from bots.requests.poll_events import end_content, start_content
from bots.requests.triage_polls import END_TYPE, START_TYPE, end_poll
from bots.requests.triage_questions import Option, Question

from .dialogue import Ask, option_labels

__all__ = ["POLL_SENT", "end_poll", "offer_poll", "poll_sent"]

log = logging.getLogger("lotse.monitoring")

# The name under which the assistant calls ``poll_sent`` once a poll is out.
POLL_SENT = "monitoring-poll"


def question_of(step: Ask, yes_no: tuple[str, str], lang: str) -> Question | None:
    """The poll's question: single-choice fields only (a multichoice is typed as ``1,3``)."""
    if step.field.kind not in ("choice", "yesno"):
        return None
    labels = option_labels(step.field, lang, yes_no)
    return Question(step.field.key, tuple(Option(str(i), t) for i, t in enumerate(labels, 1)))


async def offer_poll(ctx: CommandContext, step: Ask, yes_no: tuple[str, str]) -> None:
    """Send a poll for the field ``step`` asks, if it has options; tied once it is sent."""
    send = services_of(ctx).send_event
    question = question_of(step, yes_no, ctx.lang)
    if send is None or question is None:
        return
    content = start_content(question, step.field.label(ctx.lang))
    if content is None:
        return  # too many options for a poll: the numbered text alone asks
    tie = {"counsellor": ctx.user_id, "step": step.field.key, "lang": ctx.lang}
    try:
        await send(
            RoomID(ctx.room_id),
            START_TYPE,
            content,
            f"monitoring-poll-{ctx.event_id}-{step.field.key}",
            hook=POLL_SENT,
            hook_arg=tie,
        )
    except MatrixError as e:
        log.warning("could not send the %s poll in %s: %s", step.field.key, ctx.room_id, e)


async def poll_sent(services: BotServices, tie: dict[str, str]) -> None:
    """The poll is out: votes on it now answer its field (or it is closed at once, if the
    field was answered while it was on its way)."""
    poll, room_id = tie["event_id"], RoomID(tie["room_id"])
    if not await services.rows.MonitoringDialogue.set_poll(tie["counsellor"], tie["step"], poll):
        text = services.renderer.render(tie["lang"], "triage_poll_closed")
        await _end(services, room_id, poll, text)


async def _end(services: BotServices, room_id: RoomID, poll: str, text: str) -> None:
    if services.send_event is None:
        return
    try:
        await services.send_event(room_id, END_TYPE, end_content(poll, text), f"poll-end-{poll}")
    except MatrixError as e:
        log.warning("could not end poll %s in %s: %s", poll, room_id, e)
