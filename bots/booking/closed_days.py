"""Public holidays of a centre's region: days without slots, shown in the calendar.

The region is the centre setting ``holiday_region``: a country (``DE``) or a country with a
subdivision (``DE-NW``), as the ``holidays`` package knows them. The package computes the
dates itself (no download), so this stays a pure function of region, years and language.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import holidays

__all__ = ["holiday_names", "region_supported", "years_between"]


def region_supported(region: str) -> bool:
    """Whether the ``holidays`` package knows the region, so a setting can be refused early."""
    if not region:
        return True
    country, _, subdiv = region.partition("-")
    try:
        holidays.country_holidays(country, subdiv=subdiv or None, years=2000)
    except NotImplementedError:
        return False
    return True


def holiday_names(region: str, years: Iterable[int], lang: str = "de") -> dict[date, str]:
    """Every public holiday of ``region`` in ``years`` with its name in ``lang`` if known.

    An empty or unknown region has no holidays: a centre without the setting is open on
    every day, and an unknown one was refused when it was set.
    """
    if not region or not region_supported(region):
        return {}
    country, _, subdiv = region.partition("-")
    days = holidays.country_holidays(country, subdiv=subdiv or None, years=list(years))
    language = _language(days.supported_languages, lang)
    if language is not None:
        days = holidays.country_holidays(
            country, subdiv=subdiv or None, years=list(years), language=language
        )
    return dict(days.items())


def years_between(first: date, last: date) -> range:
    """The calendar years a span of dates touches (a horizon may cross New Year)."""
    return range(first.year, last.year + 1)


def _language(supported: Iterable[str], lang: str) -> str | None:
    """``en`` → ``en_US`` where the package only has that; None keeps its default."""
    options = list(supported)
    if lang in options:
        return lang
    return next((option for option in options if option.split("_")[0] == lang), None)
