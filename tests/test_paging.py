"""The paging rules every paged listing shares (bots/framework/paging.py), from a table."""

from __future__ import annotations

import pytest

from bots.framework.paging import Page, beyond, next_command, page_number, shown


@pytest.mark.parametrize(
    ("given", "number"),
    [
        (None, 1),
        ("", 1),
        ("1", 1),
        ("17", 17),
        (" 3 ", 3),
        ("0", None),
        ("-1", None),
        ("zwei", None),
        ("²", None),  # a digit to str.isdigit, not a page number
        ("١", None),  # Arabic-Indic one
        ("9999999", None),
        ("1.5", None),
    ],
)
def test_page_number(given: str | None, number: int | None) -> None:
    assert page_number(given) == number


@pytest.mark.parametrize(
    ("number", "size", "total", "pages", "offset", "following", "past"),
    [
        (1, 50, 0, 1, 0, None, False),
        (1, 50, 50, 1, 0, None, False),
        (1, 50, 51, 2, 0, 2, False),
        (2, 50, 51, 2, 50, None, False),
        (3, 50, 51, 2, 100, None, True),
        (200, 50, 10_000, 200, 9_950, None, False),
        (2, 20, 0, 1, 20, None, True),
    ],
)
def test_page(
    number: int,
    size: int,
    total: int,
    pages: int,
    offset: int,
    following: int | None,
    past: bool,
) -> None:
    page = Page(number, size, total)
    assert (page.pages, page.offset, page.next, beyond(page)) == (pages, offset, following, past)


def test_next_command() -> None:
    assert next_command("clients all anna sort=login", Page(1, 50, 120)) == (
        "clients all anna sort=login page=2"
    )
    assert next_command("requests", Page(2, 20, 40)) == ""


def test_shown() -> None:
    assert shown(Page(1, 20, 21), "requests") == {
        "page": 1,
        "pages": 2,
        "total": 21,
        "next": "requests page=2",
    }
