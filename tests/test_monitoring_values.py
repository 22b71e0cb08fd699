"""Reading monitoring answers per field type, in German and English, and showing them back."""

from __future__ import annotations

from typing import Any

import pytest

from appservice.i18n import Renderer
from bots.monitoring.forms import Field
from bots.monitoring.values import PROBLEM_CODES, Answer, Problem, display, fits, parse_value
from tests.monitoring_support import TODAY, default_form

FORM = default_form()
MULTI = Field(
    "needs",
    {"de": "Bedarf", "en": "Needs"},
    "multichoice",
    choices=FORM.field("channel").choices,  # type: ignore[union-attr]
)
YES_NO = ("ja", "nein")


def _field(key: str) -> Field:
    if key == MULTI.key:
        return MULTI
    found = FORM.field(key)
    assert found is not None
    return found


GOOD: list[tuple[str, str, Answer]] = [
    ("duration", "45", 45),
    ("duration", " 45 min ", 45),
    ("duration", "45min", 45),
    ("duration", "45 Minuten", 45),
    ("duration", "45 minutes", 45),
    ("duration", "1:30", 90),
    ("duration", "1 h 30", 90),
    ("duration", "1h30min", 90),
    ("duration", "1,5 h", 90),
    ("duration", "1.5 Stunden", 90),
    ("duration", "2 hours", 120),
    ("duration", "1440", 1440),
    ("persons", "3", 3),
    ("persons", "3.", 3),
    ("persons", "+2", 2),
    ("subject", "  Erstgespräch Familie ", "Erstgespräch Familie"),
    ("subject", "=1+1", "=1+1"),
    ("date", "31.12.2025", "2025-12-31"),
    ("date", "2026-05-10", "2026-05-10"),
    ("date", "1.5.26", "2026-05-01"),
    ("date", "heute", "2026-05-10"),
    ("date", "Today", "2026-05-10"),
    ("date", "gestern", "2026-05-09"),
    ("date", "yesterday.", "2026-05-09"),
    ("date", "01.01.2000", "2000-01-01"),
    ("channel", "1", "chat"),
    ("channel", "4.", "phone"),
    ("channel", "phone", "phone"),
    ("channel", "Telefon", "phone"),
    ("channel", "vor ort", "onsite"),
    ("channel", "On  site", "onsite"),
    ("channel", "Nachricht/Mail", "async"),
    ("topic", "2", "addiction"),
    ("topic", "Family", "family"),
    ("topic", "sucht", "addiction"),
    ("needs", "1,3", ["chat", "video"]),
    ("needs", "3, 1", ["chat", "video"]),
    ("needs", "2, 1", ["chat", "async"]),
    ("needs", "3 1 3", ["chat", "video"]),
    ("needs", "Telefon; chat", ["chat", "phone"]),
    ("follow_up", "ja", True),
    ("follow_up", "Yes", True),
    ("follow_up", "j", True),
    ("follow_up", "1", True),
    ("follow_up", "nein", False),
    ("follow_up", "No.", False),
    ("follow_up", "2", False),
]


@pytest.mark.parametrize(("key", "typed", "expected"), GOOD)
def test_good_answers(key: str, typed: str, expected: Answer) -> None:
    """Each way a counsellor may write a value, German or English, gives the stored value."""
    assert parse_value(_field(key), typed, TODAY) == expected


