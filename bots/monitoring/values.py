"""Reading what a counsellor types for one field, in German or English, and showing it back.

Values are kept JSON-native (int, str, bool, list of choice ids; a date as ``YYYY-MM-DD``)
because a half-filled form lives in the database as JSON and must survive a restart. A bad
answer gives a :class:`Problem` (a template code, the field, the facts the text needs), so
the assistant can say which field and why, and nothing is stored.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from bots.framework.dates import parse_day

from .forms import Field

__all__ = [
    "EARLIEST",
    "PROBLEM_CODES",
    "Answer",
    "Problem",
    "Record",
    "display",
    "fits",
    "parse_value",
    "to_date",
]

Answer = int | str | bool | list[str]

#: Every ``Problem.code`` (each has a text in the ``monitoring_value_problem`` template).
PROBLEM_CODES = (
    "empty",
    "required",
    "duplicate",
    "not_a_number",
    "out_of_range",
    "too_long",
    "not_a_date",
    "date_in_future",
    "date_too_early",
    "not_yes_no",
    "unknown_choice",
)
#: Monitorings document real contacts: none before this day, none in the future.
EARLIEST = date(2000, 1, 1)

_TODAY = frozenset({"heute", "today"})
_YESTERDAY = frozenset({"gestern", "yesterday"})
_YES = frozenset({"ja", "j", "yes", "y", "1"})
_NO = frozenset({"nein", "n", "no", "2"})
_MINUTES = re.compile(r"(\d{1,5})\s*(?:m|min|mins|minute|minuten|minutes)?")
_HOURS = re.compile(r"(\d{1,3}(?:[.,]\d{1,2})?)\s*(?:h|std|stunde|stunden|hour|hours)")
_HOURS_MINUTES = re.compile(r"(\d{1,3})(?::|\s*(?:h|std)\s*)(\d{1,2})\s*(?:m|min|minuten|minutes)?")
_INTEGER = re.compile(r"\+?\d{1,9}")


@dataclass(frozen=True)
class Problem:
    """Why an answer was refused: ``code`` picks the text in ``monitoring_value_problem``."""

    field: str
    code: str
    params: dict[str, str | int] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A saved monitoring as export and statistics see it: who, for whom, what was filled
    in (``values[DATE_KEY]`` is the day of the contact). Names are already resolved by the
    shell: the client's pseudonym, the counsellor's display name (or id)."""

    id: int
    client: str
    counsellor: str
    values: Mapping[str, Answer]


def parse_value(f: Field, text: str, today: date) -> Answer | Problem:
    """The value ``text`` means for field ``f``, or the problem with it."""
    typed = " ".join(text.split())
    if not typed:
        return Problem(f.key, "empty")
    if f.kind == "minutes":
        return _bounded(f, _minutes(typed))
    if f.kind == "integer":
        plain = typed.rstrip(".")
        return _bounded(f, int(plain) if _INTEGER.fullmatch(plain) else None)
    if f.kind == "text":
        text = text.strip()
        if len(text) > f.max_length:
            return Problem(f.key, "too_long", {"maximum": f.max_length, "length": len(text)})
        return text
    if f.kind == "date":
        return _date(f, typed, today)
    if f.kind == "yesno":
        word = _word(typed)
        if word in _YES or word in _NO:
            return word in _YES
        return Problem(f.key, "not_yes_no", {"given": typed})
    if f.kind == "choice":
        chosen = _choice(f, typed)
        return chosen if chosen is not None else _unknown_choice(f, typed)
    return _multichoice(f, typed)


def _word(text: str) -> str:
    """What a person typed, compared loosely: any case, no trailing ``.`` or ``)``."""
    return text.strip().rstrip(".)").strip().casefold()


def _minutes(typed: str) -> int | None:
    """``45``, ``45 min``, ``1,5 h``, ``1:30``, ``1 h 30`` → whole minutes."""
    word = _word(typed)
    if match := _MINUTES.fullmatch(word):
        return int(match.group(1))
    if match := _HOURS.fullmatch(word):
        return round(float(match.group(1).replace(",", ".")) * 60)
    if (match := _HOURS_MINUTES.fullmatch(word)) and int(match.group(2)) < 60:
        return int(match.group(1)) * 60 + int(match.group(2))
    return None


