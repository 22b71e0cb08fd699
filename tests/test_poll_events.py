"""Triage questions as Matrix polls (MSC3381): the content Element draws, and votes read back."""

from __future__ import annotations

from typing import Any

import pytest

from bots.requests.poll_events import (
    DISCLOSED,
    MAX_ANSWERS,
    POLL_END,
    POLL_RESPONSE,
    POLL_START,
    TEXT,
    Vote,
    chosen,
    end_content,
    parse_vote,
    start_content,
)
from bots.requests.triage_questions import Option, Question, TopicChoice, questions

TOPICS = [
    TopicChoice("family", {"de": "Familie"}),
    TopicChoice("addiction", {"de": "Sucht"}),
]
TOPIC = questions(TOPICS, ["de"], "de")[0]
CHANNEL = questions([], ["de"], "de")[0]


def _question(n: int) -> Question:
    return Question("topic", tuple(Option(f"t{i}", f"Thema {i}") for i in range(n)))


def test_start_content_has_the_shape_element_renders() -> None:
    content = start_content(TOPIC, "Worum geht es?")
    assert content == {
        POLL_START: {
            "question": {TEXT: "Worum geht es?"},
            "kind": DISCLOSED,
            "max_selections": 1,
            "answers": [{"id": "1", TEXT: "Familie"}, {"id": "2", TEXT: "Sucht"}],
        },
        TEXT: "Worum geht es?\n1. Familie\n2. Sucht",
        "body": "Worum geht es?\n1. Familie\n2. Sucht",
    }
    assert POLL_START == "org.matrix.msc3381.poll.start"
    assert DISCLOSED == "org.matrix.msc3381.poll.disclosed"
    assert TEXT == "org.matrix.msc1767.text"


@pytest.mark.parametrize(
    ("size", "offered"),
    [(1, False), (2, True), (MAX_ANSWERS, True), (MAX_ANSWERS + 1, False)],
)
def test_polls_only_for_two_to_twenty_options(size: int, offered: bool) -> None:
    assert (start_content(_question(size), "?") is not None) == offered


def test_end_content_references_the_poll() -> None:
    assert end_content("$poll", "Beantwortet") == {
        "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"},
        POLL_END: {},
        TEXT: "Beantwortet",
        "body": "Beantwortet",
    }


def _response(answers: Any, rel_type: str = "m.reference", key: str = POLL_RESPONSE) -> dict:
    return {
        "m.relates_to": {"rel_type": rel_type, "event_id": "$poll"},
        key: {"answers": answers},
    }


@pytest.mark.parametrize(
    ("content", "vote"),
    [
        (_response(["2"]), Vote("$poll", ("2",))),
        (_response([]), Vote("$poll", ())),  # a retracted vote
        (_response(["1"], key="m.poll.response"), Vote("$poll", ("1",))),  # stable name
        (_response(["1"], rel_type="m.annotation"), None),
        (_response("1"), None),
        (_response([1]), None),
        ({POLL_RESPONSE: {"answers": ["1"]}}, None),  # related to nothing
        ({"m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"}}, None),
        ({"m.relates_to": {"rel_type": "m.reference"}, POLL_RESPONSE: {"answers": ["1"]}}, None),
        ({"m.relates_to": "$poll", POLL_RESPONSE: {"answers": ["1"]}}, None),
    ],
)
def test_parse_vote(content: dict[str, Any], vote: Vote | None) -> None:
    assert parse_vote(content) == vote


@pytest.mark.parametrize(
    ("question", "answers", "option_id"),
    [
        (TOPIC, ["1"], "family"),
        (TOPIC, ["2"], "addiction"),
        (CHANNEL, ["1"], "chat"),
        (CHANNEL, ["2"], "async"),
        (TOPIC, ["3"], None),  # no such option
        (TOPIC, ["0"], None),
        (TOPIC, ["-1"], None),
        (TOPIC, ["01"], None),  # not an id we sent
        (TOPIC, ["²"], None),  # a digit to Python, not to us
        (TOPIC, ["family"], None),  # words are for typing, not answer ids
        (TOPIC, [], None),  # retracted
        (TOPIC, ["1", "2"], None),  # single choice only
    ],
)
def test_answer_ids_map_back_to_the_option(
    question: Question, answers: list[str], option_id: str | None
) -> None:
    option = chosen(question, answers)
    assert (option.id if option else None) == option_id


def test_every_offered_answer_maps_back_to_its_option() -> None:
    question = _question(MAX_ANSWERS)
    content = start_content(question, "?")
    assert content is not None
    for answer, option in zip(content[POLL_START]["answers"], question.options, strict=True):
        assert chosen(question, [answer["id"]]) == option
        assert answer[TEXT] == option.label
