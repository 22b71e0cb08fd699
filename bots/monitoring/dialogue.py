"""Filling in a monitoring form: the guided dialogue and the one-line ``key=value`` form.

The dialogue is a pure state machine, ``answer(form, state, text, today)`` → the next step,
so the shell only stores the state (``DialogueState.to_json``, sealed at rest: it holds the
free text typed so far) and renders the step. Keeping it as data means a half-filled form
survives a restart: the shell reads the JSON back and calls :func:`resume`.

Values taken from the client's request (``prefill_values``) are proposed, not imposed: each
field is still asked, showing the proposal, and ``weiter``/``skip`` keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, cast

from .forms import Field, Form
from .values import EARLIEST, Answer, Problem, fits, parse_value

__all__ = [
    "Ask",
    "Cancelled",
    "DialogueState",
    "Finished",
    "LineResult",
    "RequestFacts",
    "Step",
    "answer",
    "option_labels",
    "parse_line",
    "prefill_values",
    "resume",
    "start",
]

STATE_VERSION = 1
SKIP_WORDS = frozenset({"weiter", "skip", "next", "überspringen", "ueberspringen"})
BACK_WORDS = frozenset({"zurück", "zurueck", "back"})
CANCEL_WORDS = frozenset({"abbrechen", "cancel", "stop", "stopp"})
#: Empties an optional field (for instance when editing a monitoring).
CLEAR_WORDS = frozenset({"leer", "empty", "-"})


@dataclass(frozen=True)
class RequestFacts:
    """What the client's request knows that a monitoring may take over (assisto: "Daten der
    Anfrage in ein Monitoring übernehmen")."""

    channel: str | None = None
    topic: str | None = None
    created: date | None = None


