"""Statistics: the period (default and FROM/TO) and the figures for monitorings and requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from appservice.i18n import Renderer
from bots.framework.dates import DEFAULT_TZ
from bots.monitoring.forms import Field, Form, StatsSpec
from bots.monitoring.stats import (
    Period,
    PeriodProblem,
    RequestTimes,
    Row,
    Tally,
    default_period,
    monitoring_stats,
    parse_period,
    request_stats,
    request_view,
    tables,
)
from bots.monitoring.values import Record
from tests.monitoring_support import TODAY, default_form

FORM = default_form()
HOUR = 3_600_000


@pytest.mark.parametrize(
    ("today", "first", "last"),
    [
        (date(2026, 5, 10), date(2026, 1, 1), date(2026, 5, 31)),
        (date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 31)),
        (date(2028, 2, 3), date(2028, 1, 1), date(2028, 2, 29)),
        (date(2026, 12, 31), date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_default_period(today: date, first: date, last: date) -> None:
    """Like assisto: from 1 January of this year to the end of this month (leap years too)."""
    assert default_period(today) == Period(first, last)


PERIODS: list[tuple[list[str], Period | PeriodProblem]] = [
    ([], Period(date(2026, 1, 1), date(2026, 5, 31))),
    (["1.3.2026"], Period(date(2026, 3, 1), date(2026, 5, 31))),
    (["01.02.2026", "2026-02-15"], Period(date(2026, 2, 1), date(2026, 2, 15))),
    (["3.2026", "3.2026"], Period(date(2026, 3, 1), date(2026, 3, 31))),
    (["2026-02", "04/2026"], Period(date(2026, 2, 1), date(2026, 4, 30))),
    (["2025", "2025"], Period(date(2025, 1, 1), date(2025, 12, 31))),
    (["2025"], Period(date(2025, 1, 1), date(2026, 5, 31))),
    (["heute", "today"], Period(date(2026, 5, 10), date(2026, 5, 10))),
    (["gestern"], PeriodProblem("bad_from", "gestern")),
    (["1.1.2026", "bald"], PeriodProblem("bad_to", "bald")),
    (["13.2026"], PeriodProblem("bad_from", "13.2026")),
    (["31.02.2026"], PeriodProblem("bad_from", "31.02.2026")),
    (["1.6.2026", "1.5.2026"], PeriodProblem("from_after_to", "1.6.2026 1.5.2026")),
    (["2027"], PeriodProblem("from_after_to", "2027")),
    (["1999"], PeriodProblem("too_early", "1999")),
    (["1.1.2026", "2.1.2026", "x"], PeriodProblem("too_many", "x")),
]


@pytest.mark.parametrize(("words", "expected"), PERIODS)
def test_parse_period(words: list[str], expected: Period | PeriodProblem) -> None:
    """FROM/TO as day, month or year (FROM its first day, TO its last); a missing one is the
    default's; FROM after TO, nonsense and years before 2000 are refused with the word."""
    assert parse_period(words, TODAY) == expected


def test_period_bounds_are_local_days() -> None:
    """Requests are counted by the centre's local day (Berlin), as epoch milliseconds."""
    start, end = Period(date(2026, 3, 29), date(2026, 3, 29)).bounds_ms()
    assert start == int(datetime(2026, 3, 29, tzinfo=DEFAULT_TZ).timestamp() * 1000)
    assert end - start == 23 * HOUR  # the day the clocks go forward


def _record(number: int, counsellor: str, day: str, **values: Any) -> Record:
    return Record(number, f"client{number}", counsellor, {"date": day, **values})


RECORDS = [
    _record(1, "Anna", "2026-01-05", duration=30, channel="chat", topic="family", persons=2),
    _record(2, "Anna", "2026-02-05", duration=60, channel="phone", topic="family"),
    _record(3, "Bert", "2026-03-05", duration=45, channel="chat", topic="dropped", persons=3),
    _record(4, "Bert", "2026-03-06", duration=15),
    _record(5, "Bert", "2025-12-31", duration=999, channel="chat"),  # before the period
    _record(6, "Anna", "2026-06-01", duration=999, channel="chat"),  # after the period
]


def test_monitoring_figures() -> None:
    """Counts, persons (one where none is given) and minutes in total, per channel and topic
    in the form's order (zero rows too; a dropped topic and "not given" after), and per
    counsellor (most contacts first); monitorings outside the period are left out."""
    stats = monitoring_stats(FORM, RECORDS, Period(date(2026, 1, 1), date(2026, 5, 31)))
    assert stats.total == Tally(4, 7, 150)
    channel, topic = stats.by_field
    assert channel.field == "channel"
    assert channel.groups == (
        ("chat", Tally(2, 5, 75)),
        ("async", Tally()),
        ("video", Tally()),
        ("phone", Tally(1, 1, 60)),
        ("onsite", Tally()),
        ("", Tally(1, 1, 15)),
    )
    assert topic.groups == (
        ("family", Tally(2, 3, 90)),
        ("addiction", Tally()),
        ("dropped", Tally(1, 3, 45)),
        ("", Tally(1, 1, 15)),
    )
    assert stats.by_counsellor == (("Anna", Tally(2, 3, 90)), ("Bert", Tally(2, 4, 60)))


