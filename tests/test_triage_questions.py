"""Triage questions as pure rules: which are asked, and what a typed answer means."""

from __future__ import annotations

import pytest

from bots.requests.triage_questions import (
    DONE,
    TopicChoice,
    after,
    choose,
    current,
    questions,
)

TOPICS = [
    TopicChoice("family", {"de": "Familie", "en": "Family"}),
    TopicChoice("addiction", {"de": "Sucht"}),
]


@pytest.mark.parametrize(
    ("topics", "languages", "asked"),
    [
        (TOPICS, ["de", "en"], ["topic", "language", "channel"]),
        (TOPICS, ["de"], ["topic", "channel"]),  # one language: not asked
        (TOPICS[:1], ["de", "tr"], ["language", "channel"]),  # one topic: not asked
        ([], ["de"], ["channel"]),  # the channel always has two options
        ([], ["de", "de"], ["channel"]),  # duplicates are one option
    ],
)
def test_questions_with_one_option_are_skipped(
    topics: list[TopicChoice], languages: list[str], asked: list[str]
) -> None:
    assert [q.field for q in questions(topics, languages, "de")] == asked


def test_labels_follow_the_reply_language() -> None:
    de = questions(TOPICS, ["de", "tr"], "de")
    en = questions(TOPICS, ["de", "tr"], "en")
    assert [o.label for o in de[0].options] == ["Familie", "Sucht"]
    assert [o.label for o in en[0].options] == ["Family", "Sucht"]  # no English label: German
    assert [o.label for o in de[1].options] == ["Deutsch", "Türkisch"]
    assert [o.label for o in en[1].options] == ["German", "Turkish"]


ASKED = questions(TOPICS, ["de", "en", "xx"], "de")
TOPIC, LANGUAGE, CHANNEL = ASKED


@pytest.mark.parametrize(
    ("question", "typed", "chosen"),
    [
        (TOPIC, "1", "family"),
        (TOPIC, " 2. ", "addiction"),
        (TOPIC, "2)", "addiction"),
        (TOPIC, "Sucht", "addiction"),
        (TOPIC, "family", "family"),
        (TOPIC, "FAMILY", "family"),
        (TOPIC, "0", None),
        (TOPIC, "3", None),
        (TOPIC, "-1", None),
        (TOPIC, "99999999999999999999", None),
        (TOPIC, "Wetter", None),
        (TOPIC, "", None),
        (LANGUAGE, "2", "en"),
        (LANGUAGE, "english", "en"),
        (LANGUAGE, "Englisch", "en"),
        (LANGUAGE, "xx", "xx"),  # an unknown code is shown and typed as the code
        (LANGUAGE, "4", None),
        (CHANNEL, "1", "chat"),
        (CHANNEL, "chat", "chat"),
        (CHANNEL, "Nachricht", "async"),
        (CHANNEL, "message", "async"),
        (CHANNEL, "3", None),
    ],
)
def test_answers_by_number_or_word(question: object, typed: str, chosen: str | None) -> None:
    option = choose(question, typed)  # type: ignore[arg-type]
    assert (option.id if option else None) == chosen


@pytest.mark.parametrize(
    ("step", "answered", "expected"),
    [
        ("topic", [], "topic"),
        ("channel", ["topic", "language"], "channel"),
        ("gone", ["topic"], "language"),  # a question the centre dropped: first unanswered
        ("gone", ["topic", "language", "channel"], None),
    ],
)
def test_current_question(step: str, answered: list[str], expected: str | None) -> None:
    question = current(ASKED, step, answered)
    assert (question.field if question else None) == expected


def test_order_of_questions() -> None:
    assert after(ASKED, "topic") == "language"
    assert after(ASKED, "language") == "channel"
    assert after(ASKED, "channel") == DONE
    assert after(ASKED, "unknown") == "topic"
    assert after([], "topic") == DONE
