"""Monitoring form definitions: ``templates/forms/<name>.yaml``, one file per form.

A centre chooses its form in the config; operators may put their own files in their
template folder, which wins over the shipped one of the same name. A broken file must stop
the start with one line naming the file, the field and the problem, exactly like a config
error, so :class:`FormError` *is* a :class:`ConfigError` (``lotse check-config`` and the
start-up already print those as one line and exit 2).

A field's ``choices`` is either a list or the word ``centre_topics``: the centre's own
``centres[].topics``, so the topic asked in triage and recorded in a monitoring are one list
(:meth:`Form.for_centre` fills it in).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from appservice.config_centres import Topic
from appservice.config_values import ConfigError

#: A choice is what a centre topic is: an id to store and a label per language; so the
#: centre's topics serve as choices unchanged.
Choice = Topic

__all__ = [
    "CENTRE_TOPICS",
    "DATE_KEY",
    "KINDS",
    "PREFILL_SOURCES",
    "Choice",
    "Field",
    "Form",
    "FormError",
    "StatsSpec",
    "find_forms",
    "form_for_centre",
    "load_form",
    "parse_form",
]

KINDS = ("minutes", "integer", "text", "choice", "multichoice", "date", "yesno")
LANGS = ("de", "en")
#: ``choices: centre_topics`` stands for the centre's ``centres[].topics``.
CENTRE_TOPICS = "centre_topics"
#: Every form has this date field: the day of the contact, which export and statistics use.
DATE_KEY = "date"
#: Where a value may come from before anyone types it, and which kinds each suits.
PREFILL_SOURCES: dict[str, tuple[str, ...]] = {
    "request_channel": ("choice", "multichoice"),
    "request_topic": ("choice", "multichoice"),
    "request_date": ("date",),
    "today": ("date",),
}
# Export columns and command words a field may not shadow.
RESERVED_KEYS = frozenset({"id", "client", "counsellor", "request"})
# Bounds when a field declares none: a day of minutes, and a generous count.
DEFAULT_BOUNDS = {"minutes": (1, 1440), "integer": (0, 100_000)}
DEFAULT_MAX_LENGTH = 500
MAX_TEXT_LENGTH = 4000

_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CHOICE_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_FORM_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_COMMON = ("key", "label", "type", "required", "aliases", "prefill")
_EXTRA = {
    "minutes": ("min", "max"),
    "integer": ("min", "max"),
    "text": ("max_length",),
    "choice": ("choices",),
    "multichoice": ("choices",),
    "date": (),
    "yesno": (),
}


class FormError(ConfigError):
    """A broken form file; ``key`` names the file and the place in it (one line)."""


@dataclass(frozen=True)
class Field:
    """One question of the form; ``choices`` is empty for kinds without options."""

    key: str
    labels: dict[str, str]
    kind: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    prefill: tuple[str, ...] = ()
    choices: tuple[Choice, ...] = ()
    centre_topics: bool = False
    low: int = 0
    high: int = 0
    max_length: int = DEFAULT_MAX_LENGTH

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels.get("de") or self.key

    def choice(self, choice_id: str) -> Choice | None:
        return next((c for c in self.choices if c.id == choice_id), None)


@dataclass(frozen=True)
class StatsSpec:
    """Which fields statistics sum (minutes, persons) and break down by (choice fields)."""

    minutes: str | None = None
    persons: str | None = None
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Form:
    """A form as loaded; ``for_centre`` gives the one a centre's counsellors fill in."""

    name: str
    fields: tuple[Field, ...]
    stats: StatsSpec = StatsSpec()
    source: str = ""

    def field(self, key: str) -> Field | None:
        return next((f for f in self.fields if f.key == key), None)

    def lookup(self, typed: str) -> Field | None:
        """The field a person means by ``typed`` (its key or an alias, any case)."""
        word = typed.strip().casefold()
        return next((f for f in self.fields if word == f.key or word in f.aliases), None)

    def for_centre(self, topics: Sequence[Topic]) -> Form:
        """Fill ``centre_topics`` fields with the centre's topics.

        Without topics such a field cannot be answered: an optional one is left out (and
        out of the statistics), a required one makes the form unusable for this centre,
        which start-up must refuse (FormError naming the field).
        """
        choices = tuple(topics)
        fields: list[Field] = []
        for index, f in enumerate(self.fields):
            if not f.centre_topics:
                fields.append(f)
            elif choices:
                fields.append(replace(f, choices=choices))
            elif f.required:
                raise FormError(
                    _where(self.source, index, "choices"),
                    f"field '{f.key}' is required and takes the centre's topics, "
                    "but the centre has none (centres[].topics)",
                )
        keys = {f.key for f in fields}
        stats = StatsSpec(
            self.stats.minutes if self.stats.minutes in keys else None,
            self.stats.persons if self.stats.persons in keys else None,
            tuple(k for k in self.stats.by if k in keys),
        )
        return replace(self, fields=tuple(fields), stats=stats)


