"""Master data (Stammdaten) a centre records about its clients: which fields, how labelled.

Declared per centre in the config file (``centres[].master_data``); the values typed with
``client new``/``client set`` live in the ``client_master_data`` table. Pure parsing, no
I/O, so the config validates with it and the commands can ask it which keys exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["RESERVED_KEYS", "MasterDataError", "MasterDataField", "parse_master_data"]

_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_LANGS = ("de", "en")
# Keys that ``client set`` already gives another meaning; a field may not shadow them.
RESERVED_KEYS = frozenset({"pseudonym", "name", "email", "phone", "home", "sort", "login"})


class MasterDataError(ValueError):
    """A bad declaration; ``where`` is the key path below ``master_data`` (``[1].key``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class MasterDataField:
    """One field: its key as typed in commands and its label per language."""

    key: str
    label_de: str
    label_en: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_de


def parse_master_data(raw: Any) -> tuple[MasterDataField, ...]:
    """``[{key: age_group, label: {de: Altersgruppe, en: Age group}}, …]``; a plain string
    label serves both languages. Raises :class:`MasterDataError` naming the bad entry."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise MasterDataError("", "expected a list of fields (key and label)")
    fields: list[MasterDataField] = []
    for index, entry in enumerate(raw):
        where = f"[{index}]"
        if not isinstance(entry, dict):
            raise MasterDataError(where, "expected a mapping with key and label")
        for name in entry:
            if name not in ("key", "label"):
                raise MasterDataError(f"{where}.{name}", "unknown option; use key and label")
        key = entry.get("key")
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise MasterDataError(
                f"{where}.key",
                f"'{key}' is not valid: lower-case letters, digits and _, starting with a "
                "letter, at most 32 characters",
            )
        if key in RESERVED_KEYS:
            raise MasterDataError(f"{where}.key", f"'{key}' is reserved for a client's account")
        if any(f.key == key for f in fields):
            raise MasterDataError(f"{where}.key", f"duplicate field '{key}'")
        label = entry.get("label", key)
        if isinstance(label, str):
            labels: dict[str, Any] = {lang: label for lang in _LANGS}
        elif isinstance(label, dict):
            for lang in label:
                if lang not in _LANGS:
                    raise MasterDataError(f"{where}.label.{lang}", "expected de or en")
            labels = {lang: label.get(lang, "") for lang in _LANGS}
        else:
            raise MasterDataError(f"{where}.label", "expected a text or {de: …, en: …}")
        for lang, text in labels.items():
            if not isinstance(text, str) or not text.strip():
                raise MasterDataError(f"{where}.label.{lang}", "missing or empty label")
        fields.append(MasterDataField(key, str(labels["de"]).strip(), str(labels["en"]).strip()))
    return tuple(fields)
