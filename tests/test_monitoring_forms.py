"""Monitoring form files: the shipped default, the loader's one-line errors, topics per centre."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appservice.config_values import ConfigError
from bots.monitoring.forms import (
    CENTRE_TOPICS,
    DATE_KEY,
    Form,
    FormError,
    find_forms,
    form_for_centre,
    load_form,
    parse_form,
)
from tests.monitoring_support import SHIPPED, TOPICS, default_form


def _default() -> Form:
    """The shipped form as loaded, before a centre's topics are filled in."""
    return load_form(SHIPPED / "forms" / "default.yaml")


def _date_field() -> dict[str, Any]:
    return {"key": "date", "label": "Datum", "type": "date", "required": True}


def _form(*fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"fields": [_date_field(), *fields], **extra}


def test_default_form_has_the_reference_fields() -> None:
    """The shipped form asks what assisto asks: duration and subject required, then channel,
    topic, persons and follow-up, with the date of the contact first."""
    form = _default()
    shape = [(f.key, f.kind, f.required) for f in form.fields]
    assert shape == [
        ("date", "date", True),
        ("duration", "minutes", True),
        ("subject", "text", True),
        ("channel", "choice", False),
        ("topic", "choice", False),
        ("persons", "integer", False),
        ("follow_up", "yesno", False),
    ]
    assert form.field("duration").label("de") == "Beratungsdauer (Min.)"  # type: ignore[union-attr]
    assert form.field("subject").label("de") == "Betreff (Monitoring)"  # type: ignore[union-attr]
    assert form.stats.minutes == "duration" and form.stats.persons == "persons"
    assert form.stats.by == ("channel", "topic")


def test_default_channels_include_the_triage_channels() -> None:
    """A request's channel (``chat``/``async`` from triage) is a choice of the form, so it can
    be taken over into the monitoring; the other channels are the reference's."""
    channel = _default().field("channel")
    assert channel is not None and channel.prefill == ("request_channel",)
    assert [c.id for c in channel.choices] == ["chat", "async", "video", "phone", "onsite"]
    assert all(set(c.labels) == {"de", "en"} for c in channel.choices)


def test_german_aliases_find_fields() -> None:
    """German counsellors type ``dauer=45 betreff=…``; keys and aliases match in any case."""
    form = _default()
    assert form.lookup("Dauer") is form.field("duration")
    assert form.lookup("betreff") is form.field("subject")
    assert form.lookup("thema") is form.field("topic")
    assert form.lookup("unknown") is None


def test_centre_topics_are_filled_in() -> None:
    """``choices: centre_topics`` takes the centre's triage topics, ids and labels."""
    topic = default_form(TOPICS).field("topic")
    assert topic is not None
    assert [(c.id, c.label("en")) for c in topic.choices] == [
        ("family", "Family"),
        ("addiction", "Sucht"),
    ]


def test_without_topics_an_optional_topic_field_is_left_out() -> None:
    """A centre without topics cannot answer the topic question: it is not asked, nor counted."""
    form = default_form(())
    assert form.field("topic") is None
    assert form.stats.by == ("channel",)


def test_without_topics_a_required_topic_field_is_refused() -> None:
    """A required topic field with no topics would block every monitoring: refused at start."""
    raw = _form({"key": "topic", "label": "Thema", "type": "choice", "choices": CENTRE_TOPICS})
    raw["fields"][1]["required"] = True
    form = parse_form(raw, "t", "forms/t.yaml")
    with pytest.raises(FormError) as err:
        form.for_centre(())
    assert "forms/t.yaml: fields[1].choices" in str(err.value)
    assert "'topic'" in str(err.value) and "centres[].topics" in str(err.value)


def test_operator_folder_wins(tmp_path: Path) -> None:
    """A form file in the operator's template folder replaces the shipped one of that name;
    other shipped forms stay available."""
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "default.yaml").write_text("fields: []\n", encoding="utf-8")
    (tmp_path / "forms" / "youth.yaml").write_text("fields: []\n", encoding="utf-8")
    found = find_forms([tmp_path, SHIPPED])
    assert found["default"] == tmp_path / "forms" / "default.yaml"
    assert found["youth"] == tmp_path / "forms" / "youth.yaml"
    assert find_forms([SHIPPED])["default"] == SHIPPED / "forms" / "default.yaml"