# ----------------------------------------------------------------------------- loading


def find_forms(folders: Iterable[Path]) -> dict[str, Path]:
    """Form name → file, from ``<folder>/forms/*.yaml``; an earlier folder (the operator's)
    wins over a later one (the shipped templates)."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted((Path(folder) / "forms").glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def form_for_centre(
    found: Mapping[str, Path], name: str, topics: Sequence[Topic], key: str
) -> Form:
    """The form a centre's config chooses (``key``, e.g. ``centres[0].monitoring_form``),
    loaded and filled with its topics: what start-up calls once per centre, so a missing,
    broken or unusable form stops the start with one line."""
    path = found.get(name)
    if path is None:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigError(key, f"no form '{name}' in templates/forms; available: {known}")
    return load_form(path).for_centre(topics)


def load_form(path: Path) -> Form:
    """Read and check one form file; FormError names the file and what is wrong."""
    source = str(path)
    if not _FORM_NAME_RE.fullmatch(path.stem):
        raise FormError(source, "form file names use lower-case letters, digits, - and _")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FormError(source, f"cannot read: {err}") from None
    yaml = YAML(typ="safe", pure=True)
    try:
        raw = yaml.load(StringIO(text))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FormError(source, f"invalid YAML{where}: {err.problem or err.context}") from None
    except YAMLError as err:
        raise FormError(source, f"invalid YAML: {err}") from None
    return parse_form(raw, path.stem, source)


def parse_form(raw: Any, name: str, source: str) -> Form:
    """A form from its parsed YAML: ``{fields: [...], statistics: {...}}``."""
    if not isinstance(raw, dict):
        raise FormError(source, "expected a mapping with fields (and optionally statistics)")
    for key in raw:
        if key not in ("fields", "statistics"):
            raise FormError(f"{source}: {key}", "unknown option; expected fields, statistics")
    entries = raw.get("fields")
    if not isinstance(entries, list) or not entries:
        raise FormError(f"{source}: fields", "expected a list with at least one field")
    fields: list[Field] = []
    for index, entry in enumerate(entries):
        field = _field(entry, source, index)
        for word in (field.key, *field.aliases):
            clash = next((f for f in fields if word == f.key or word in f.aliases), None)
            if clash is not None:
                raise FormError(
                    _where(source, index, "key" if word == field.key else "aliases"),
                    f"field '{field.key}': '{word}' is already used by field '{clash.key}'",
                )
        fields.append(field)
    date = next((f for f in fields if f.key == DATE_KEY), None)
    if date is None or date.kind != "date" or not date.required:
        raise FormError(
            f"{source}: fields",
            f"needs a required field '{DATE_KEY}' of type date: the day of the contact, "
            "which export and statistics use",
        )
    stats = _stats(raw.get("statistics"), fields, source)
    return Form(name, tuple(fields), stats, source)


def _where(source: str, index: int, attr: str = "") -> str:
    return f"{source}: fields[{index}]" + (f".{attr}" if attr else "")


def _field(entry: Any, source: str, index: int) -> Field:
    if not isinstance(entry, dict):
        raise FormError(_where(source, index), "expected a mapping with key, label and type")
    key = entry.get("key")
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise FormError(
            _where(source, index, "key"),
            f"'{key}' is not valid: lower-case letters, digits and _, starting with a letter, "
            "at most 32 characters",
        )

    def fail(attr: str, message: str) -> FormError:
        return FormError(_where(source, index, attr), f"field '{key}': {message}")

    if key in RESERVED_KEYS:
        raise fail("key", f"'{key}' is reserved ({', '.join(sorted(RESERVED_KEYS))})")
    kind = entry.get("type")
    if kind not in KINDS:
        raise fail("type", f"expected one of {', '.join(KINDS)}; got '{kind}'")
    for attr in entry:
        if attr not in _COMMON + _EXTRA[kind]:
            allowed = ", ".join(_COMMON + _EXTRA[kind])
            raise fail(str(attr), f"unknown option for type {kind}; expected {allowed}")
    required = entry.get("required", False)
    if not isinstance(required, bool):
        raise fail("required", "expected true or false")
    labels = _labels(entry.get("label"), lambda m: fail("label", m))
    aliases = _words(entry.get("aliases"), lambda m: fail("aliases", m))
    prefill = _words(entry.get("prefill"), lambda m: fail("prefill", m))
    for source_name in prefill:
        if kind not in PREFILL_SOURCES.get(source_name, ()):
            suits = [s for s, kinds in PREFILL_SOURCES.items() if kind in kinds]
            raise fail(
                "prefill",
                f"'{source_name}' cannot fill a {kind} field; "
                f"possible: {', '.join(suits) or 'none'}",
            )
    field = Field(key, labels, kind, required, aliases, prefill)
    if kind in ("choice", "multichoice"):
        return _with_choices(field, entry.get("choices"), fail)
    if kind in DEFAULT_BOUNDS:
        low, high = DEFAULT_BOUNDS[kind]
        low, high = _bound(entry, "min", low, fail), _bound(entry, "max", high, fail)
        if low > high:
            raise fail("min", f"min {low} is greater than max {high}")
        return replace(field, low=low, high=high)
    if kind == "text":
        length = entry.get("max_length", DEFAULT_MAX_LENGTH)
        if isinstance(length, bool) or not isinstance(length, int):
            length = -1
        if not 1 <= length <= MAX_TEXT_LENGTH:
            raise fail("max_length", f"expected a whole number 1..{MAX_TEXT_LENGTH}")
        return replace(field, max_length=length)
    return field


def _labels(raw: Any, fail: Any) -> dict[str, str]:
    """``{de: …, en: …}`` (at least one) or one text for both languages."""
    if isinstance(raw, str):
        raw = dict.fromkeys(LANGS, raw)
    if not isinstance(raw, dict) or not raw:
        raise fail("expected a text or {de: …, en: …}")
    labels: dict[str, str] = {}
    for lang, text in raw.items():
        if lang not in LANGS:
            raise fail(f"unknown language '{lang}'; expected {', '.join(LANGS)}")
        if not isinstance(text, str) or not text.strip():
            raise fail(f"the {lang} label is empty")
        labels[lang] = text.strip()
    return labels


def _words(raw: Any, fail: Any) -> tuple[str, ...]:
    """One word or a list of words (aliases, prefill sources), each a valid key."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(w, str) for w in items):
        raise fail("expected a word or a list of words")
    for word in items:
        if not _KEY_RE.fullmatch(word):
            raise fail(f"'{word}' is not valid: lower-case letters, digits and _")
    return tuple(items)


