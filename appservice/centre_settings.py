"""What a centre can set (automatic assignment, grace periods, …): names, types, defaults.

One spec serves three readers: the config file (``centres[i].settings``), the admin's
``settings k=v`` command (overrides stored in the database) and the code that asks for the
effective value. Pure functions, no I/O: the config validates with them, the command parses
with them, and the database only stores the text an admin typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = [
    "SETTING_KEYS",
    "CentreSettings",
    "SettingError",
    "apply_overrides",
    "format_setting",
    "parse_setting",
]

_MXID_RE = re.compile(r"@[a-z0-9._=\-/+]+:\S+")
_REGION_RE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
_LANG_RE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True)
class CentreSettings:
    """A centre's effective settings; the defaults are those of a new centre."""

    # Requests go to a counsellor chosen by status and capacity instead of waiting in the pool.
    automatic_assignment: bool = False
    # Gets the requests nobody else can take (Matrix id of a counsellor of the centre).
    fallback_counsellor: str = ""
    # A request nobody answered for this long is overdue (counsellor and admins are reminded).
    overdue_hours: int = 48
    # Days between marking an account for deletion and erasing it (restore possible until then).
    deletion_grace_days: int = 30
    # Clients without login for this many months are marked for deletion (warned 7 days
    # before); staff are listed to the admins instead; 0 = never.
    inactive_account_months: int = 3
    # Public holidays of this region have no bookable slots, e.g. DE or DE-BY; empty = none.
    holiday_region: str = ""
    # Slots start at least this many minutes after the client books (minimum lead time).
    booking_lead_minutes: int = 60
    # A slot a client picked (`buchen N`) is hidden from everyone else this many minutes,
    # time to send the request (`absenden NR`); unsent, the hold lapses and the slot is free.
    booking_hold_minutes: int = 10
    # Clients cancel their appointments up to this many hours before the start.
    booking_cancel_hours: int = 24
    # Reminders go to client and counsellor this many hours before a confirmed appointment.
    booking_reminder_hours: tuple[int, ...] = (24, 1)
    # A video appointment's link is posted this many minutes before it starts.
    video_link_minutes: int = 10
    # Jitsi server for video appointments (an unguessable room each); empty: no video links.
    video_base_url: str = ""
    # The iCalendar feed adds the client's pseudonym initials (``A. B.``) to the service.
    ical_initials: bool = False
    # Languages counselling is offered in (two-letter codes), asked during triage.
    languages: tuple[str, ...] = ("de",)


SETTING_KEYS: tuple[str, ...] = tuple(f.name for f in fields(CentreSettings))


class SettingError(ValueError):
    """A setting that cannot be used; ``code`` names the problem for the reply template."""

    def __init__(self, key: str, code: str, expected: str) -> None:
        super().__init__(f"{key}: {code} (expected {expected})")
        self.key = key
        self.code = code
        self.expected = expected


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "ja", "an", "1"):
        return True
    if text in ("false", "no", "off", "nein", "aus", "0"):
        return False
    raise SettingError(key, "bad_value", "on|off")


def _whole(minimum: int, maximum: int) -> Callable[[str, Any], int]:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, bool):
            raise SettingError(key, "bad_value", f"{minimum}..{maximum}")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise SettingError(key, "bad_value", f"{minimum}..{maximum}") from None
        if not minimum <= number <= maximum:
            raise SettingError(key, "bad_value", f"{minimum}..{maximum}")
        return number

    return parse


def _counsellor(key: str, value: Any) -> str:
    text = str(value or "").strip()
    if text in ("", "-", "none", "keine", "keiner"):
        return ""
    if not _MXID_RE.fullmatch(text):
        raise SettingError(key, "bad_value", "@name:server")
    return text


def _region(key: str, value: Any) -> str:
    text = str(value or "").strip().upper()
    if text in ("", "-", "NONE"):
        return ""
    if not _REGION_RE.fullmatch(text):
        raise SettingError(key, "bad_value", "DE, DE-BY, AT …")
    return text


def _languages(key: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    langs = tuple(dict.fromkeys(str(v).strip().lower() for v in items if str(v).strip()))
    if not langs or not all(_LANG_RE.fullmatch(lang) for lang in langs):
        raise SettingError(key, "bad_value", "de,en,tr …")
    return langs


def _hours_list(key: str, value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    texts = [str(v).strip().lower().removesuffix("h") for v in items if str(v).strip()]
    if texts in ([], ["-"], ["none"], ["keine"]):
        return ()
    if not all(t.isdigit() and 1 <= int(t) <= 24 * 14 for t in texts):
        raise SettingError(key, "bad_value", "24,1 (hours, or -)")
    return tuple(sorted({int(t) for t in texts}, reverse=True))


def _https_url(key: str, value: Any) -> str:
    text = str(value or "").strip()
    if text in ("", "-"):
        return ""
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s?#]*)?", text):
        raise SettingError(key, "bad_value", "https://meet.example.org")
    return text.rstrip("/")


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "automatic_assignment": _bool,
    "fallback_counsellor": _counsellor,
    "overdue_hours": _whole(1, 24 * 90),
    "deletion_grace_days": _whole(0, 3650),
    "inactive_account_months": _whole(0, 120),
    "holiday_region": _region,
    "booking_lead_minutes": _whole(0, 60 * 24 * 14),
    "booking_hold_minutes": _whole(1, 120),
    "booking_cancel_hours": _whole(0, 24 * 14),
    "booking_reminder_hours": _hours_list,
    "video_link_minutes": _whole(1, 120),
    "video_base_url": _https_url,
    "ical_initials": _bool,
    "languages": _languages,
}
assert set(_PARSERS) == set(SETTING_KEYS)


def parse_setting(key: str, value: Any) -> Any:
    """The typed value of ``key``; raises SettingError for an unknown key or a bad value."""
    parser = _PARSERS.get(key)
    if parser is None:
        raise SettingError(key, "unknown_key", ", ".join(SETTING_KEYS))
    return parser(key, value)


def apply_overrides(base: CentreSettings, overrides: Mapping[str, Any]) -> CentreSettings:
    """``base`` with each override parsed; unknown or now-invalid stored keys are ignored."""
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        try:
            changes[key] = parse_setting(key, value)
        except SettingError:
            continue
    return replace(base, **changes)


def format_setting(value: Any) -> str:
    """How a value is shown to admins and stored as text."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "-"
    return str(value) if value != "" else "-"