@dataclass(frozen=True)
class DialogueState:
    """Where a dialogue stands: JSON-serialisable, so it can wait in the database.

    ``answers`` holds what was typed (None: emptied on purpose), ``prefilled`` what was
    proposed; a typed answer wins. ``current`` is the key of the field being asked.
    """

    form: str
    current: str
    answers: dict[str, Answer | None] = field(default_factory=dict)
    prefilled: dict[str, Answer] = field(default_factory=dict)

    def value(self, key: str) -> Answer | None:
        return self.answers[key] if key in self.answers else self.prefilled.get(key)

    def values(self, form: Form) -> dict[str, Answer]:
        """Every field of ``form`` that has a value, in the form's order."""
        found = {f.key: self.value(f.key) for f in form.fields}
        return {k: v for k, v in found.items() if v is not None}

    def to_json(self) -> str:
        data = {
            "v": STATE_VERSION,
            "form": self.form,
            "current": self.current,
            "answers": self.answers,
            "prefilled": self.prefilled,
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DialogueState:
        """The stored state; ValueError if it is not one (the shell then starts afresh)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
            raise ValueError("not a monitoring dialogue state of this version")
        form, current = data.get("form"), data.get("current")
        answers, prefilled = data.get("answers"), data.get("prefilled")
        if not (isinstance(form, str) and isinstance(current, str)):
            raise ValueError("form and current must be texts")
        if not (_answer_map(answers, allow_none=True) and _answer_map(prefilled)):
            raise ValueError("answers and prefilled must map keys to values")
        return cls(
            form,
            current,
            cast(dict[str, Answer | None], answers),
            cast(dict[str, Answer], prefilled),
        )


def _answer_map(data: Any, *, allow_none: bool = False) -> bool:
    if not isinstance(data, dict):
        return False
    for key, value in data.items():
        plain = isinstance(value, int | str) or (value is None and allow_none)
        listed = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not isinstance(key, str) or not (plain or listed):
            return False
    return True


@dataclass(frozen=True)
class Ask:
    """Ask ``field`` (number ``number`` of ``total``); ``proposed`` is what ``weiter`` keeps;
    ``problem`` says why the last answer was refused (then the same field is asked again)."""

    state: DialogueState
    field: Field
    number: int
    total: int
    proposed: Answer | None = None
    problem: Problem | None = None


@dataclass(frozen=True)
class Finished:
    """Every required field has a value: the shell saves ``values`` and drops the state."""

    values: dict[str, Answer]


@dataclass(frozen=True)
class Cancelled:
    """``abbrechen``: the shell drops the state and saves nothing."""


Step = Ask | Finished | Cancelled


def option_labels(f: Field, lang: str, yes_no: tuple[str, str]) -> list[str]:
    """The numbered options of a question (and the answers of its poll), in order: the
    choices' labels, or the words for yes and no; empty for fields typed freely."""
    if f.kind == "yesno":
        return list(yes_no)
    return [c.label(lang) for c in f.choices]


def prefill_values(form: Form, request: RequestFacts | None, today: date) -> dict[str, Answer]:
    """Proposals for the fields that name a source the request (or today) can fill.

    A source that yields nothing usable for the field (a channel the form does not list, a
    topic the centre dropped) is passed over for the field's next source.
    """
    found: dict[str, Answer] = {}
    for f in form.fields:
        for source in f.prefill:
            value = _from_source(source, request, today)
            if isinstance(value, str) and f.kind == "multichoice":
                value = [value]
            if value is not None and fits(f, value):
                found[f.key] = value
                break
    return found


def _from_source(source: str, request: RequestFacts | None, today: date) -> Answer | None:
    if source == "today":
        return today.isoformat()
    if request is None:
        return None
    if source == "request_date":
        day = request.created
        return day.isoformat() if day is not None and EARLIEST <= day <= today else None
    return request.channel if source == "request_channel" else request.topic


def start(form: Form, prefilled: Mapping[str, Answer] | None = None) -> Ask:
    """The first question of a new dialogue."""
    state = DialogueState(form.name, form.fields[0].key, {}, dict(prefilled or {}))
    return _ask(form, state, 0)


def resume(form: Form, state: DialogueState) -> Ask:
    """Ask again where a stored dialogue stood, after a restart or a repeated command.

    The form file may have changed meanwhile: values that no longer suit their field are
    dropped, and a vanished field is replaced by the first one still without a value.
    """
    keep = {f.key: f for f in form.fields}
    answers = {
        k: v for k, v in state.answers.items() if k in keep and (v is None or fits(keep[k], v))
    }
    prefilled = {k: v for k, v in state.prefilled.items() if k in keep and fits(keep[k], v)}
    state = replace(state, form=form.name, answers=answers, prefilled=prefilled)
    index = _index(form, state.current)
    if index is None:
        index = next((i for i, f in enumerate(form.fields) if state.value(f.key) is None), 0)
    return _ask(form, state, index)


def answer(form: Form, state: DialogueState, text: str, today: date) -> Step:
    """What follows ``text`` typed while ``state.current`` is asked."""
    index = _index(form, state.current)
    if index is None:
        return resume(form, state)
    f = form.fields[index]
    word = " ".join(text.split()).casefold().rstrip(".!")
    if word in CANCEL_WORDS:
        return Cancelled()
    if word in BACK_WORDS:
        return _ask(form, state, max(index - 1, 0))
    if word in SKIP_WORDS:
        if f.required and state.value(f.key) is None:
            return _ask(form, state, index, Problem(f.key, "required"))
        return _next(form, state, index)
    if word in CLEAR_WORDS:
        if f.required:
            return _ask(form, state, index, Problem(f.key, "required"))
        return _next(form, _with(state, f.key, None), index)
    value = parse_value(f, text, today)
    if isinstance(value, Problem):
        return _ask(form, state, index, value)
    return _next(form, _with(state, f.key, value), index)


def _index(form: Form, key: str) -> int | None:
    return next((i for i, f in enumerate(form.fields) if f.key == key), None)


def _with(state: DialogueState, key: str, value: Answer | None) -> DialogueState:
    return replace(state, answers={**state.answers, key: value})


def _ask(form: Form, state: DialogueState, index: int, problem: Problem | None = None) -> Ask:
    f = form.fields[index]
    state = replace(state, current=f.key)
    return Ask(state, f, index + 1, len(form.fields), state.value(f.key), problem)


def _next(form: Form, state: DialogueState, index: int) -> Step:
    """The field after ``index``; past the last one, finished unless a required field is
    still empty (then that one is asked, saying it is required)."""
    if index + 1 < len(form.fields):
        return _ask(form, state, index + 1)
    for i, f in enumerate(form.fields):
        if f.required and state.value(f.key) is None:
            return _ask(form, state, i, Problem(f.key, "required"))
    return Finished(state.values(form))


# ------------------------------------------------------------------------ one line


@dataclass(frozen=True)
class LineResult:
    """The outcome of ``key=value …``: usable only without problems and unknown keys.

    ``values`` maps field keys to values; None means the field was given empty, which an
    edit reads as "empty this optional field".
    """

    values: dict[str, Answer | None]
    problems: tuple[Problem, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unknown


def parse_line(
    form: Form,
    options: Iterable[tuple[str, str]],
    today: date,
    *,
    prefilled: Mapping[str, Answer] | None = None,
    partial: bool = False,
) -> LineResult:
    """Check every ``key=value`` at once and name every problem, so one reply says all.

    Keys may be a field's key or alias in any case. For a new monitoring (``partial`` False)
    each required field needs a value, typed or prefilled; an edit (``partial`` True)
    changes only the fields given.
    """
    typed: dict[str, Answer | None] = {}
    problems: dict[str, Problem] = {}
    unknown: list[str] = []
    for key, text in options:
        f = form.lookup(key)
        if f is None:
            unknown.append(key)
        elif f.key in typed or f.key in problems:
            problems[f.key] = Problem(f.key, "duplicate", {"given": key})
        elif not text.strip() or text.strip().casefold() in CLEAR_WORDS:
            if f.required:
                problems[f.key] = Problem(f.key, "required")
            else:
                typed[f.key] = None
        else:
            value = parse_value(f, text, today)
            if isinstance(value, Problem):
                problems[f.key] = value
            else:
                typed[f.key] = value
    values: dict[str, Answer | None] = {} if partial else dict(prefilled or {})
    values.update(typed)
    if not partial:
        for f in form.fields:
            if f.required and values.get(f.key) is None and f.key not in problems:
                problems[f.key] = Problem(f.key, "required")
        values = {k: v for k, v in values.items() if v is not None}
    ordered = tuple(problems[f.key] for f in form.fields if f.key in problems)
    return LineResult(values, ordered, tuple(unknown))