def _bounded(f: Field, number: int | None) -> int | Problem:
    if number is None:
        return Problem(f.key, "not_a_number", {"kind": f.kind})
    if not f.low <= number <= f.high:
        return Problem(
            f.key, "out_of_range", {"kind": f.kind, "low": f.low, "high": f.high, "given": number}
        )
    return number


def _date(f: Field, typed: str, today: date) -> str | Problem:
    word = _word(typed)
    if word in _TODAY:
        day: date | None = today
    elif word in _YESTERDAY:
        day = today - timedelta(days=1)
    else:
        day = parse_day(typed)
    if day is None:
        return Problem(f.key, "not_a_date", {"given": typed})
    if day > today:
        return Problem(f.key, "date_in_future", {"given": _german(day)})
    if day < EARLIEST:
        return Problem(
            f.key, "date_too_early", {"given": _german(day), "earliest": _german(EARLIEST)}
        )
    return day.isoformat()


def _choice(f: Field, typed: str) -> str | None:
    """A choice by its number (as listed), its id or its label in either language."""
    word = _word(typed)
    if word.isdigit():
        number = int(word)
        return f.choices[number - 1].id if 1 <= number <= len(f.choices) else None
    for choice in f.choices:
        names = {choice.id, *(label.casefold() for label in choice.labels.values())}
        if word in names:
            return choice.id
    return None


def _unknown_choice(f: Field, typed: str) -> Problem:
    return Problem(f.key, "unknown_choice", {"given": typed, "count": len(f.choices)})


def _multichoice(f: Field, typed: str) -> list[str] | Problem:
    """``1,3`` or ``1 3`` or ``Chat; Telefon``: several choices, kept in the form's order."""
    parts = typed.split() if re.fullmatch(r"[\d\s]+", typed) else re.split(r"[,;]", typed)
    picked: set[str] = set()
    for part in (p.strip() for p in parts):
        if not part:
            continue
        chosen = _choice(f, part)
        if chosen is None:
            return _unknown_choice(f, part)
        picked.add(chosen)
    if not picked:
        return Problem(f.key, "empty")
    return [c.id for c in f.choices if c.id in picked]


def _german(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def to_date(value: Answer | None) -> date | None:
    """A stored date value back as a date (None for anything else)."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def fits(f: Field, value: object) -> bool:
    """Whether a stored value still suits the field (the form file may change meanwhile)."""
    if f.kind in ("minutes", "integer"):
        return type(value) is int and f.low <= value <= f.high
    if f.kind == "text":
        return isinstance(value, str) and 0 < len(value) <= f.max_length
    if f.kind == "date":
        return to_date(value if isinstance(value, str) else None) is not None
    if f.kind == "yesno":
        return isinstance(value, bool)
    ids = {c.id for c in f.choices}
    if f.kind == "choice":
        return isinstance(value, str) and value in ids
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and v in ids for v in value)
    )


def display(f: Field, value: Answer | None, lang: str, yes_no: tuple[str, str]) -> str:
    """A value as a person reads it: labels for choices, ``31.12.2026`` for dates.

    ``yes_no`` are the words for true and false, rendered by the caller from the
    ``monitoring_yes_no`` template. An unknown choice id (a topic the centre dropped) is
    shown as the id rather than lost.
    """
    if value is None:
        return ""
    if f.kind == "yesno":
        return yes_no[0] if value is True else yes_no[1]
    if f.kind == "date":
        day = to_date(value)
        return _german(day) if day else str(value)
    if f.kind in ("choice", "multichoice"):
        ids = value if isinstance(value, list) else [str(value)]
        labels = [(c.label(lang) if (c := f.choice(i)) else i) for i in ids]
        return ", ".join(labels)
    return str(value)
