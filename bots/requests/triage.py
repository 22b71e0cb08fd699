"""Triage: before a request is assigned the client answers the centre's questions (issue 4).

``request`` (or a sentence) opens the dialogue; each answer is a number or a word, one
question at a time; ``abbrechen``/``cancel`` stops it. The dialogue lives in the database
(``triage_dialogue``), so a restart continues with the same question. Answers are option
ids; nothing the client writes in words is kept. Then ``requests.open_request`` assigns.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mautrix.types import EventID

from appservice.db import TriageDialogue
from bots.framework.commands import CLIENTS, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.parsing import ParsedCommand
from bots.framework.services import rows_of, services_of

from .poll_events import chosen, parse_vote
from .requests import open_request
from .triage_polls import end_poll, offer_poll
from .triage_questions import (
    CANCEL_WORDS,
    DONE,
    Option,
    Question,
    TopicChoice,
    after,
    choose,
    current,
)
from .triage_questions import questions as build_questions

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

log = logging.getLogger("lotse.triage")

# A dialogue left this long is forgotten: the client's next words are read as usual again.
STALE_AFTER_MS = 24 * 3600 * 1000


async def _questions(ctx: CommandContext) -> list[Question]:
    services = services_of(ctx)
    centre = services.directory.cfg.centre(ctx.centre_id)
    topics = [TopicChoice(t.id, t.labels) for t in centre.topics] if centre else []
    settings = await services.settings(ctx.centre_id)
    return build_questions(topics, settings.languages, ctx.lang)


def _ask(ctx: CommandContext, question: Question, *, first: bool = False, problem: str = "") -> str:
    return ctx.render(
        "triage_question",
        field=question.field,
        options=[o.label for o in question.options],
        first=first,
        problem=problem,
    )


@registry.command(
    "request",
    aliases=("anfrage",),
    roles=CLIENTS,
    section="requests",
    help={
        "de": "Bittet um eine Beratung; nach ein paar kurzen Fragen meldet sich jemand",
        "en": "Asks for counselling; after a few short questions someone gets in touch",
    },
)
async def request_command(ctx: CommandContext) -> str:
    existing = await rows_of(ctx).CounsellingRequest.open_for_client(ctx.user_id)
    if existing is not None:
        return ctx.render("request_exists", id=existing.id, status=existing.status)
    asked = await _questions(ctx)
    dialogue = await rows_of(ctx).TriageDialogue.get(ctx.user_id)
    if dialogue is not None and _stale(dialogue):
        await rows_of(ctx).TriageDialogue.finish(ctx.user_id)
        await end_poll(ctx, dialogue.poll_event_id)
        dialogue = None
    if dialogue is not None:
        question = current(asked, dialogue.step, _answered(dialogue))
        if question is not None:
            await offer_poll(ctx, dialogue, question)  # only if none is out (or it failed)
            return _ask(ctx, question, problem="running")
        await rows_of(ctx).TriageDialogue.finish(ctx.user_id)
        await end_poll(ctx, dialogue.poll_event_id)
        return await _open(ctx, dialogue)
    if not asked:
        return await open_request(ctx, None, None, None)
    if not await rows_of(ctx).TriageDialogue.start(ctx.user_id, ctx.centre_id, asked[0].field):
        # A second message raced the first: the running dialogue answers.
        return ctx.render("triage_running")
    log.info("triage started for a client of %s (%d questions)", ctx.centre_id, len(asked))
    await offer_poll(
        ctx, rows_of(ctx).TriageDialogue(ctx.user_id, ctx.centre_id, asked[0].field), asked[0]
    )
    return _ask(ctx, asked[0], first=True)


@registry.on_free_text(Role.CLIENT)
async def free_text_request(ctx: CommandContext) -> str:
    """A client "just writes" (DESIGN.md): that starts a request; the text stays here."""
    return ctx.render("free_text_note") + "\n\n" + await request_command(ctx)


def _stale(dialogue: TriageDialogue) -> bool:
    return dialogue.started_at < time.time() * 1000 - STALE_AFTER_MS


def _answered(dialogue: TriageDialogue) -> list[str]:
    return [f for f in ("topic", "language", "channel") if getattr(dialogue, f) is not None]


@registry.on_dialogue(Role.CLIENT)
async def triage_answer(ctx: CommandContext, parsed: ParsedCommand) -> str | None:
    """An answer to the open question; None when no dialogue runs or a command was typed.

    An empty string (no reply) when a simultaneous answer already moved the dialogue on.
    """
    dialogue = await rows_of(ctx).TriageDialogue.get(ctx.user_id)
    if dialogue is None:
        return None
    if _stale(dialogue):
        await rows_of(ctx).TriageDialogue.finish(ctx.user_id)
        await end_poll(ctx, dialogue.poll_event_id)
        return None
    if parsed.name in CANCEL_WORDS and not parsed.words:
        await rows_of(ctx).TriageDialogue.finish(ctx.user_id)
        await end_poll(ctx, dialogue.poll_event_id)
        return ctx.render("triage_cancelled")
    usable, _, _ = ctx.registry.find(parsed.name, parsed.words, ctx.role)
    if usable is not None:
        return None
    asked = await _questions(ctx)
    question = current(asked, dialogue.step, _answered(dialogue))
    if question is None:  # the centre dropped its questions meanwhile
        await rows_of(ctx).TriageDialogue.finish(ctx.user_id)
        await end_poll(ctx, dialogue.poll_event_id)
        return await _open(ctx, dialogue)
    typed = " ".join((parsed.name, *parsed.words))
    option = choose(question, typed)
    if option is None:
        return _ask(ctx, question, problem="bad_answer")
    return await _advance(ctx, dialogue, asked, question, option)


async def triage_vote(ctx: CommandContext, content: dict[str, Any]) -> tuple[str, EventID | None]:
    """A vote on a triage poll in the client's service room: the reply and the poll it is on.

    A vote on the current question's poll answers exactly as typing the option's number
    would; a vote on any other poll, or with an answer that is no option, changes nothing.
    """
    if ctx.role != Role.CLIENT:
        log.info("ignored poll response %s: only clients answer triage polls", ctx.event_id)
        return "", None
    vote = parse_vote(content)
    if vote is None:
        log.info("ignored a malformed poll response %s", ctx.event_id)
        return "", None
    poll = EventID(vote.poll_event_id)
    dialogue = await rows_of(ctx).TriageDialogue.get(ctx.user_id)
    running = dialogue is not None and not _stale(dialogue)
    if dialogue is None or not running or dialogue.poll_event_id != vote.poll_event_id:
        log.info("vote %s on poll %s: not the current question", ctx.event_id, poll)
        return ctx.render("triage_poll_stale", running=running), poll
    asked = await _questions(ctx)
    question = current(asked, dialogue.step, _answered(dialogue))
    if question is None or question.field != dialogue.step:
        log.info("vote %s on poll %s: the centre's questions changed", ctx.event_id, poll)
        return ctx.render("triage_poll_stale", running=question is not None), poll
    option = chosen(question, vote.answers)
    if option is None:
        log.info("vote %s on poll %s: no such answer", ctx.event_id, poll)
        return ctx.render("triage_poll_unknown", count=len(question.options)), poll
    return await _advance(ctx, dialogue, asked, question, option), poll


async def _advance(
    ctx: CommandContext,
    dialogue: TriageDialogue,
    asked: list[Question],
    question: Question,
    option: Option,
) -> str:
    """Record ``option`` for ``question``; the next question, or the request when done."""
    answered_poll = dialogue.poll_event_id
    next_step = after(asked, question.field)
    if not await dialogue.answer(question.field, option.id, next_step):
        return ""  # a second answer raced this one; that one answers (no reply here)
    await end_poll(ctx, answered_poll)
    if next_step != DONE:
        following = next(q for q in asked if q.field == next_step)
        await offer_poll(ctx, dialogue, following)
        return _ask(ctx, following)
    if not await rows_of(ctx).TriageDialogue.finish(ctx.user_id):
        return ""
    return await _open(ctx, dialogue)


async def _open(ctx: CommandContext, dialogue: TriageDialogue) -> str:
    return await open_request(ctx, dialogue.topic, dialogue.language, dialogue.channel)
