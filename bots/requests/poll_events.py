"""Matrix polls (MSC3381, the unstable event types Element Web/Desktop and Element X render).

Pure: the content of a poll offering a triage question, of the event that ends it, and from a
vote's content back to the option chosen. A poll never replaces the numbered text: clients
that cannot show polls still get (and may answer) the question in words.

Answer ids are the option numbers ("1", "2", …), so a vote means exactly what typing that
number would; the poll's event id (kept in the dialogue) ties a vote to its question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .triage_questions import Option, Question

POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
# The stable names (spec v1.x extensible events); some clients may send these one day.
RESPONSE_TYPES = frozenset({POLL_RESPONSE, "m.poll.response"})
TEXT = "org.matrix.msc1767.text"
DISCLOSED = "org.matrix.msc3381.poll.disclosed"
# Element shows at most 20 answers (MSC3381); a longer question is offered as text only.
MAX_ANSWERS = 20


@dataclass(frozen=True)
class Vote:
    """A poll response: which poll it answers and the answer ids chosen."""

    poll_event_id: str
    answers: tuple[str, ...]


def start_content(question: Question, title: str) -> dict[str, Any] | None:
    """The content of a single-choice poll for ``question``; None if it has too many options."""
    if not 2 <= len(question.options) <= MAX_ANSWERS:
        return None
    fallback = "\n".join(
        [title, *(f"{i}. {o.label}" for i, o in enumerate(question.options, start=1))]
    )
    return {
        POLL_START: {
            "question": {TEXT: title},
            "kind": DISCLOSED,
            "max_selections": 1,
            "answers": [
                {"id": str(i), TEXT: o.label} for i, o in enumerate(question.options, start=1)
            ],
        },
        TEXT: fallback,
        "body": fallback,
    }


def end_content(poll_event_id: str, text: str) -> dict[str, Any]:
    """The content that closes the poll ``poll_event_id`` (only its sender may do that)."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        POLL_END: {},
        TEXT: text,
        "body": text,
    }


def parse_vote(content: Mapping[str, Any]) -> Vote | None:
    """The vote in a poll response's content; None if it is not a well-formed response."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, Mapping) or relates.get("rel_type") != "m.reference":
        return None
    poll = relates.get("event_id")
    response = content.get(POLL_RESPONSE, content.get("m.poll.response"))
    if not isinstance(poll, str) or not poll or not isinstance(response, Mapping):
        return None
    answers = response.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        return None
    return Vote(poll, tuple(answers))


def chosen(question: Question, answers: Sequence[str]) -> Option | None:
    """The option a vote picks: exactly one answer id that is one of the option numbers.

    An empty vote (a retracted one) or several answers pick nothing.
    """
    if len(answers) != 1:
        return None
    answer = answers[0]
    if not answer.isascii() or not answer.isdigit() or answer != str(int(answer)):
        return None
    index = int(answer)
    return question.options[index - 1] if 1 <= index <= len(question.options) else None
