"""The free slots as a Matrix poll beside the numbered text; a vote books like ``book N``.

Each answer's id carries the slot's key (``slot:<key>``), so a vote names the slot itself,
not a position in a list that may have changed; it counts only while that slot is in the
client's latest offer (what they were shown last), and the database decides as for typing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mautrix.errors import MatrixError
from mautrix.types import EventID, RoomID

from appservice.clock import now_ms
from bots.framework.commands import Role
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, rows_of, services_of
from bots.requests.poll_events import (
    DISCLOSED,
    MAX_ANSWERS,
    POLL_START,
    TEXT,
    end_content,
    parse_vote,
)
from bots.requests.triage_polls import END_TYPE, START_TYPE

log = logging.getLogger("lotse.booking.polls")
PREFIX = "slot:"
# The name under which the assistant calls ``poll_sent`` once a slots poll is out.
POLL_SENT = "booking-poll"


def poll_content(title: str, answers: list[tuple[str, str]]) -> dict[str, Any] | None:
    """A single-choice poll of (slot key, label); None when there is nothing to choose."""
    answers = answers[:MAX_ANSWERS]
    if not answers:
        return None
    fallback = "\n".join([title, *(label for _, label in answers)])
    return {
        POLL_START: {
            "question": {TEXT: title},
            "kind": DISCLOSED,
            "max_selections": 1,
            "answers": [{"id": PREFIX + key, TEXT: label} for key, label in answers],
        },
        TEXT: fallback,
        "body": fallback,
    }


async def offer_poll(ctx: CommandContext, answers: list[tuple[str, str]]) -> None:
    """Send the poll after the command (a failure leaves the numbered text, which suffices)."""
    send = services_of(ctx).send_event
    content = poll_content(ctx.render("slots_poll_question"), answers)
    if send is None or content is None:
        return
    try:
        await send(
            RoomID(ctx.room_id),
            START_TYPE,
            content,
            f"slots-poll-{ctx.event_id}",
            hook=POLL_SENT,
            hook_arg={"client": ctx.user_id},
        )
    except MatrixError as e:
        log.warning("could not send the slots poll in %s: %s", ctx.room_id, e)


async def poll_sent(services: BotServices, tie: dict[str, str]) -> None:
    """The slots poll is out: remember it, so booking can close it."""
    if tie.get("event_id"):
        await services.rows.BookingOffer.set_poll(
            tie["client"], tie["room_id"], tie["event_id"], now_ms()
        )


async def close_poll(ctx: CommandContext) -> None:
    """End the client's latest slots poll once they booked (its choices are spent); never
    raises: a poll left open only offers votes that are answered "not offered"."""
    send = services_of(ctx).send_event
    found = await rows_of(ctx).BookingOffer.take_poll(ctx.user_id)
    if send is None or found is None:
        return
    room_id, poll = found
    text = ctx.render("slots_poll_closed")
    try:
        await send(RoomID(room_id), END_TYPE, end_content(poll, text), f"poll-end-{poll}")
    except MatrixError as e:
        log.warning("could not end the slots poll %s: %s", poll, e)


def is_slot_vote(content: Mapping[str, Any]) -> bool:
    vote = parse_vote(content)
    return vote is not None and len(vote.answers) == 1 and vote.answers[0].startswith(PREFIX)


async def slot_vote(
    ctx: CommandContext,
    content: Mapping[str, Any],
    book_key: Callable[[CommandContext, str, str], Awaitable[str]],
) -> tuple[str, EventID | None]:
    """A client's vote on a slots poll: booked as ``book N`` would, or why not."""
    vote = parse_vote(content)
    if vote is None or ctx.role != Role.CLIENT:
        return "", None
    poll = EventID(vote.poll_event_id)
    key = vote.answers[0].removeprefix(PREFIX)
    if key not in await rows_of(ctx).BookingOffer.keys(ctx.user_id):
        return ctx.render("booking_problem", problems=["slot_unknown"], given="?"), poll
    return await book_key(ctx, key, "?"), poll
