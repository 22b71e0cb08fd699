"""The statistics chart: a real PNG of a known size, with data, without data, and crowded."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import date

import pytest
from PIL import Image

from appservice.i18n import Renderer
from bots.monitoring.chart import HEIGHT, MAX_BARS, WIDTH, Panel, chart_panels, render_chart
from bots.monitoring.stats import (
    Period,
    RequestTimes,
    monitoring_stats,
    request_stats,
    tables,
)
from bots.monitoring.values import Record
from tests.monitoring_support import TOPICS, default_form

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FORM = default_form(TOPICS[:1])
PERIOD = Period(date(2026, 1, 1), date(2026, 5, 31))


def _ihdr(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first and be intact (CRC)."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    body = png[16 : 16 + length]
    (crc,) = struct.unpack(">I", png[16 + length : 20 + length])
    assert zlib.crc32(kind + body) == crc
    width, height = struct.unpack(">II", body[:8])
    return width, height


def _label(lang: str) -> object:
    renderer = Renderer.default()
    return lambda part, subject: renderer.render(
        lang, "monitoring_chart_label", part=part, subject=subject
    )


def _panels(lang: str) -> list[Panel]:
    records = [
        Record(1, "W", "Anna", {"date": "2026-02-01", "duration": 45, "channel": "chat"}),
        Record(2, "S", "Bert", {"date": "2026-02-02", "duration": 30, "topic": "family"}),
    ]
    stats = monitoring_stats(FORM, records, PERIOD)
    requests = request_stats(
        [RequestTimes("answered", 1_770_000_000_000, 1_770_005_400_000)], PERIOD
    )
    shown = tables(FORM, stats, lang, ("ja", "nein"), "–")
    return chart_panels(shown, requests, _label(lang))  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", ["de", "en"])
def test_chart_is_a_png_of_the_announced_size(lang: str) -> None:
    """With data the chart is a valid PNG of exactly WIDTH x HEIGHT pixels (the image event
    announces them without decoding), and not blank."""
    png = render_chart(_panels(lang), title="Statistik", empty="keine Daten")
    assert _ihdr(png) == (WIDTH, HEIGHT)
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.size == (WIDTH, HEIGHT)
    assert len(image.convert("L").getcolors(256) or []) > 10  # bars, text: not a blank page


def test_panels_from_statistics() -> None:
    """Contacts and minutes per channel, topic and counsellor, then requests by status and
    the waiting time in hours (1.5 h here), titled from the template."""
    panels = _panels("de")
    titles = [p.title for p in panels]
    assert titles == [
        "Kontakte nach Kanal",
        "Minuten nach Kanal",
        "Kontakte nach Thema",
        "Minuten nach Thema",
        "Kontakte nach Berater:in",
        "Minuten nach Berater:in",
        "Anfragen nach Status",
        "Zeit bis zur ersten Antwort (Stunden)",
    ]
    assert panels[1].bars[0] == ("Chat", 45)
    assert panels[-1].bars == (("Median", 1.5), ("Mittelwert", 1.5))


@pytest.mark.parametrize(
    "panels",
    [
        [],
        [Panel("Kontakte nach Kanal", ())],
        [Panel("a", (("Chat", 0),)), Panel("b", ()), Panel("c", (("x", 0.0),))],
    ],
)
def test_chart_renders_without_data(panels: list[Panel]) -> None:
    """No monitorings in the period still gives a PNG of the same size (saying so)."""
    png = render_chart(panels, title="Statistik", empty="keine Daten")
    assert _ihdr(png) == (WIDTH, HEIGHT)


def test_many_bars_and_long_labels() -> None:
    """Forty counsellors with long names still render at the same size: bars beyond the
    limit are summed into one, labels are shortened."""
    bars = tuple((f"Beraterin mit sehr langem Namen Nummer {n}", n + 1) for n in range(40))
    png = render_chart([Panel("Kontakte", bars)], title="x", empty="-", size=(800, 600))
    assert _ihdr(png) == (800, 600)


def test_capped_bars_keep_the_sum() -> None:
    """The last bar of a crowded panel holds the rest, so no contact is lost from the chart."""
    from bots.monitoring.chart import _capped

    bars = tuple((str(n), 1) for n in range(MAX_BARS + 5))
    capped = _capped(bars)
    assert len(capped) == MAX_BARS
    assert capped[-1] == ("… (+6)", 6)
    assert sum(v for _, v in capped) == len(bars)