BAD: list[tuple[str, str, str, dict[str, Any]]] = [
    ("duration", "", "empty", {}),
    ("duration", "   ", "empty", {}),
    ("duration", "lang", "not_a_number", {"kind": "minutes"}),
    ("duration", "45 sec", "not_a_number", {"kind": "minutes"}),
    ("duration", "1:75", "not_a_number", {"kind": "minutes"}),
    ("duration", "-5", "not_a_number", {"kind": "minutes"}),
    ("duration", "0", "out_of_range", {"kind": "minutes", "low": 1, "high": 1440, "given": 0}),
    ("duration", "25 h", "out_of_range", {"given": 1500}),
    ("persons", "2,5", "not_a_number", {"kind": "integer"}),
    ("persons", "zwei", "not_a_number", {}),
    ("persons", "0", "out_of_range", {"low": 1, "high": 100}),
    ("persons", "101", "out_of_range", {"given": 101}),
    ("subject", "x" * 201, "too_long", {"maximum": 200, "length": 201}),
    ("date", "31.02.2026", "not_a_date", {"given": "31.02.2026"}),
    ("date", "morgen", "not_a_date", {"given": "morgen"}),
    ("date", "11.05.2026", "date_in_future", {"given": "11.05.2026"}),
    ("date", "2999-01-01", "date_in_future", {}),
    ("date", "31.12.1999", "date_too_early", {"given": "31.12.1999", "earliest": "01.01.2000"}),
    ("channel", "0", "unknown_choice", {"given": "0", "count": 5}),
    ("channel", "6", "unknown_choice", {"given": "6"}),
    ("channel", "fax", "unknown_choice", {"given": "fax"}),
    ("topic", "3", "unknown_choice", {"count": 2}),
    ("needs", "1,9", "unknown_choice", {"given": "9"}),
    ("needs", ",;", "empty", {}),
    ("follow_up", "vielleicht", "not_yes_no", {"given": "vielleicht"}),
    ("follow_up", "3", "not_yes_no", {}),
]


@pytest.mark.parametrize(("key", "typed", "code", "params"), BAD)
def test_bad_answers_name_field_and_problem(
    key: str, typed: str, code: str, params: dict[str, Any]
) -> None:
    """A wrong answer is refused with the field, a problem code and the facts for the text."""
    problem = parse_value(_field(key), typed, TODAY)
    assert isinstance(problem, Problem)
    assert (problem.field, problem.code) == (key, code)
    assert params.items() <= problem.params.items()


def test_every_problem_code_is_tried_and_has_a_text() -> None:
    """The tables above produce every problem code but those of the one-line form, and the
    template has a sentence for each code in both languages (not its fallback)."""
    produced = {code for _, _, code, _ in BAD}
    assert produced | {"required", "duplicate"} == set(PROBLEM_CODES)
    renderer = Renderer.default()
    params = {"kind": "minutes", "low": 1, "high": 2, "given": "x", "count": 2}
    params |= {"maximum": 3, "length": 4, "earliest": "01.01.2000"}
    for lang in ("de", "en"):
        for code in PROBLEM_CODES:
            text = renderer.render(
                lang, "monitoring_value_problem", field="Dauer", code=code, params=params
            )
            assert "Dauer" in text and f"({code})" not in text, (lang, code, text)


@pytest.mark.parametrize(
    ("key", "value", "lang", "shown"),
    [
        ("date", "2026-03-01", "de", "01.03.2026"),
        ("date", "2026-03-01", "en", "01.03.2026"),
        ("duration", 45, "de", "45"),
        ("channel", "onsite", "de", "Vor Ort"),
        ("channel", "onsite", "en", "On site"),
        ("topic", "addiction", "en", "Sucht"),
        ("topic", "dropped", "de", "dropped"),
        ("needs", ["chat", "phone"], "de", "Chat, Telefon"),
        ("follow_up", True, "de", "ja"),
        ("follow_up", False, "de", "nein"),
        ("subject", None, "de", ""),
    ],
)
def test_display(key: str, value: Answer | None, lang: str, shown: str) -> None:
    """Values are shown with labels in the reader's language and German dates; a topic the
    centre dropped shows its id instead of vanishing."""
    assert display(_field(key), value, lang, YES_NO) == shown


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("duration", 45, True),
        ("duration", 0, False),
        ("duration", True, False),
        ("duration", "45", False),
        ("subject", "x", True),
        ("subject", "", False),
        ("subject", "x" * 201, False),
        ("date", "2026-01-01", True),
        ("date", "01.01.2026", False),
        ("follow_up", False, True),
        ("follow_up", 0, False),
        ("channel", "chat", True),
        ("channel", "fax", False),
        ("needs", ["chat"], True),
        ("needs", [], False),
        ("needs", ["chat", "fax"], False),
        ("needs", "chat", False),
    ],
)
def test_fits(key: str, value: object, ok: bool) -> None:
    """A stored value is checked against the field again after a restart (the file may have
    changed): only values the field could have produced pass."""
    assert fits(_field(key), value) is ok
