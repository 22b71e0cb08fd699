"""A centre's ``live_chat:`` section: opening hours, capacity, web client, abuse limits.

A centre without the section has no anonymous live chat (its page ``/c/CENTRE`` says so).
Hours are per weekday, in the centre's time zone: ``mon: "09:00-12:00, 14:00-17:00"``;
``"00:00-24:00"`` is a whole day, a missing day is closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .config_values import ConfigError

LIVE_CHAT_KEYS = (
    "hours",
    "capacity",
    "web_client",
    "starts_per_minute",
    "accounts_per_hour",
    "erase_after_hours",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN_RE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")

# One opening span: weekday (0 = Monday), start and end in minutes after midnight.
Span = tuple[int, int, int]


@dataclass(frozen=True)
class LiveChatConfig:
    hours: tuple[Span, ...] = ()
    # How many anonymous chats may run at once (waiting or accepted, not yet ended).
    capacity: int = 2
    # The centre's Matrix web client (e.g. its Element Web); "" = show a one-time code instead.
    web_client: str = ""
    # Starts accepted per minute for the whole centre, in memory (no IP addresses).
    starts_per_minute: int = 6
    # Throwaway accounts made per clock hour at most (counted in the database).
    accounts_per_hour: int = 20
    # Hours after a chat ended (or, if nobody ended it, began) until the deletion routine
    # erases the account and the room.
    erase_after_hours: int = 24


def parse_hours(raw: Any, key: str) -> tuple[Span, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError(key, 'expected weekdays with spans, e.g. mon: "09:00-17:00"')
    spans: list[Span] = []
    for day, value in raw.items():
        if str(day) not in WEEKDAYS:
            raise ConfigError(f"{key}.{day}", f"unknown weekday; one of {', '.join(WEEKDAYS)}")
        text = value if isinstance(value, str) else ""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise ConfigError(f"{key}.{day}", 'expected spans like "09:00-12:00, 14:00-17:00"')
        for part in parts:
            match = _SPAN_RE.fullmatch(part)
            if match is None:
                raise ConfigError(f"{key}.{day}", f"'{part}' is no span like 09:00-17:00")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if m1 > 59 or m2 > 59 or h1 > 23 or end > 24 * 60 or end <= start:
                raise ConfigError(
                    f"{key}.{day}", f"'{part}': a span runs from 00:00 up to 24:00, start first"
                )
            spans.append((WEEKDAYS.index(str(day)), start, end))
    return tuple(sorted(spans))


def _count(raw: Any, key: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ConfigError(key, f"expected a whole number from {low} to {high}, got '{raw}'")
    return raw


def parse_live_chat(raw: Any, key: str) -> LiveChatConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(key, "expected a mapping with hours, capacity, web_client …")
    for name in raw:
        if name not in LIVE_CHAT_KEYS:
            raise ConfigError(f"{key}.{name}", "unknown option; see config.example.yaml")
    web_client = raw.get("web_client") or ""
    if not isinstance(web_client, str):
        raise ConfigError(f"{key}.web_client", "expected the web client's base URL or empty")
    web_client = web_client.strip()
    if web_client:
        parts = urlsplit(web_client)
        bad = any(c in web_client for c in " ;,'\"<>")  # it goes into a CSP header too
        if bad or parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
            raise ConfigError(
                f"{key}.web_client",
                f"'{web_client}' is no base URL like https://chat.example.org/ (no credentials)",
            )
    d = LiveChatConfig()
    return LiveChatConfig(
        hours=parse_hours(raw.get("hours"), f"{key}.hours"),
        capacity=_count(raw.get("capacity"), f"{key}.capacity", d.capacity, 1, 100),
        web_client=web_client,
        starts_per_minute=_count(
            raw.get("starts_per_minute"), f"{key}.starts_per_minute", d.starts_per_minute, 1, 600
        ),
        accounts_per_hour=_count(
            raw.get("accounts_per_hour"), f"{key}.accounts_per_hour", d.accounts_per_hour, 1, 10000
        ),
        erase_after_hours=_count(
            raw.get("erase_after_hours"), f"{key}.erase_after_hours", d.erase_after_hours, 0, 720
        ),
    )
