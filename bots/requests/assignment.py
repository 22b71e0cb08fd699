"""Who gets a client's request: the assignment policy (DESIGN.md, "Request & triage"; issue 4).

Pure and standard library only — no Matrix, no database, no clock — so the request flow,
the admin commands and the tests share one rule set. The caller gathers a snapshot (the
request, the centre's counsellors with their status, capacity, open load and whether an
absence covers *now*, the client's home counsellor, the centre's settings and the
round-robin cursor), calls :func:`decide` and acts on the :class:`Decision`.

Order (DESIGN.md): home counsellor → crisis contacts → automatic assignment (only if the
centre has it on) → fallback counsellor → otherwise the pool (``accept``/``assign``).

Decisions where DESIGN.md and the references are silent, taken here:

* **Home counsellor** is skipped only when unknown (not among the centre's counsellors),
  locked, deleted, absent or ``unavailable`` — DESIGN.md names exactly "unavailable/absent".
  ``away`` keeps them for chat *and* asynchronous requests: assisto's "Nicht Online" still
  "kann angeschrieben werden". ``home-only`` is precisely for their own home clients.
  Capacity (``none`` or full) and language/topic filters do not apply: assisto keeps
  showing that counsellor to known clients even with capacity "keine".
* **Crisis contacts** apply to any request the home step did not take (a new client, or a
  known one whose home counsellor is absent/unavailable). Eligible: active, not absent,
  status not ``unavailable`` and not ``home-only`` (home-only means only their own home
  clients reach them). Capacity and language/topic filters are ignored: the flag is an
  explicit opt-in to receive new clients directly (BeraDIG "Krisenkontakt").
* **Automatic off** still runs the home and crisis steps (BeraDIG's crisis contact exists
  precisely to skip the admin's manual assignment), but neither automatic matching nor the
  fallback: the fallback is assisto's overflow for "no free resources", a concept of
  automatic assignment; with it off, assisto requires a manual assignment → pool.
* **Matching** (automatic step): language matches if the request names none or the
  counsellor lists it (case-insensitive); topics match if the counsellor covers every
  requested topic (an empty request matches everybody). Chat needs status ``online``;
  capacity is not consulted for chat (assisto's "Ressourcen" are mail settings).
  Asynchronous needs status ``online`` or ``away`` and free capacity (unlimited, or
  ``open_load < N``; ``0`` = "none" never has room).
* **Least loaded** compares the raw ``open_load`` (fewest open requests), not a ratio to
  the capacity: capacity is a ceiling, not a weight, and unlimited has no ratio. The same
  ranking picks among several crisis contacts.
* **Round robin**: among the tied least-loaded candidates in user-id order, the first one
  after ``round_robin_cursor``; past the last it wraps to the first. A cursor that is not a
  candidate still works (it is only a position in the order).
* **Fallback** must be set, known, active and not absent; status and capacity are ignored
  (a fallback without capacity is the point of it). A locked (deactivated) or deleted
  fallback is skipped like an absent one: the request waits in the pool, and the admins see
  a warning in ``settings`` until they choose another.
* **Accounts**: the snapshot says for each counsellor whether the account is ``active``,
  ``locked`` (deactivated by an admin) or ``deleted`` (waiting for the deletion routine).
  Only ``active`` accounts are ever picked, at every step, whatever their status says — the
  status ``unavailable`` that deactivation and deletion also set is not relied on.
* **Empty profile** (:func:`counsellor_profile`): a counsellor who lists no languages speaks
  the centre's first language; one who lists no topics covers all of the centre's topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

Status = Literal["online", "away", "unavailable", "home-only"]
Channel = Literal["chat", "async"]
Kind = Literal["home", "crisis", "automatic", "fallback", "pool"]
Account = Literal["active", "locked", "deleted"]

STATUSES: frozenset[str] = frozenset(get_args(Status))
CHANNELS: frozenset[str] = frozenset(get_args(Channel))
ACCOUNTS: frozenset[str] = frozenset(get_args(Account))

UNLIMITED: int | None = None
"""``capacity`` value for "unlimited" (assisto "unbegrenzt")."""
NO_CAPACITY = 0
"""``capacity`` value for "none" (assisto "keine"): no new asynchronous requests."""

# Reason codes: stable, machine-readable; the caller translates them.
HOME_AVAILABLE = "home_counsellor_available"
NO_HOME = "no_home_counsellor"
HOME_UNKNOWN = "home_counsellor_unknown"
HOME_LOCKED = "home_counsellor_locked"
HOME_DELETED = "home_counsellor_deleted"
HOME_ABSENT = "home_counsellor_absent"
HOME_UNAVAILABLE = "home_counsellor_unavailable"
CRISIS_AVAILABLE = "crisis_contact_available"
NO_CRISIS = "no_crisis_contact"
LEAST_LOADED = "least_loaded"
ROUND_ROBIN = "round_robin"
AUTOMATIC_OFF = "automatic_off"
NO_MATCH = "no_match"
NONE_ONLINE = "none_online"
NONE_AVAILABLE = "none_available"
NO_CAPACITY_LEFT = "no_capacity"
FALLBACK = "fallback_counsellor"
NO_FALLBACK = "no_fallback"
FALLBACK_UNKNOWN = "fallback_unknown"
FALLBACK_LOCKED = "fallback_locked"
FALLBACK_DELETED = "fallback_deleted"
FALLBACK_ABSENT = "fallback_absent"


@dataclass(frozen=True)
class CounsellorState:
    """One counsellor of the centre, as the policy sees them right now.

    ``capacity``: ``None`` = unlimited, ``0`` = none, ``N > 0`` = at most N open
    asynchronous requests. ``absent``: an absence covers now. ``open_load``: open requests.
    ``account``: ``active``, or ``locked`` (deactivated) / ``deleted`` — never picked.
    """

    user_id: str
    status: Status = "online"
    capacity: int | None = UNLIMITED
    open_load: int = 0
    languages: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    absent: bool = False
    crisis_contact: bool = False
    account: Account = "active"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.account not in ACCOUNTS:
            raise ValueError(f"unknown account state {self.account!r}")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError("capacity must be None (unlimited) or >= 0")
        if self.open_load < 0:
            raise ValueError("open_load must be >= 0")

    @property
    def active(self) -> bool:
        """The account can log in and take requests (neither locked nor deleted)."""
        return self.account == "active"

    @property
    def has_free_capacity(self) -> bool:
        """Unlimited, or fewer open requests than N; never for capacity none."""
        return self.capacity is None or self.open_load < self.capacity


@dataclass(frozen=True)
class RequestInfo:
    """The request being assigned; ``language=None`` and empty ``topics`` mean "any"."""

    request_id: str
    client_id: str
    channel: Channel
    language: str | None = None
    topics: frozenset[str] = frozenset()
    is_first_request: bool = True

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")


@dataclass(frozen=True)
class CentreSettings:
    """The centre's assignment settings."""

    automatic_assignment: bool = False
    fallback_counsellor: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome: who gets the request, and why.

    ``reason`` is the code for this outcome; ``skipped`` holds the codes of the earlier
    steps that did not apply, in order; ``candidates`` the user ids eligible at the
    deciding step, best first (empty for the pool).
    """

    kind: Kind
    counsellor: str | None
    reason: str
    skipped: tuple[str, ...] = ()
    candidates: tuple[str, ...] = field(default=())


def _available(c: CounsellorState) -> bool:
    return c.active and not c.absent


def _matches(c: CounsellorState, request: RequestInfo) -> bool:
    if request.language is not None:
        wanted = request.language.casefold()
        if wanted not in {lang.casefold() for lang in c.languages}:
            return False
    return request.topics <= c.topics


def _rank(candidates: Iterable[CounsellorState]) -> list[CounsellorState]:
    """Least loaded first, then user id."""
    return sorted(candidates, key=lambda c: (c.open_load, c.user_id))


def _pick(ranked: Sequence[CounsellorState], cursor: str | None) -> tuple[CounsellorState, bool]:
    """The least loaded; among ties the first after ``cursor`` (wrapping). Returns (pick, tied)."""
    lowest = ranked[0].open_load
    tied = [c for c in ranked if c.open_load == lowest]  # already in user-id order
    if len(tied) == 1:
        return tied[0], False
    if cursor is not None:
        for c in tied:
            if c.user_id > cursor:
                return c, True
    return tied[0], True


def _home_skip(home: CounsellorState | None, home_counsellor: str | None) -> str | None:
    """Why the home counsellor cannot take the request, or ``None`` if they can."""
    if home_counsellor is None:
        return NO_HOME
    if home is None:
        return HOME_UNKNOWN
    if home.account == "deleted":
        return HOME_DELETED
    if home.account == "locked":
        return HOME_LOCKED
    if home.absent:
        return HOME_ABSENT
    if home.status == "unavailable":
        return HOME_UNAVAILABLE
    return None


def _automatic(
    request: RequestInfo, counsellors: Sequence[CounsellorState]
) -> tuple[list[CounsellorState], str | None]:
    """The eligible counsellors for automatic assignment, or why there are none."""
    matching = [c for c in counsellors if _available(c) and _matches(c, request)]
    if not matching:
        return [], NO_MATCH
    if request.channel == "chat":
        online = [c for c in matching if c.status == "online"]
        return (online, None) if online else ([], NONE_ONLINE)
    reachable = [c for c in matching if c.status in ("online", "away")]
    if not reachable:
        return [], NONE_AVAILABLE
    free = [c for c in reachable if c.has_free_capacity]
    return (free, None) if free else ([], NO_CAPACITY_LEFT)


def decide(
    request: RequestInfo,
    counsellors: Sequence[CounsellorState],
    home_counsellor: str | None,
    settings: CentreSettings,
    round_robin_cursor: str | None = None,
) -> Decision:
    """Decide who gets ``request``; see the module docstring for the order and the rules.

    ``counsellors`` are the centre's counsellors (user ids must be unique);
    ``round_robin_cursor`` is the user id picked last among tied candidates.
    """
    by_id: dict[str, CounsellorState] = {}
    for c in counsellors:
        if c.user_id in by_id:
            raise ValueError(f"duplicate counsellor {c.user_id!r}")
        by_id[c.user_id] = c

    skipped: list[str] = []

    home = by_id.get(home_counsellor) if home_counsellor is not None else None
    home_skip = _home_skip(home, home_counsellor)
    if home_skip is None and home is not None:
        return Decision("home", home.user_id, HOME_AVAILABLE, (), (home.user_id,))
    skipped.append(home_skip or NO_HOME)

    crisis = _rank(
        c
        for c in counsellors
        if c.crisis_contact and _available(c) and c.status in ("online", "away")
    )
    if crisis:
        chosen, _ = _pick(crisis, round_robin_cursor)
        return Decision(
            "crisis",
            chosen.user_id,
            CRISIS_AVAILABLE,
            tuple(skipped),
            tuple(c.user_id for c in crisis),
        )
    skipped.append(NO_CRISIS)

    if not settings.automatic_assignment:
        return Decision("pool", None, AUTOMATIC_OFF, tuple(skipped))

    eligible, why_none = _automatic(request, counsellors)
    if eligible:
        ranked = _rank(eligible)
        chosen, tied = _pick(ranked, round_robin_cursor)
        return Decision(
            "automatic",
            chosen.user_id,
            ROUND_ROBIN if tied else LEAST_LOADED,
            tuple(skipped),
            tuple(c.user_id for c in ranked),
        )
    skipped.append(why_none or NO_MATCH)

    fallback_id = settings.fallback_counsellor
    if fallback_id is None:
        return Decision("pool", None, NO_FALLBACK, tuple(skipped))
    fallback = by_id.get(fallback_id)
    if fallback is None:
        return Decision("pool", None, FALLBACK_UNKNOWN, tuple(skipped))
    if fallback.account == "deleted":
        return Decision("pool", None, FALLBACK_DELETED, tuple(skipped))
    if fallback.account == "locked":
        return Decision("pool", None, FALLBACK_LOCKED, tuple(skipped))
    if fallback.absent:
        return Decision("pool", None, FALLBACK_ABSENT, tuple(skipped))
    return Decision("fallback", fallback_id, FALLBACK, tuple(skipped), (fallback_id,))


def on_duty(counsellors: Iterable[CounsellorState]) -> list[str]:
    """Who is invited to a pool request's room: active, not absent, online or away; sorted."""
    return sorted(
        c.user_id for c in counsellors if _available(c) and c.status in ("online", "away")
    )


