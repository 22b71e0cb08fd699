"""The monitoring dialogue as a state machine, its JSON state, and the one-line form."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from bots.monitoring.dialogue import (
    Ask,
    Cancelled,
    DialogueState,
    Finished,
    RequestFacts,
    Step,
    answer,
    option_labels,
    parse_line,
    prefill_values,
    resume,
    start,
)
from bots.monitoring.values import Answer, Problem, parse_value
from tests.monitoring_support import TODAY, default_form

FORM = default_form()
REQUEST = RequestFacts(channel="async", topic="family", created=date(2026, 5, 2))


def _run(texts: list[str], prefilled: dict[str, Answer] | None = None) -> list[Step]:
    """Every step of a dialogue fed ``texts``; the state goes through JSON between steps, as
    it does through the database."""
    steps: list[Step] = [start(FORM, prefilled)]
    for text in texts:
        last = steps[-1]
        assert isinstance(last, Ask), f"dialogue ended before {text!r}"
        stored = DialogueState.from_json(last.state.to_json())
        steps.append(answer(FORM, stored, text, TODAY))
    return steps


def _asked(step: Step) -> tuple[str, str | None]:
    assert isinstance(step, Ask), step
    return step.field.key, step.problem.code if step.problem else None


def test_prefill_from_the_request() -> None:
    """Channel, topic and date of the request are proposed ("Daten der Anfrage übernehmen")."""
    assert prefill_values(FORM, REQUEST, TODAY) == {
        "date": "2026-05-02",
        "channel": "async",
        "topic": "family",
    }


@pytest.mark.parametrize(
    ("request_facts", "expected"),
    [
        (None, {"date": "2026-05-10"}),
        (RequestFacts(), {"date": "2026-05-10"}),
        (RequestFacts("pigeon", "dropped", date(1999, 1, 1)), {"date": "2026-05-10"}),
        (RequestFacts("chat", None, date(2026, 5, 11)), {"date": "2026-05-10", "channel": "chat"}),
    ],
)
def test_prefill_passes_over_unusable_sources(
    request_facts: RequestFacts | None, expected: dict[str, Answer]
) -> None:
    """Without a request, or with values the form cannot hold (a channel it does not list, a
    dropped topic, a date out of range), the next source (today) or nothing is proposed."""
    assert prefill_values(FORM, request_facts, TODAY) == expected


def test_full_dialogue_with_prefill() -> None:
    """One question at a time in the form's order; ``weiter`` keeps a proposal, optional
    fields can be skipped, and the result holds typed and taken-over values."""
    steps = _run(
        ["weiter", "45 min", "Erstgespräch", "skip", "2", "weiter", "ja"],
        prefill_values(FORM, REQUEST, TODAY),
    )
    asked = [s.field.key for s in steps if isinstance(s, Ask)]
    assert asked == [f.key for f in FORM.fields]
    first = steps[0]
    assert isinstance(first, Ask) and (first.number, first.total) == (1, 7)
    assert first.proposed == "2026-05-02"
    assert steps[-1] == Finished(
        {
            "date": "2026-05-02",
            "duration": 45,
            "subject": "Erstgespräch",
            "channel": "async",
            "topic": "addiction",
            "follow_up": True,
        }
    )


def test_bad_answer_asks_the_same_field_again() -> None:
    """A wrong value names the problem and asks the same question; nothing moves on."""
    steps = _run(["heute", "lang", "0", "50"])
    assert [_asked(s) for s in steps[1:4]] == [
        ("duration", None),
        ("duration", "not_a_number"),
        ("duration", "out_of_range"),
    ]
    assert _asked(steps[4]) == ("subject", None)
    assert steps[3].state.value("duration") is None  # type: ignore[union-attr]


def test_required_field_cannot_be_skipped() -> None:
    """``weiter`` on a required field without a value says it is required; with a proposed
    value it keeps that value."""
    steps = _run(["weiter", "weiter"])
    assert _asked(steps[1]) == ("date", "required")
    assert _asked(steps[2]) == ("date", "required")
    steps = _run(["weiter"], {"date": "2026-05-01"})
    assert _asked(steps[1]) == ("duration", None)


def test_back_returns_to_the_previous_field_keeping_answers() -> None:
    """``zurück``/``back`` asks the previous field again, showing what was given; at the first
    field it stays there."""
    steps = _run(["zurück", "heute", "45", "back"])
    assert _asked(steps[1]) == ("date", None)
    back = steps[4]
    assert _asked(back) == ("duration", None)
    assert isinstance(back, Ask) and back.proposed == 45
    more = answer(FORM, back.state, "weiter", TODAY)
    assert _asked(more) == ("subject", None)
    assert more.state.value("duration") == 45  # type: ignore[union-attr]


@pytest.mark.parametrize("word", ["abbrechen", "Cancel", "stop", "abbrechen."])
def test_cancel_at_any_point(word: str) -> None:
    """``abbrechen``/``cancel`` ends the dialogue: the shell saves nothing."""
    assert isinstance(_run(["heute", "45", word])[-1], Cancelled)


def test_clear_empties_an_optional_proposal_but_not_a_required_one() -> None:
    """``leer``/``-`` empties an optional field (e.g. a proposed channel that was wrong); on a
    required field it is refused."""
    steps = _run(["leer"], {"date": "2026-05-01"})
    assert _asked(steps[1]) == ("date", "required")
    walk = ["heute", "30", "Beratung", "-", "weiter", "weiter", "weiter"]
    steps = _run(walk, {"channel": "chat"})
    assert steps[-1] == Finished({"date": "2026-05-10", "duration": 30, "subject": "Beratung"})


def test_state_survives_json_mid_form() -> None:
    """A half-filled form is plain JSON (it waits in the database over a restart) and goes
    on exactly where it stood, proposals included."""
    step = _run(["heute", "45"], {"channel": "chat"})[-1]
    assert isinstance(step, Ask)
    text = step.state.to_json()
    data = json.loads(text)
    assert data["current"] == "subject" and data["answers"]["duration"] == 45
    again = resume(FORM, DialogueState.from_json(text))
    assert (again.field.key, again.proposed, again.number) == ("subject", None, 3)
    done = _finish(again, ["Krise", "weiter", "1", "2", "nein"])
    assert done == Finished(
        {
            "date": "2026-05-10",
            "duration": 45,
            "subject": "Krise",
            "channel": "chat",
            "topic": "family",
            "persons": 2,
            "follow_up": False,
        }
    )


def _finish(step: Step, texts: list[str]) -> Step:
    for text in texts:
        assert isinstance(step, Ask)
        step = answer(FORM, DialogueState.from_json(step.state.to_json()), text, TODAY)
    return step


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"v": 2, "form": "default", "current": "date", "answers": {}, "prefilled": {}}',
        '{"v": 1, "form": 3, "current": "date", "answers": {}, "prefilled": {}}',
        '{"v": 1, "form": "default", "current": "date", "answers": [], "prefilled": {}}',
        '{"v": 1, "form": "default", "current": "date", "answers": {"a": {}}, "prefilled": {}}',
        '{"v": 1, "form": "default", "current": "date", "answers": {}, "prefilled": {"a": null}}',
    ],
)
def test_malformed_state_is_refused(text: str) -> None:
    """A stored state that is not one of ours raises ValueError (the shell starts afresh)
    instead of running a dialogue on garbage."""
    with pytest.raises(ValueError):
        DialogueState.from_json(text)


def test_resume_after_the_form_changed() -> None:
    """If the form file changed between restart and answer, values that no longer fit are
    dropped and a vanished current field gives way to the first field without a value."""
    state = DialogueState(
        "default",
        "mood",
        {"date": "2026-05-01", "duration": 5000, "channel": "fax"},
        {"topic": "family"},
    )
    step = resume(FORM, state)
    assert (step.field.key, step.proposed) == ("duration", None)
    assert step.state.answers == {"date": "2026-05-01"}
    assert step.state.value("topic") == "family"
    assert answer(FORM, state, "45", TODAY) == step


def test_finished_only_with_every_required_value() -> None:
    """If the last field is passed while a required one is still empty (possible after a form
    change), that field is asked again instead of finishing."""
    state = DialogueState("default", "follow_up", {"date": "2026-05-01", "duration": 30})
    assert _asked(answer(FORM, state, "ja", TODAY)) == ("subject", "required")
    state = replace(state, answers={**state.answers, "subject": "x"})
    assert isinstance(answer(FORM, state, "ja", TODAY), Finished)


# ---------------------------------------------------------------------------- one line

LINE_CASES: list[tuple[list[tuple[str, str]], dict[str, Answer], list[tuple[str, str]], list[str]]]
LINE_CASES = [
    (
        [("dauer", "45"), ("betreff", "Erstgespräch"), ("kanal", "Telefon")],
        {"date": "2026-05-10", "duration": 45, "subject": "Erstgespräch", "channel": "phone"},
        [],
        [],
    ),
    (
        [("Duration", "1:30"), ("subject", "x"), ("date", "gestern"), ("follow_up", "no")],
        {"date": "2026-05-09", "duration": 90, "subject": "x", "follow_up": False},
        [],
        [],
    ),
    (
        [("kanal", "fax"), ("wetter", "gut"), ("dauer", "-3"), ("ort", "x")],
        {"date": "2026-05-10"},
        [("duration", "not_a_number"), ("subject", "required"), ("channel", "unknown_choice")],
        ["wetter", "ort"],
    ),
    (
        [("dauer", "45"), ("duration", "50"), ("betreff", "")],
        {"date": "2026-05-10", "duration": 45},
        [("duration", "duplicate"), ("subject", "required")],
        [],
    ),
    (
        [("dauer", "45"), ("betreff", "x"), ("datum", "01.06.2026")],
        {"date": "2026-05-10", "duration": 45, "subject": "x"},
        [("date", "date_in_future")],
        [],
    ),
]


@pytest.mark.parametrize(("options", "values", "problems", "unknown"), LINE_CASES)
def test_one_line_form(
    options: list[tuple[str, str]],
    values: dict[str, Answer],
    problems: list[tuple[str, str]],
    unknown: list[str],
) -> None:
    """``key=value`` for the whole form at once: every problem and every unknown key is named
    in one go (in the form's order), missing required fields too; today's date is the
    proposal for the contact's day."""
    result = parse_line(FORM, options, TODAY, prefilled=prefill_values(FORM, None, TODAY))
    assert result.values == values
    assert [(p.field, p.code) for p in result.problems] == problems
    assert list(result.unknown) == unknown
    assert result.ok is (not problems and not unknown)


def test_one_line_edit_changes_only_what_is_given() -> None:
    """An edit (``partial``) needs no required fields, and an empty optional value means
    "empty this field" (None) while an empty required one is refused."""
    result = parse_line(FORM, [("kanal", ""), ("personen", "3")], TODAY, partial=True)
    assert result.ok and result.values == {"channel": None, "persons": 3}
    result = parse_line(FORM, [("betreff", "")], TODAY, partial=True)
    assert [(p.field, p.code) for p in result.problems] == [("subject", "required")]


def test_one_line_new_takes_prefill_and_typed_wins() -> None:
    """A monitoring for a request takes its channel and topic unless typed otherwise."""
    prefilled = prefill_values(FORM, REQUEST, TODAY)
    options = [("dauer", "20"), ("betreff", "x"), ("kanal", "video")]
    result = parse_line(FORM, options, TODAY, prefilled=prefilled)
    assert result.ok
    assert result.values == {
        "date": "2026-05-02",
        "duration": 20,
        "subject": "x",
        "channel": "video",
        "topic": "family",
    }


@pytest.mark.parametrize(
    ("key", "lang", "labels"),
    [
        ("channel", "en", ["Chat", "Message/mail", "Video", "Phone", "On site"]),
        ("topic", "de", ["Familie", "Sucht"]),
        ("follow_up", "de", ["ja", "nein"]),
        ("duration", "de", []),
    ],
)
def test_option_labels(key: str, lang: str, labels: list[str]) -> None:
    """The numbered options shown (and offered as a poll) are the choices in the reader's
    language, yes/no as the template's words, none for typed fields; their numbers are the
    numbers the answer parser accepts."""
    f = FORM.field(key)
    assert f is not None
    assert option_labels(f, lang, ("ja", "nein")) == labels
    for number, _ in enumerate(labels, start=1):
        assert not isinstance(parse_value(f, str(number), TODAY), Problem)
