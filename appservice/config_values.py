"""Reading the merged raw config with types: every check names the dotted key that failed.

Shared by the sections of ``appservice.config`` (centres, mail, the rest), so that a bad value
is reported the same way wherever it sits: ``ConfigError("mail.smtp.port", "expected …")``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FILE_KEY = "(file)"
PLACEHOLDER = "generate"


# Environment variable -> dotted key it overrides. An environment variable wins over the file.
ENV_OVERRIDES: dict[str, str] = {
    "LOTSE_AS_TOKEN": "appservice.as_token",
    "LOTSE_HS_TOKEN": "appservice.hs_token",
    "LOTSE_DATABASE_URL": "database.url",
    "LOTSE_PICKLE_KEY": "encryption.pickle_key",
    "LOTSE_SEALING_KEY": "encryption.sealing_key",
    "LOTSE_PREVIOUS_SEALING_KEYS": "encryption.previous_sealing_keys",
    "LOTSE_SMTP_PASSWORD": "mail.smtp.password",
    "LOTSE_IMAP_PASSWORD": "imap.password",
}
ENV_FOR_KEY = {key: env for env, key in ENV_OVERRIDES.items()}

LOCALPART_RE = re.compile(r"[a-z0-9._=\-/]+")
DOMAIN_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)
MXID_RE = re.compile(r"@([a-z0-9._=\-/+]+):(.+)")


class ConfigError(Exception):
    """A configuration problem, located by its dotted key path (``centres[1].language``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class Reader:
    """Typed access to the merged raw config by dotted path; every failure names the path."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def get(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            node = node[part]
        return node

    def text(self, dotted: str, *, empty: bool = False) -> str:
        return as_str(self.get(dotted), dotted, empty=empty)

    def url(self, dotted: str, *, empty: bool = False) -> str:
        value = self.text(dotted, empty=empty)
        if value:
            check_url(value, dotted)
        return value.rstrip("/")

    def secret(self, dotted: str) -> str:
        value = self.get(dotted)
        if value is None or value == "" or value == PLACEHOLDER:
            hint = f"run `lotse init` or set {ENV_FOR_KEY[dotted]}"
            raise ConfigError(dotted, f"placeholder; {hint}")
        return as_str(value, dotted)

    def localpart(self, dotted: str) -> str:
        value = self.text(dotted)
        if not LOCALPART_RE.fullmatch(value):
            raise ConfigError(
                dotted, f"'{value}' is not a valid localpart (lower-case letters, digits, ._=-/)"
            )
        return value

    def choice(self, dotted: str, choices: tuple[str, ...], normalise: Callable[[str], str]) -> str:
        value = normalise(self.text(dotted))
        if value not in choices:
            raise ConfigError(dotted, f"expected one of {', '.join(choices)}, got '{value}'")
        return value


def as_str(value: Any, key: str, *, empty: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(key, "expected a string")
    text = str(value).strip()
    if not text and not empty:
        raise ConfigError(key, "must not be empty")
    return text


def check_url(value: str, key: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(key, f"expected an http(s) URL with a host (https://host), got '{value}'")


def check_domain(value: str, key: str) -> None:
    if "://" in value or not DOMAIN_RE.fullmatch(value):
        raise ConfigError(
            key, f"expected a server name like matrix.example.net, no scheme or path, got '{value}'"
        )


def port_number(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(key, f"expected a port number 1..65535, got '{value}'")
    return value


def positive_number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(key, f"expected a number greater than 0, got '{value}'")
    return float(value)


def whole_number(r: Reader, key: str, low: int, high: int) -> int:
    value = r.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(key, f"expected a whole number {low}..{high}, got '{value}'")
    return value


def ca_file(r: Reader, key: str, base: Path) -> str:
    """A PEM file relative to the config file's folder; returned as an absolute path."""
    value = r.text(key, empty=True)
    if not value:
        return ""
    file = Path(value).expanduser()
    file = file if file.is_absolute() else base / file
    if not file.is_file():
        raise ConfigError(key, f"no such file: '{value}'")
    return str(file.resolve())