def test_empty_period() -> None:
    """No monitorings: zeros everywhere, every choice still listed, no counsellors."""
    stats = monitoring_stats(FORM, [], default_period(TODAY))
    assert stats.total == Tally()
    assert [len(b.groups) for b in stats.by_field] == [5, 2]
    assert stats.by_counsellor == ()


def test_multichoice_and_yes_no_breakdowns() -> None:
    """A multichoice monitoring counts under each chosen value; yes/no fields break down
    into yes and no."""
    channel = FORM.field("channel")
    assert channel is not None
    multi = Field("needs", {"de": "Bedarf"}, "multichoice", choices=channel.choices)
    form = Form("x", (*FORM.fields, multi), StatsSpec("duration", None, ("needs", "follow_up")))
    records = [
        _record(1, "A", "2026-01-05", duration=10, needs=["chat", "phone"], follow_up=True),
        _record(2, "A", "2026-01-06", duration=20, needs=["chat"], follow_up=False),
    ]
    needs, follow_up = monitoring_stats(form, records, default_period(TODAY)).by_field
    assert dict(needs.groups)["chat"] == Tally(2, 2, 30)
    assert dict(needs.groups)["phone"] == Tally(1, 1, 10)
    assert follow_up.groups == (("yes", Tally(1, 1, 10)), ("no", Tally(1, 1, 20)))


def test_tables_carry_labels() -> None:
    """The tables for text and chart show labels in the reader's language, "not given" for
    empty values, and the counsellors' names from the shell."""
    stats = monitoring_stats(FORM, RECORDS, Period(date(2026, 1, 1), date(2026, 5, 31)))
    shown = tables(FORM, stats, "en", ("yes", "no"), "(none)", {"Anna": "Anna A."}.get)  # type: ignore[arg-type]
    assert [(t.key, t.label) for t in shown] == [
        ("channel", "Channel"),
        ("topic", "Topic"),
        ("counsellor", ""),
    ]
    assert shown[1].rows[0] == Row("Family", 2, 3, 90)
    assert shown[1].rows[-1] == Row("(none)", 1, 1, 15)
    assert shown[2].rows[0].label == "Anna A."


def _at(day: str, hour: int = 12) -> int:
    moment = datetime.fromisoformat(f"{day}T{hour:02d}:00").replace(tzinfo=DEFAULT_TZ)
    return int(moment.timestamp() * 1000)


def test_request_figures() -> None:
    """Requests made in the period by status (lifecycle order, zeros included), and the
    median and mean time from the request to the counsellor's first answer."""
    requests = [
        RequestTimes("answered", _at("2026-01-02"), _at("2026-01-02") + 1 * HOUR),
        RequestTimes("closed", _at("2026-01-03"), _at("2026-01-03") + 2 * HOUR),
        RequestTimes("closed", _at("2026-01-04"), _at("2026-01-04") + 9 * HOUR),
        RequestTimes("closed", _at("2026-01-05"), None),
        RequestTimes("new", _at("2026-05-31", 23)),
        RequestTimes("new", _at("2026-06-01", 0)),  # after the period
        RequestTimes("assigned", _at("2025-12-31", 23)),  # before it
    ]
    stats = request_stats(requests, default_period(TODAY))
    assert stats.total == 5
    assert stats.by_status == (
        ("new", 1),
        ("assigned", 0),
        ("answered", 1),
        ("closed", 3),
        ("withdrawn", 0),
    )
    assert stats.answered == 3
    assert stats.median_ms == 2 * HOUR and stats.mean_ms == 4 * HOUR


def test_request_figures_without_answers() -> None:
    """No answered request: no waiting time (None, not zero), so nothing misleading is shown."""
    stats = request_stats([RequestTimes("new", _at("2026-02-01"))], default_period(TODAY))
    assert (stats.total, stats.answered, stats.median_ms, stats.mean_ms) == (1, 0, None, None)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_stats_text_renders(lang: str) -> None:
    """The text table renders the figures (counts, persons, minutes, waiting hours with the
    language's decimal mark) from the plain data, in both languages."""
    renderer = Renderer.default()
    stats = monitoring_stats(FORM, RECORDS, Period(date(2026, 1, 1), date(2026, 5, 31)))
    requests = request_stats(
        [RequestTimes("answered", _at("2026-01-02"), _at("2026-01-02") + 5 * HOUR // 2)],
        default_period(TODAY),
    )
    text = renderer.render(
        lang,
        "monitoring_stats",
        first="01.01.2026",
        last="31.05.2026",
        scope="centre",
        total=stats.total,
        tables=tables(FORM, stats, lang, ("ja", "nein"), "–"),
        requests=request_view(
            requests,
            lambda s: renderer.render(lang, "monitoring_chart_label", part="status", subject=s),
        ),
        anonymous={"live": 3, "topics": 1, "participants": 5},
        command="stats",
    )
    assert "150" in text and "Anna: 2" in text
    assert ("3 Livechats; 1 Themenchat" if lang == "de" else "3 live chats; 1 topic chat") in text
    assert ("2,5 h" if lang == "de" else "2.5 h") in text
    assert ("beantwortet: 1" if lang == "de" else "answered: 1") in text
