"""Group appointments: places left, who may join, adding participants, the input checks.

A group appointment has a maximum of participants and a switch "bookable by clients"
(otherwise it is internal or staff add the participants, e.g. a team meeting or a fixed
group). Staff add clients one by one or a whole group at once; the maximum binds them too,
and an addition that would not fit changes nothing (all or nothing, as every command).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum

from .model import CHANNELS, GroupAppointment
from .rules import MAX_DESCRIPTION, MAX_FOLLOW_UP, MAX_TITLE, Problem, check_appointment_time
from .slots import Span

__all__ = [
    "GroupDenial",
    "bookable_for_clients",
    "check_add",
    "check_group",
    "check_join",
    "check_leave",
    "places_left",
]

MAX_PARTICIPANTS = 100


class GroupDenial(StrEnum):
    CANCELLED = "group_cancelled"
    STARTED = "group_started"
    NOT_BOOKABLE = "group_not_bookable"
    FULL = "group_full"
    TOO_MANY = "group_too_many"
    ALREADY_JOINED = "group_already_joined"
    NOT_JOINED = "group_not_joined"
    NOBODY_NEW = "group_nobody_new"
    CUTOFF_PASSED = "cutoff_passed"


def places_left(group: GroupAppointment) -> int:
    return max(0, group.max_participants - len(group.participants))


def check_join(group: GroupAppointment, client: str, *, now: int) -> GroupDenial | None:
    """Whether a client may join by themselves; None means yes."""
    problem = _check_open(group, now)
    if problem is not None:
        return problem
    if not group.bookable:
        return GroupDenial.NOT_BOOKABLE
    if client in group.participants:
        return GroupDenial.ALREADY_JOINED
    if places_left(group) == 0:
        return GroupDenial.FULL
    return None


def check_leave(
    group: GroupAppointment, client: str, *, now: int, cutoff_ms: int = 0
) -> GroupDenial | None:
    """A client leaves a group appointment up to the centre's cancellation cut-off."""
    problem = _check_open(group, now)
    if problem is not None:
        return problem
    if client not in group.participants:
        return GroupDenial.NOT_JOINED
    if group.starts_at - now < cutoff_ms:
        return GroupDenial.CUTOFF_PASSED
    return None


def check_add(
    group: GroupAppointment, clients: Collection[str], *, now: int
) -> tuple[frozenset[str], GroupDenial | None]:
    """Staff add clients (one, or a group's members): who is new, or why nobody is added.

    Clients already taking part are skipped, not refused, so adding a whole group twice
    is harmless; the new ones must all fit.
    """
    problem = _check_open(group, now)
    if problem is not None:
        return frozenset(), problem
    new = frozenset(clients) - group.participants
    if not new:
        return frozenset(), GroupDenial.NOBODY_NEW
    if len(new) > places_left(group):
        return frozenset(), GroupDenial.TOO_MANY
    return new, None


def bookable_for_clients(groups: Iterable[GroupAppointment], *, now: int) -> list[GroupAppointment]:
    """What ``groupappointments`` lists to clients: bookable, open, upcoming, by time."""
    open_ones = [g for g in groups if g.bookable and _check_open(g, now) is None]
    return sorted(open_ones, key=lambda g: (g.starts_at, g.id))


def check_group(group: GroupAppointment, *, now: int, busy: Iterable[Span] = ()) -> list[Problem]:
    """Everything wrong with a new or edited group appointment (``busy``: the counsellor's
    other spans, as for a single appointment)."""
    problems = check_appointment_time(
        group.starts_at, group.ends_at, now=now, follow_up_min=group.follow_up_min, busy=busy
    )
    if not group.title.strip():
        problems.append(Problem.TITLE_MISSING)
    elif len(group.title.strip()) > MAX_TITLE:
        problems.append(Problem.TITLE_TOO_LONG)
    if len(group.remarks) > MAX_DESCRIPTION:
        problems.append(Problem.DESCRIPTION_TOO_LONG)
    if not 0 <= group.follow_up_min <= MAX_FOLLOW_UP:
        problems.append(Problem.BAD_FOLLOW_UP)
    if group.channel not in CHANNELS:
        problems.append(Problem.UNKNOWN_CHANNEL)
    if not 1 <= group.max_participants <= MAX_PARTICIPANTS:
        problems.append(Problem.BAD_PARTICIPANTS)
    elif len(group.participants) > group.max_participants:
        problems.append(Problem.MORE_PARTICIPANTS_THAN_PLACES)
    return problems


def _check_open(group: GroupAppointment, now: int) -> GroupDenial | None:
    if group.cancelled:
        return GroupDenial.CANCELLED
    if group.starts_at <= now:
        return GroupDenial.STARTED
    return None