def test_form_error_is_a_config_error() -> None:
    """Start-up and ``lotse check-config`` print ConfigErrors as one line and exit 2; a broken
    form file is reported the same way."""
    with pytest.raises(ConfigError):
        parse_form({"fields": "none"}, "x", "forms/x.yaml")


def _choice(**extra: Any) -> dict[str, Any]:
    return {"key": "kanal", "label": "Kanal", "type": "choice", **extra}


BROKEN: list[tuple[Any, str, str]] = [
    ("- just a list", "forms/x.yaml", "expected a mapping"),
    ({"fields": []}, "forms/x.yaml: fields", "at least one field"),
    ({"fields": [_date_field()], "title": "x"}, "forms/x.yaml: title", "unknown option"),
    (_form("text"), "fields[1]", "expected a mapping with key"),
    (_form({"key": "Dauer", "type": "minutes", "label": "x"}), "fields[1].key", "'Dauer'"),
    (_form({"key": "client", "type": "text", "label": "x"}), "fields[1].key", "reserved"),
    (
        _form({"key": "dauer", "type": "number", "label": "x"}),
        "fields[1].type",
        "field 'dauer': expected one of minutes, integer, text, choice, multichoice, date, "
        "yesno; got 'number'",
    ),
    (
        _form({"key": "dauer", "type": "minutes", "label": "x", "choices": []}),
        "fields[1].choices",
        "unknown option for type minutes",
    ),
    (_form({"key": "dauer", "type": "minutes"}), "fields[1].label", "expected a text"),
    (
        _form({"key": "dauer", "type": "minutes", "label": {"fr": "durée"}}),
        "fields[1].label",
        "unknown language 'fr'",
    ),
    (
        _form({"key": "dauer", "type": "minutes", "label": {"de": " "}}),
        "fields[1].label",
        "de label is empty",
    ),
    (
        _form({"key": "dauer", "type": "minutes", "label": "x", "required": "yes"}),
        "fields[1].required",
        "true or false",
    ),
    (
        _form({"key": "dauer", "type": "minutes", "label": "x", "min": 30, "max": 10}),
        "fields[1].min",
        "greater than max",
    ),
    (
        _form({"key": "dauer", "type": "minutes", "label": "x", "max": "viel"}),
        "fields[1].max",
        "whole number",
    ),
    (
        _form({"key": "betreff", "type": "text", "label": "x", "max_length": 0}),
        "fields[1].max_length",
        "1..4000",
    ),
    (_form(_choice()), "fields[1].choices", "expected a list of {id, de, en}"),
    (_form(_choice(choices=["chat"])), "fields[1].choices[0]", "mapping with id"),
    (
        _form(_choice(choices=[{"id": "Chat", "de": "Chat"}])),
        "fields[1].choices[0].id",
        "'Chat' is not valid",
    ),
    (
        _form(_choice(choices=[{"id": "a", "de": "A"}, {"id": "a", "de": "B"}])),
        "fields[1].choices[1].id",
        "duplicate choice 'a'",
    ),
    (
        _form(_choice(choices=[{"id": "a", "it": "A"}])),
        "fields[1].choices[0]",
        "unknown language 'it'",
    ),
    (
        _form(_choice(choices=[{"id": "a", "de": "A"}], prefill="request_date")),
        "fields[1].prefill",
        "'request_date' cannot fill a choice field; possible: request_channel, request_topic",
    ),
    (
        _form(_choice(choices=[{"id": "a", "de": "A"}], prefill="yesterday")),
        "fields[1].prefill",
        "'yesterday' cannot fill",
    ),
    (
        _form(_choice(choices=[{"id": "a", "de": "A"}], aliases="date")),
        "fields[1].aliases",
        "'date' is already used by field 'date'",
    ),
    (
        {"fields": [{"key": "date", "label": "Datum", "type": "date"}]},
        "forms/x.yaml: fields",
        "needs a required field 'date' of type date",
    ),
    (
        {"fields": [{"key": "datum", "label": "Datum", "type": "date", "required": True}]},
        "forms/x.yaml: fields",
        "needs a required field 'date'",
    ),
    (_form(statistics=["duration"]), "forms/x.yaml: statistics", "expected a mapping"),
    (_form(statistics={"sum": "x"}), "statistics.sum", "unknown option"),
    (_form(statistics={"minutes": "dauer"}), "statistics.minutes", "no field 'dauer'"),
    (
        _form(statistics={"persons": "date"}),
        "statistics.persons",
        "field 'date' is date; expected integer",
    ),
    (_form(statistics={"by": "date"}), "statistics.by", "list of field keys"),
    (
        _form(statistics={"by": ["date"]}),
        "statistics.by[0]",
        "expected choice or multichoice or yesno",
    ),
]


