"""Paged listings: ``page=N`` on a listing command shows that page and says how to get the next.

Pure: the command asks the database for the total and one page (``LIMIT``/``OFFSET``), and
only then does per-row work (Synapse lookups, names) for the rows it shows, so a listing costs
the same for a centre of 10,000 clients as for one of 50.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The option every paged listing takes (`clients page=2`, `requests page=3`).
OPTION = "page"


@dataclass(frozen=True)
class Page:
    """Page ``number`` (from 1) of ``size`` rows out of ``total``."""

    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are; an empty listing still has one (empty) page."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def next(self) -> int | None:
        """The number of the next page, or None on the last."""
        return self.number + 1 if self.number < self.pages else None


def page_number(given: str | None) -> int | None:
    """``page=N`` as typed: the page number, 1 when not given, None when it is no number ≥ 1."""
    if given is None or given == "":
        return 1
    text = given.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6 or int(text) < 1:
        return None
    return int(text)


def beyond(page: Page) -> bool:
    """A page after the last one that has rows: answered with how many pages there are."""
    return page.number > page.pages


def next_command(command: str, page: Page) -> str:
    """What to type for the next page: the command as given, with ``page=`` of the next one."""
    return f"{command} {OPTION}={page.next}".strip() if page.next else ""


def shown(page: Page, command: str) -> dict[str, Any]:
    """What a listing's template says about its page (``page``, ``pages``, ``total``,
    ``next``: the command for the next page, empty on the last)."""
    return {
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "next": next_command(command, page),
    }
