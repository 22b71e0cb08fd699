"""The statistics as one PNG: a grid of horizontal bar charts, sent as an encrypted image.

matplotlib draws it through its Agg canvas on a ``Figure`` of its own, never ``pyplot``: no
global figure state and no GUI backend, so it is safe beside the event loop (call it in a
worker thread: a render takes a few hundred milliseconds). Its bundled DejaVu font has the
umlauts. The picture always has the same size in pixels (no tight bounding box), so the
shell can announce width and height in the image event without decoding it.

Every word on it comes from the caller (rendered from templates); numbers are drawn with
the decimal mark the caller passes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .stats import RequestStats, Table, hours_of

__all__ = ["DPI", "HEIGHT", "MAX_BARS", "WIDTH", "Panel", "chart_panels", "render_chart"]

WIDTH, HEIGHT, DPI = 1200, 1200, 100
#: More bars than this become unreadable; the rest are summed in one last bar "… (+N)".
MAX_BARS = 12
MAX_LABEL = 28


@dataclass(frozen=True)
class Panel:
    """One bar chart: a title and (label, value) bars, drawn top to bottom."""

    title: str
    bars: tuple[tuple[str, float], ...]


def chart_panels(
    tables: Sequence[Table], requests: RequestStats | None, label: Callable[[str, str], str]
) -> list[Panel]:
    """Contacts and minutes per breakdown and per counsellor, then requests by status and the
    time to the first answer in hours.

    ``label(part, subject)`` renders a title or bar name from the ``monitoring_chart_label``
    template: parts ``count`` and ``minutes`` (subject: the field's label, "" for
    counsellors), ``requests``, ``status`` (subject: the status), ``answer_hours``,
    ``median``, ``mean``.
    """
    panels: list[Panel] = []
    for table in tables:
        panels.append(
            Panel(label("count", table.label), tuple((r.label, r.count) for r in table.rows))
        )
        panels.append(
            Panel(label("minutes", table.label), tuple((r.label, r.minutes) for r in table.rows))
        )
    if requests is not None:
        statuses = tuple((label("status", s), n) for s, n in requests.by_status)
        panels.append(Panel(label("requests", ""), statuses))
        waits = [("median", hours_of(requests.median_ms)), ("mean", hours_of(requests.mean_ms))]
        hours = tuple((label(k, ""), v) for k, v in waits if v is not None)
        panels.append(Panel(label("answer_hours", ""), hours))
    return panels


def render_chart(
    panels: Sequence[Panel],
    *,
    title: str,
    empty: str,
    decimal: str = ",",
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> bytes:
    """PNG bytes of exactly ``size`` pixels; a panel without data says ``empty``."""
    width, height = size
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=14)
    columns = 2 if len(panels) > 1 else 1
    rows = max(1, math.ceil(len(panels) / columns))
    grid: list[Axes] = list(figure.subplots(rows, columns, squeeze=False).flat)
    for ax, panel in zip(grid, panels, strict=False):
        _draw(ax, panel, empty, decimal)
    for ax in grid[len(panels) :]:
        ax.set_axis_off()
    if not panels:
        _say(grid[0], empty)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _say(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_axis_off()


def _draw(ax: Axes, panel: Panel, empty: str, decimal: str) -> None:
    ax.set_title(panel.title, fontsize=11, loc="left")
    bars = _capped(panel.bars)
    if not any(value for _, value in bars):
        _say(ax, empty)
        return
    labels = [_short(name) for name, _ in bars]
    values = [value for _, value in bars]
    positions = list(range(len(bars)))
    drawn = ax.barh(positions, values, height=0.6, color="#3b6ea8")
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.bar_label(drawn, labels=[_number(v, decimal) for v in values], padding=3, fontsize=9)
    if all(float(v).is_integer() for v in values):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no 0.5 contacts
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _number(v, decimal)))
    ax.margins(x=0.15)
    ax.spines[["top", "right"]].set_visible(False)


def _capped(bars: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
    if len(bars) <= MAX_BARS:
        return list(bars)
    kept, rest = list(bars[: MAX_BARS - 1]), bars[MAX_BARS - 1 :]
    return [*kept, (f"… (+{len(rest)})", sum(v for _, v in rest))]


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _number(value: float, decimal: str) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}".replace(".", decimal)
