"""Group appointments: places left, joining and leaving, staff adding clients and groups."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bots.booking.group_appointments import (
    GroupDenial,
    bookable_for_clients,
    check_add,
    check_group,
    check_join,
    check_leave,
    places_left,
)
from bots.booking.model import GroupAppointment
from bots.booking.rules import Problem

from .support import CLIENT, COUNSELLOR, MONDAY, at

NOW = at(MONDAY, "08:00")
A, B, C = "@a:lotse.test", "@b:lotse.test", "@c:lotse.test"
GROUP = GroupAppointment(
    7,
    COUNSELLOR,
    "Elterngruppe",
    at(MONDAY, "18:00"),
    at(MONDAY, "19:30"),
    max_participants=3,
    bookable=True,
    participants=frozenset({A}),
)


@pytest.mark.parametrize(
    ("participants", "left"), [(set(), 3), ({A}, 2), ({A, B, C}, 0), ({A, B, C, CLIENT}, 0)]
)
def test_places_left(participants: set[str], left: int) -> None:
    """Places left never go below zero, even if staff once overfilled it."""
    assert places_left(replace(GROUP, participants=frozenset(participants))) == left


@pytest.mark.parametrize(
    ("change", "client", "expected"),
    [
        ({}, CLIENT, None),
        ({"bookable": False}, CLIENT, GroupDenial.NOT_BOOKABLE),
        ({}, A, GroupDenial.ALREADY_JOINED),
        ({"participants": frozenset({A, B, C})}, CLIENT, GroupDenial.FULL),
        ({"cancelled": True}, CLIENT, GroupDenial.CANCELLED),
        ({"starts_at": NOW}, CLIENT, GroupDenial.STARTED),
    ],
)
def test_check_join(change: dict[str, object], client: str, expected: GroupDenial | None) -> None:
    """Clients join only bookable, open, upcoming group appointments with a place left."""
    assert check_join(replace(GROUP, **change), client, now=NOW) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("client", "now", "expected"),
    [
        (A, NOW, None),
        (CLIENT, NOW, GroupDenial.NOT_JOINED),
        (A, at(MONDAY, "17:00"), GroupDenial.CUTOFF_PASSED),  # cut-off: two hours
        (A, at(MONDAY, "18:00"), GroupDenial.STARTED),
    ],
)
def test_check_leave(client: str, now: int, expected: GroupDenial | None) -> None:
    """Participants leave up to the centre's cut-off, as they cancel an appointment."""
    assert check_leave(GROUP, client, now=now, cutoff_ms=2 * 3600_000) == expected


@pytest.mark.parametrize(
    ("clients", "added", "expected"),
    [
        ({B}, {B}, None),
        ({A, B, C}, {B, C}, None),  # a whole group: those already in are skipped
        ({B, C, CLIENT}, set(), GroupDenial.TOO_MANY),  # all or nothing
        ({A}, set(), GroupDenial.NOBODY_NEW),
    ],
)
def test_check_add(clients: set[str], added: set[str], expected: GroupDenial | None) -> None:
    """Staff add clients or whole groups; the maximum binds them too, all or nothing."""
    assert check_add(GROUP, clients, now=NOW) == (frozenset(added), expected)


def test_staff_may_add_to_a_group_clients_cannot_book() -> None:
    """ "Bookable by clients" off keeps clients out, not the staff adding them."""
    internal = replace(GROUP, bookable=False)
    assert check_add(internal, {B}, now=NOW) == (frozenset({B}), None)
    assert check_add(replace(GROUP, cancelled=True), {B}, now=NOW)[1] is GroupDenial.CANCELLED


def test_bookable_for_clients() -> None:
    """Clients see the bookable, open, upcoming ones by time; internal ones never."""
    later = replace(GROUP, id=8, starts_at=GROUP.starts_at + 3600_000)
    groups = [
        later,
        GROUP,
        replace(GROUP, id=9, bookable=False),
        replace(GROUP, id=10, cancelled=True),
        replace(GROUP, id=11, starts_at=NOW - 1),
    ]
    assert [g.id for g in bookable_for_clients(groups, now=NOW)] == [7, 8]


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        ({}, []),
        ({"title": " "}, [Problem.TITLE_MISSING]),
        ({"remarks": "x" * 501}, [Problem.DESCRIPTION_TOO_LONG]),
        ({"ends_at": at(MONDAY, "17:00")}, [Problem.END_BEFORE_START]),
        ({"starts_at": NOW - 60_000}, [Problem.IN_PAST]),
        ({"max_participants": 0}, [Problem.BAD_PARTICIPANTS]),
        ({"max_participants": 101}, [Problem.BAD_PARTICIPANTS]),
        (
            {"max_participants": 1, "participants": frozenset({A, B})},
            [Problem.MORE_PARTICIPANTS_THAN_PLACES],
        ),
        ({"follow_up_min": 300}, [Problem.TIME_TAKEN, Problem.BAD_FOLLOW_UP]),
        ({"channel": "fax"}, [Problem.UNKNOWN_CHANNEL]),
        ({"follow_up_min": 30}, [Problem.TIME_TAKEN]),  # its follow-up meets the 20:00 one
    ],
)
def test_check_group(change: dict[str, object], problems: list[Problem]) -> None:
    """A group appointment needs a title, a future time free of others, sane places."""
    busy = [(at(MONDAY, "19:30") + 10 * 60_000, at(MONDAY, "21:00"))]
    group = replace(GROUP, **change)  # type: ignore[arg-type]
    assert check_group(group, now=NOW, busy=busy) == problems