@pytest.mark.parametrize(("raw", "where", "problem"), BROKEN)
def test_broken_form_is_refused_with_one_line(raw: Any, where: str, problem: str) -> None:
    """Each mistake names the file, the place (field) and the problem, in one line."""
    with pytest.raises(FormError) as err:
        parse_form(raw, "x", "forms/x.yaml")
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("forms/x.yaml")
    assert where in err.value.key, line
    assert problem in line


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fields: [", "invalid YAML at line 1"),
        ("fields:\n  - key: date\n\ttype: date\n", "invalid YAML"),
        ("fields: 3\n", "at least one field"),
    ],
)
def test_broken_file_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    """Unreadable YAML is reported with the file's path, like a config file."""
    path = tmp_path / "forms" / "broken.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormError) as err:
        load_form(path)
    assert str(err.value).startswith(str(path)) and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_file_name_is_refused(tmp_path: Path) -> None:
    """The file name is the form's name in the config, so it follows the id rules."""
    path = tmp_path / "Jugend Form.yaml"
    path.write_text("fields: []\n", encoding="utf-8")
    with pytest.raises(FormError, match="lower-case"):
        load_form(path)


def test_statistics_default_without_section() -> None:
    """Without ``statistics:`` the first minutes field is summed, each monitoring counts one
    person, and every choice-like field is broken down."""
    raw = _form(
        {"key": "dauer", "type": "minutes", "label": "Dauer"},
        _choice(choices=[{"id": "a", "de": "A"}]),
        {"key": "folge", "type": "yesno", "label": "Folge"},
    )
    form = parse_form(raw, "x", "forms/x.yaml")
    assert (form.stats.minutes, form.stats.persons) == ("dauer", None)
    assert form.stats.by == ("kanal", "folge")


def test_bounds_and_lengths_are_read() -> None:
    """min/max and max_length reach the field; without them the defaults apply."""
    raw = _form(
        {"key": "dauer", "type": "minutes", "label": "x"},
        {"key": "n", "type": "integer", "label": "x", "min": 1, "max": 9},
        {"key": "t", "type": "text", "label": "x", "max_length": 20},
    )
    form = parse_form(raw, "x", "forms/x.yaml")
    assert [(f.low, f.high) for f in form.fields[1:3]] == [(1, 1440), (1, 9)]
    assert form.fields[3].max_length == 20
    assert form.field(DATE_KEY) is form.fields[0]


def test_form_for_centre(tmp_path: Path) -> None:
    """Start-up gets each centre's form by the name its config gives, with its topics; a
    name without a file is a config error naming the centre's key and the forms there are;
    a required topic field in a centre without topics is refused too."""
    found = find_forms([SHIPPED])
    form = form_for_centre(found, "default", TOPICS, "centres[0].monitoring_form")
    assert form.field("topic") is not None and len(form.field("topic").choices) == 2  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as err:
        form_for_centre(found, "youth", TOPICS, "centres[1].monitoring_form")
    assert str(err.value) == (
        "centres[1].monitoring_form: no form 'youth' in templates/forms; available: default"
    )
    (tmp_path / "forms").mkdir()
    strict = tmp_path / "forms" / "strict.yaml"
    strict.write_text(
        "fields:\n"
        "  - {key: date, label: Datum, type: date, required: true}\n"
        "  - {key: topic, label: Thema, type: choice, choices: centre_topics, required: true}\n",
        encoding="utf-8",
    )
    with pytest.raises(FormError, match=r"strict.yaml: fields\[1\]\.choices"):
        form_for_centre(find_forms([tmp_path]), "strict", (), "centres[0].monitoring_form")