def becomes_home_counsellor(request: RequestInfo, decision: Decision) -> bool:
    """Whether the decided counsellor becomes the client's home counsellor.

    True when a first request goes to somebody (crisis, automatic or fallback). False for
    the pool — whoever later ``accept``s or is ``assign``ed a first request becomes home
    counsellor, which the caller records then — and for ``home`` (nothing changes).
    """
    return request.is_first_request and decision.counsellor is not None and decision.kind != "home"


def _codes(text: str | None) -> frozenset[str]:
    return frozenset(c.strip().casefold() for c in (text or "").split(",") if c.strip())


def counsellor_profile(
    languages: str | None,
    topics: str | None,
    centre_languages: Sequence[str],
    centre_topics: Sequence[str],
) -> tuple[frozenset[str], frozenset[str]]:
    """What a counsellor's profile (comma-separated codes) means for matching.

    Nothing listed is read as the centre's usual offer, so a counsellor who never filled in
    the profile is not shut out of every request that names a language or a topic: no
    languages → the centre's first language; no topics → every topic of the centre.
    """
    spoken = _codes(languages)
    if not spoken and centre_languages:
        spoken = frozenset({centre_languages[0].casefold()})
    covered = _codes(topics) or frozenset(t.casefold() for t in centre_topics)
    return spoken, covered
