"""Shared by the monitoring tests: the shipped default form for a centre with two topics."""

from __future__ import annotations

from datetime import date

from appservice.config_centres import Topic
from appservice.resources import data_path
from bots.monitoring.forms import Form, load_form

#: "Today" in the monitoring tests: values, periods and prefill are relative to it.
TODAY = date(2026, 5, 10)
TOPICS = (Topic("family", {"de": "Familie", "en": "Family"}), Topic("addiction", {"de": "Sucht"}))
SHIPPED = data_path("templates")


def default_form(topics: tuple[Topic, ...] = TOPICS) -> Form:
    """The shipped ``forms/default.yaml`` as a centre with ``topics`` fills it in."""
    return load_form(SHIPPED / "forms" / "default.yaml").for_centre(topics)
