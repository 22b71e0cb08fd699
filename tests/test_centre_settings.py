"""Centre settings: one spec parses config values and admins' typed values alike."""

from __future__ import annotations

from typing import Any

import pytest

from appservice.centre_settings import (
    SETTING_KEYS,
    CentreSettings,
    SettingError,
    apply_overrides,
    format_setting,
    parse_setting,
)

GOOD: list[tuple[str, Any, Any]] = [
    ("automatic_assignment", "on", True),
    ("automatic_assignment", "ja", True),
    ("automatic_assignment", False, False),
    ("automatic_assignment", "aus", False),
    ("fallback_counsellor", "@anna:example.org", "@anna:example.org"),
    ("fallback_counsellor", "-", ""),
    ("fallback_counsellor", "", ""),
    ("overdue_hours", "24", 24),
    ("overdue_hours", 1, 1),
    ("deletion_grace_days", "0", 0),
    ("inactive_account_months", "12", 12),
    ("holiday_region", "de-by", "DE-BY"),
    ("holiday_region", "AT", "AT"),
    ("holiday_region", "-", ""),
    ("booking_lead_minutes", "0", 0),
    ("booking_cancel_hours", "48", 48),
    ("booking_hold_minutes", "15", 15),
    ("booking_reminder_hours", "1h, 24", (24, 1)),
    ("booking_reminder_hours", "-", ()),
    ("video_base_url", "https://meet.example.org/", "https://meet.example.org"),
    ("ical_initials", "ja", True),
    ("ical_initials", "aus", False),
    ("languages", "de, en,de", ("de", "en")),
    ("languages", ["tr", "ar"], ("tr", "ar")),
]

BAD: list[tuple[str, Any, str]] = [
    ("colour", "blue", "unknown_key"),
    ("automatic_assignment", "maybe", "bad_value"),
    ("fallback_counsellor", "anna", "bad_value"),
    ("overdue_hours", "0", "bad_value"),
    ("overdue_hours", "twelve", "bad_value"),
    ("overdue_hours", True, "bad_value"),
    ("deletion_grace_days", "-1", "bad_value"),
    ("holiday_region", "Bavaria", "bad_value"),
    ("booking_cancel_hours", "-1", "bad_value"),
    ("booking_hold_minutes", "0", "bad_value"),
    ("booking_reminder_hours", "0", "bad_value"),
    ("video_base_url", "http://meet.example.org", "bad_value"),
    ("ical_initials", "Initialen", "bad_value"),
    ("languages", "", "bad_value"),
    ("languages", "deutsch", "bad_value"),
]


@pytest.mark.parametrize(("key", "value", "expected"), GOOD)
def test_parse_good_values(key: str, value: Any, expected: Any) -> None:
    assert parse_setting(key, value) == expected


@pytest.mark.parametrize(("key", "value", "code"), BAD)
def test_parse_bad_values(key: str, value: Any, code: str) -> None:
    """A bad value names the key, the problem and what is expected instead."""
    with pytest.raises(SettingError) as info:
        parse_setting(key, value)
    assert info.value.key == key and info.value.code == code and info.value.expected


def test_overrides_win_and_broken_ones_are_ignored() -> None:
    base = CentreSettings(overdue_hours=12)
    result = apply_overrides(base, {"overdue_hours": "36", "languages": "??", "gone": "1"})
    assert result.overdue_hours == 36
    assert result.languages == base.languages
    assert base.overdue_hours == 12  # frozen: the config default is untouched


def test_every_key_formats_and_parses_back() -> None:
    """What an admin is shown can be typed back in and means the same."""
    settings = CentreSettings(
        automatic_assignment=True, fallback_counsellor="@f:x.org", languages=("de", "en")
    )
    for key in SETTING_KEYS:
        value = getattr(settings, key)
        text = format_setting(value)
        assert parse_setting(key, text) == value, key