def _bound(entry: dict[str, Any], attr: str, default: int, fail: Any) -> int:
    value = entry.get(attr, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(attr, f"expected a whole number 0 or more; got '{value}'")
    return value


def _with_choices(field: Field, raw: Any, fail: Any) -> Field:
    if raw == CENTRE_TOPICS:
        return replace(field, centre_topics=True)
    if not isinstance(raw, list) or not raw:
        raise fail("choices", f"expected a list of {{id, de, en}} or '{CENTRE_TOPICS}'")
    choices: list[Choice] = []
    for number, entry in enumerate(raw):
        attr = f"choices[{number}]"
        if not isinstance(entry, dict):
            raise fail(attr, "expected a mapping with id, de and en")
        choice_id = entry.get("id")
        if not isinstance(choice_id, str) or not _CHOICE_ID_RE.fullmatch(choice_id):
            raise fail(f"{attr}.id", f"'{choice_id}' is not valid: lower-case letters, digits, - _")
        if any(c.id == choice_id for c in choices):
            raise fail(f"{attr}.id", f"duplicate choice '{choice_id}'")
        labels = {k: v for k, v in entry.items() if k != "id"}
        choices.append(Choice(choice_id, _labels(labels, lambda m, a=attr: fail(a, m))))
    return replace(field, choices=tuple(choices))


def _stats(raw: Any, fields: Sequence[Field], source: str) -> StatsSpec:
    """``statistics: {minutes: KEY, persons: KEY, by: [KEY…]}``; without it: the first
    minutes field, no persons field (a monitoring counts one person), every choice field."""
    if raw is None:
        minutes = next((f.key for f in fields if f.kind == "minutes"), None)
        by = tuple(f.key for f in fields if f.kind in ("choice", "multichoice", "yesno"))
        return StatsSpec(minutes, None, by)
    where = f"{source}: statistics"
    if not isinstance(raw, dict):
        raise FormError(where, "expected a mapping with minutes, persons and by")
    kinds = {"minutes": ("minutes",), "persons": ("integer",)}
    picked: dict[str, str | None] = {}
    for attr in raw:
        if attr not in ("minutes", "persons", "by"):
            raise FormError(f"{where}.{attr}", "unknown option; expected minutes, persons, by")
    for attr, allowed in kinds.items():
        key = raw.get(attr)
        if key is not None:
            _stats_field(key, allowed, fields, f"{where}.{attr}")
        picked[attr] = key
    by = raw.get("by", [])
    if not isinstance(by, list):
        raise FormError(f"{where}.by", "expected a list of field keys")
    for number, key in enumerate(by):
        _stats_field(key, ("choice", "multichoice", "yesno"), fields, f"{where}.by[{number}]")
    return StatsSpec(picked["minutes"], picked["persons"], tuple(by))


def _stats_field(key: Any, kinds: tuple[str, ...], fields: Sequence[Field], where: str) -> None:
    field = next((f for f in fields if f.key == key), None)
    if field is None:
        raise FormError(where, f"no field '{key}' in this form")
    if field.kind not in kinds:
        raise FormError(where, f"field '{key}' is {field.kind}; expected {' or '.join(kinds)}")
