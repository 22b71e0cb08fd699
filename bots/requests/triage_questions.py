"""The triage questions a client answers before their request is assigned (issue 4).

Pure: from the centre's topics, its languages and the two channels to numbered questions,
and from a typed answer ("2", "Chat", "english") to the chosen option. Questions with a
single option are not asked. The shell (bots/requests/triage.py) keeps the dialogue in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FIELDS = ("topic", "language", "channel")
DONE = "done"

CANCEL_WORDS = frozenset({"abbrechen", "cancel", "stop", "stopp"})

# Names of languages in the language of the reply; unknown codes are shown as the code.
LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "de": {"de": "Deutsch", "en": "German"},
    "en": {"de": "Englisch", "en": "English"},
    "tr": {"de": "Türkisch", "en": "Turkish"},
    "ar": {"de": "Arabisch", "en": "Arabic"},
    "ru": {"de": "Russisch", "en": "Russian"},
    "uk": {"de": "Ukrainisch", "en": "Ukrainian"},
    "pl": {"de": "Polnisch", "en": "Polish"},
    "fr": {"de": "Französisch", "en": "French"},
    "es": {"de": "Spanisch", "en": "Spanish"},
    "it": {"de": "Italienisch", "en": "Italian"},
    "fa": {"de": "Persisch", "en": "Persian"},
}

CHANNEL_LABELS: dict[str, dict[str, str]] = {
    "chat": {
        "de": "Chat (wir schreiben zur gleichen Zeit)",
        "en": "Chat (we write at the same time)",
    },
    "async": {
        "de": "Nachricht (Sie bekommen später eine Antwort)",
        "en": "Message (you get an answer later)",
    },
}
CHANNEL_WORDS: dict[str, tuple[str, ...]] = {
    "chat": ("chat",),
    "async": ("nachricht", "message", "mail", "async", "asynchron", "asynchronous"),
}


@dataclass(frozen=True)
class Option:
    """One numbered choice; ``words`` are what a person may type instead of its number."""

    id: str
    label: str
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    field: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class TopicChoice:
    """A centre topic as triage sees it (id and labels per language)."""

    id: str
    labels: dict[str, str]

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or next(iter(self.labels.values()), self.id)


def language_name(code: str, lang: str) -> str:
    return LANGUAGE_NAMES.get(code, {}).get(lang, code)


def questions(topics: Sequence[TopicChoice], languages: Sequence[str], lang: str) -> list[Question]:
    """The questions to ask, in order; one with fewer than two options is left out."""
    asked = [
        Question(
            "topic",
            tuple(Option(t.id, t.label(lang), (t.id, *t.labels.values())) for t in topics),
        ),
        Question(
            "language",
            tuple(
                Option(
                    code, language_name(code, lang), (code, *LANGUAGE_NAMES.get(code, {}).values())
                )
                for code in dict.fromkeys(languages)
            ),
        ),
        Question(
            "channel",
            tuple(
                Option(
                    c, CHANNEL_LABELS[c][lang if lang in ("de", "en") else "de"], CHANNEL_WORDS[c]
                )
                for c in ("chat", "async")
            ),
        ),
    ]
    return [q for q in asked if len(q.options) > 1]


def choose(question: Question, text: str) -> Option | None:
    """The option meant by ``text``: its number (1-based), its id or one of its words."""
    typed = " ".join(text.strip().rstrip(".)").split()).casefold()
    if typed.isdigit():
        index = int(typed)
        return question.options[index - 1] if 1 <= index <= len(question.options) else None
    for option in question.options:
        if typed in {w.casefold() for w in option.words} or typed == option.label.casefold():
            return option
    return None


def after(asked: Sequence[Question], field: str) -> str:
    """The field asked after ``field``, or DONE."""
    names = [q.field for q in asked]
    if field not in names:
        return names[0] if names else DONE
    index = names.index(field) + 1
    return names[index] if index < len(names) else DONE


def current(asked: Sequence[Question], step: str, answered: Sequence[str]) -> Question | None:
    """The question for ``step``; if the centre changed meanwhile, the first unanswered one."""
    for q in asked:
        if q.field == step:
            return q
    for q in asked:
        if q.field not in answered:
            return q
    return None
