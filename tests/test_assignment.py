"""The assignment policy: a table of centres and requests and who gets each request."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from appservice.db import Person
from bots.requests.assignment import (
    CentreSettings,
    CounsellorState,
    Decision,
    RequestInfo,
    becomes_home_counsellor,
    counsellor_profile,
    decide,
    on_duty,
)
from bots.requests.requests import _state, account_of

A, B, C, D = "@anna:lotse.test", "@ben:lotse.test", "@cem:lotse.test", "@dora:lotse.test"
FB = "@fallback:lotse.test"

AUTO = CentreSettings(automatic_assignment=True)
AUTO_FB = CentreSettings(automatic_assignment=True, fallback_counsellor=FB)
MANUAL = CentreSettings(automatic_assignment=False)
MANUAL_FB = CentreSettings(automatic_assignment=False, fallback_counsellor=FB)


def cs(user_id: str, **kw: object) -> CounsellorState:
    """A counsellor who is online, unlimited, unloaded, speaks de and covers no topics."""
    kw.setdefault("languages", frozenset({"de"}))
    return CounsellorState(user_id, **kw)  # type: ignore[arg-type]


def req(channel: str = "chat", **kw: object) -> RequestInfo:
    """A first request from client c1 with no language and no topics."""
    return RequestInfo("r1", "c1", channel, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    id: str
    request: RequestInfo
    counsellors: list[CounsellorState]
    settings: CentreSettings
    kind: str
    counsellor: str | None
    reason: str
    home: str | None = None
    cursor: str | None = None
    skipped: tuple[str, ...] | None = None
    candidates: tuple[str, ...] | None = field(default=None)


CASES = [
    # --- home counsellor -------------------------------------------------------------
    Case("home available", req(), [cs(A), cs(B)], AUTO, "home", A,
         "home_counsellor_available", home=A, skipped=(), candidates=(A,)),
    Case("home away keeps chat", req(), [cs(A, status="away"), cs(B)], AUTO, "home", A,
         "home_counsellor_available", home=A),
    Case("home away keeps async", req("async"), [cs(A, status="away"), cs(B)], AUTO, "home",
         A, "home_counsellor_available", home=A),
    Case("home capacity none still gets known client", req("async"),
         [cs(A, capacity=0), cs(B)], AUTO, "home", A, "home_counsellor_available", home=A),
    Case("home full still gets known client", req("async"),
         [cs(A, capacity=2, open_load=5), cs(B)], AUTO, "home", A,
         "home_counsellor_available", home=A),
    Case("home-only for own client", req(), [cs(A, status="home-only"), cs(B)], AUTO,
         "home", A, "home_counsellor_available", home=A),
    Case("home ignores language mismatch", req(language="tr"), [cs(A), cs(B)], MANUAL,
         "home", A, "home_counsellor_available", home=A),
    Case("home with automatic off", req(), [cs(A)], MANUAL, "home", A,
         "home_counsellor_available", home=A),
    Case("home absent then crisis", req(), [cs(A, absent=True), cs(B, crisis_contact=True)],
         AUTO, "crisis", B, "crisis_contact_available", home=A,
         skipped=("home_counsellor_absent",)),
    Case("home unavailable then automatic", req(), [cs(A, status="unavailable"), cs(B)],
         AUTO, "automatic", B, "least_loaded", home=A,
         skipped=("home_counsellor_unavailable", "no_crisis_contact"), candidates=(B,)),
    Case("home locked then automatic", req(), [cs(A, account="locked"), cs(B)], AUTO,
         "automatic", B, "least_loaded", home=A,
         skipped=("home_counsellor_locked", "no_crisis_contact")),
    Case("home deleted then pool", req(), [cs(A, account="deleted")], MANUAL, "pool", None,
         "automatic_off", home=A, skipped=("home_counsellor_deleted", "no_crisis_contact")),
    Case("home locked though status online", req("async"),
         [cs(A, account="locked", status="online", capacity=None)], AUTO, "pool", None,
         "no_fallback", home=A,
         skipped=("home_counsellor_locked", "no_crisis_contact", "no_match")),
    Case("home unknown then automatic", req(), [cs(B)], AUTO, "automatic", B, "least_loaded",
         home=D, skipped=("home_counsellor_unknown", "no_crisis_contact")),
    # --- crisis contacts -------------------------------------------------------------
    Case("crisis least loaded wins", req(),
         [cs(A, crisis_contact=True, open_load=3), cs(B, crisis_contact=True, open_load=1)],
         AUTO, "crisis", B, "crisis_contact_available",
         skipped=("no_home_counsellor",), candidates=(B, A)),
    Case("crisis tie round robin", req(),
         [cs(A, crisis_contact=True), cs(B, crisis_contact=True)], AUTO, "crisis", B,
         "crisis_contact_available", cursor=A),
    Case("crisis tie wraps", req(),
         [cs(A, crisis_contact=True), cs(B, crisis_contact=True)], AUTO, "crisis", A,
         "crisis_contact_available", cursor=B),
    Case("crisis absent skipped", req(),
         [cs(A, crisis_contact=True, absent=True), cs(B, crisis_contact=True, open_load=9)],
         AUTO, "crisis", B, "crisis_contact_available", candidates=(B,)),
    Case("crisis unavailable skipped", req(),
         [cs(A, crisis_contact=True, status="unavailable"), cs(B)], AUTO, "automatic", B,
         "least_loaded"),
    Case("crisis home-only skipped", req(),
         [cs(A, crisis_contact=True, status="home-only"), cs(B)], AUTO, "automatic", B,
         "least_loaded"),
    Case("crisis locked skipped", req(), [cs(A, crisis_contact=True, account="locked")], AUTO,
         "pool", None, "no_fallback", skipped=("no_home_counsellor", "no_crisis_contact",
                                               "no_match")),
    Case("crisis away still reached", req(), [cs(A, crisis_contact=True, status="away")],
         AUTO, "crisis", A, "crisis_contact_available"),
    Case("crisis ignores capacity none", req("async"), [cs(A, crisis_contact=True, capacity=0)],
         AUTO, "crisis", A, "crisis_contact_available"),
    Case("crisis with automatic off", req(), [cs(A, crisis_contact=True), cs(B)], MANUAL,
         "crisis", A, "crisis_contact_available"),
    # --- automatic: chat ---------------------------------------------------------------
    Case("chat picks only online", req(),
         [cs(A, status="away"), cs(B, status="home-only"), cs(C, open_load=7)], AUTO,
         "automatic", C, "least_loaded", candidates=(C,)),
    Case("chat ignores capacity", req(), [cs(A, capacity=0, open_load=4)], AUTO, "automatic",
         A, "least_loaded"),
    Case("chat nobody online then fallback", req(),
         [cs(A, status="away"), cs(FB, status="away")], AUTO_FB, "fallback", FB,
         "fallback_counsellor",
         skipped=("no_home_counsellor", "no_crisis_contact", "none_online")),
    # --- automatic: async --------------------------------------------------------------
    Case("async away counsellor eligible", req("async"), [cs(A, status="away")], AUTO,
         "automatic", A, "least_loaded"),
    Case("async respects capacity N", req("async"),
         [cs(A, capacity=2, open_load=2), cs(B, capacity=3, open_load=2)], AUTO, "automatic",
         B, "least_loaded", candidates=(B,)),
    Case("async excludes capacity none", req("async"), [cs(A, capacity=0), cs(B, open_load=9)],
         AUTO, "automatic", B, "least_loaded", candidates=(B,)),
    Case("async excludes unavailable and home-only", req("async"),
         [cs(A, status="unavailable"), cs(B, status="home-only"), cs(C, open_load=5)], AUTO,
         "automatic", C, "least_loaded", candidates=(C,)),
    Case("async raw load beats ratio", req("async"),
         [cs(A, capacity=10, open_load=3), cs(B, capacity=2, open_load=1)], AUTO, "automatic",
         B, "least_loaded", candidates=(B, A)),
    Case("async all full then fallback", req("async"),
         [cs(A, capacity=1, open_load=1), cs(B, capacity=0),
          cs(FB, capacity=0, status="unavailable")],
         AUTO_FB, "fallback", FB, "fallback_counsellor",
         skipped=("no_home_counsellor", "no_crisis_contact", "no_capacity")),
    Case("async none reachable then pool", req("async"), [cs(A, status="unavailable")], AUTO,
         "pool", None, "no_fallback",
         skipped=("no_home_counsellor", "no_crisis_contact", "none_available")),
    # --- matching ------------------------------------------------------------------------
    Case("language mismatch excluded", req(language="tr"),
         [cs(A), cs(B, languages=frozenset({"de", "tr"}), open_load=4)], AUTO, "automatic", B,
         "least_loaded", candidates=(B,)),
    Case("language case-insensitive", req(language="TR"),
         [cs(A, languages=frozenset({"tr"}))], AUTO, "automatic", A, "least_loaded"),
    Case("topic mismatch excluded", req(topics=frozenset({"sucht", "schulden"})),
         [cs(A, topics=frozenset({"sucht"})),
          cs(B, topics=frozenset({"sucht", "schulden", "familie"}), open_load=2)],
         AUTO, "automatic", B, "least_loaded", candidates=(B,)),
    Case("no topics matches everybody", req(), [cs(A, topics=frozenset({"sucht"}))], AUTO,
         "automatic", A, "least_loaded"),
    Case("nobody matches then fallback", req(language="fr"), [cs(A), cs(FB)], AUTO_FB,
         "fallback", FB, "fallback_counsellor",
         skipped=("no_home_counsellor", "no_crisis_contact", "no_match")),
    # --- ranking and round robin -------------------------------------------------------
    Case("least loaded wins", req(), [cs(A, open_load=2), cs(B, open_load=0), cs(C, open_load=1)],
         AUTO, "automatic", B, "least_loaded", candidates=(B, C, A)),
    Case("tie without cursor takes first id", req(), [cs(B), cs(A), cs(C, open_load=1)], AUTO,
         "automatic", A, "round_robin", candidates=(A, B, C)),
    Case("tie rotates after cursor", req(), [cs(A), cs(B), cs(C)], AUTO, "automatic", B,
         "round_robin", cursor=A),
    Case("tie rotates to next", req(), [cs(A), cs(B), cs(C)], AUTO, "automatic", C,
         "round_robin", cursor=B),
    Case("tie wraps around", req(), [cs(A), cs(B), cs(C)], AUTO, "automatic", A,
         "round_robin", cursor=C),
    Case("tie cursor not a candidate", req(), [cs(A), cs(C)], AUTO, "automatic", C,
         "round_robin", cursor=B),
    Case("cursor ignored without tie", req(), [cs(A), cs(B, open_load=1)], AUTO, "automatic",
         A, "least_loaded", cursor=A),
    # --- fallback and pool -------------------------------------------------------------
    Case("fallback without capacity", req("async"), [cs(FB, capacity=0)], AUTO_FB, "fallback",
         FB, "fallback_counsellor", candidates=(FB,)),
    Case("fallback absent then pool", req("async"), [cs(FB, capacity=0, absent=True)],
         AUTO_FB, "pool", None, "fallback_absent", candidates=()),
    Case("fallback locked then pool", req(), [cs(FB, account="locked")], AUTO_FB, "pool",
         None, "fallback_locked"),
    Case("fallback deleted then pool", req("async"), [cs(FB, account="deleted", capacity=0)],
         AUTO_FB, "pool", None, "fallback_deleted",
         skipped=("no_home_counsellor", "no_crisis_contact", "no_match"), candidates=()),
    Case("fallback deactivated though online", req(),
         [cs(A, status="away"), cs(FB, account="locked", status="online")], AUTO_FB, "pool",
         None, "fallback_locked",
         skipped=("no_home_counsellor", "no_crisis_contact", "none_online")),
    Case("fallback unknown then pool", req(), [cs(A, status="away")], AUTO_FB, "pool", None,
         "fallback_unknown"),
    Case("no fallback then pool", req(), [cs(A, status="away")], AUTO, "pool", None,
         "no_fallback"),
    Case("automatic off goes to pool", req(), [cs(A), cs(B)], MANUAL, "pool", None,
         "automatic_off", skipped=("no_home_counsellor", "no_crisis_contact")),
    Case("automatic off skips fallback", req(), [cs(FB)], MANUAL_FB, "pool", None,
         "automatic_off"),
    Case("automatic off home absent goes to pool", req(), [cs(A, absent=True)], MANUAL, "pool",
         None, "automatic_off", home=A,
         skipped=("home_counsellor_absent", "no_crisis_contact")),
    # --- inactive and absent never chosen, empty centre ----------------------------------
    Case("inactive never chosen", req("async"),
         [cs(A, account="locked"), cs(B, account="deleted", crisis_contact=True),
          cs(C, open_load=9)],
         AUTO, "automatic", C, "least_loaded", home=A, candidates=(C,)),
    Case("absent skipped by automatic", req(), [cs(A, absent=True), cs(B, open_load=3)], AUTO,
         "automatic", B, "least_loaded", candidates=(B,)),
    Case("empty counsellor list", req(), [], AUTO_FB, "pool", None, "fallback_unknown",
         skipped=("no_home_counsellor", "no_crisis_contact", "no_match")),
    Case("empty counsellor list manual", req(), [], MANUAL, "pool", None, "automatic_off"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide(case: Case) -> None:
    """Each centre snapshot yields the expected kind, counsellor and reason."""
    decision = decide(case.request, case.counsellors, case.home, case.settings, case.cursor)
    assert (decision.kind, decision.counsellor, decision.reason) == (
        case.kind,
        case.counsellor,
        case.reason,
    )
    if case.skipped is not None:
        assert decision.skipped == case.skipped
    if case.candidates is not None:
        assert decision.candidates == case.candidates


def test_ids_are_unique() -> None:
    """Every table row has its own readable id."""
    assert len({c.id for c in CASES}) == len(CASES)


def test_round_robin_cycles_through_ties() -> None:
    """Feeding each pick back as the cursor visits every tied counsellor in turn."""
    counsellors = [cs(C), cs(A), cs(B)]
    cursor = None
    picks = []
    for _ in range(4):
        decision = decide(req(), counsellors, None, AUTO, cursor)
        picks.append(decision.counsellor)
        cursor = decision.counsellor
    assert picks == [A, B, C, A]


@pytest.mark.parametrize(
    ("counsellors", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param(
            [cs(B), cs(A, status="away"), cs(C, status="unavailable"), cs(D, status="home-only")],
            [A, B],
            id="online and away only",
        ),
        pytest.param(
            [cs(A, absent=True), cs(B, account="locked"), cs(C)], [C], id="absent and inactive out"
        ),
        pytest.param(
            [cs(A, account="deleted", status="away"), cs(B)], [B], id="deleted though away"
        ),
        pytest.param([cs(A, capacity=0)], [A], id="capacity irrelevant"),
    ],
)
def test_on_duty(counsellors: list[CounsellorState], expected: list[str]) -> None:
    """On duty: active, not absent, online or away; sorted by user id."""
    assert on_duty(counsellors) == expected


@pytest.mark.parametrize(
    ("first", "decision", "expected"),
    [
        pytest.param(True, Decision("automatic", A, "least_loaded"), True, id="first automatic"),
        pytest.param(True, Decision("crisis", A, "crisis_contact_available"), True, id="crisis"),
        pytest.param(True, Decision("fallback", FB, "fallback_counsellor"), True, id="fallback"),
        pytest.param(True, Decision("pool", None, "automatic_off"), False, id="pool"),
        pytest.param(
            True, Decision("home", A, "home_counsellor_available"), False, id="already home"
        ),
        pytest.param(False, Decision("automatic", A, "least_loaded"), False, id="not first"),
    ],
)
def test_becomes_home_counsellor(first: bool, decision: Decision, expected: bool) -> None:
    """Whoever takes a client's first request becomes home counsellor; the pool decides later."""
    assert becomes_home_counsellor(req(is_first_request=first), decision) is expected


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: CounsellorState(A, status="offline"), id="bad status"),  # type: ignore[arg-type]
        pytest.param(lambda: CounsellorState(A, capacity=-1), id="negative capacity"),
        pytest.param(lambda: CounsellorState(A, open_load=-1), id="negative load"),
        pytest.param(lambda: RequestInfo("r", "c", "video"), id="bad channel"),  # type: ignore[arg-type]
        pytest.param(lambda: CounsellorState(A, account="gone"), id="bad account"),  # type: ignore[arg-type]
        pytest.param(lambda: decide(req(), [cs(A), cs(A)], None, AUTO), id="duplicate id"),
    ],
)
def test_bad_input_raises(build: object) -> None:
    """Invalid snapshots are rejected instead of silently mis-assigned."""
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_module_is_pure() -> None:
    """The policy imports only the standard library (no mautrix, aiohttp or database code)."""
    import ast
    import pathlib
    import sys

    import bots.requests.assignment as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}


@pytest.mark.parametrize(
    ("languages", "topics", "spoken", "covered"),
    [
        ("de,tr", "family", {"de", "tr"}, {"family"}),
        (" DE , en ,", "Family,addiction", {"de", "en"}, {"family", "addiction"}),
        (None, None, {"de"}, {"family", "addiction"}),  # no profile: centre's usual offer
        ("", "", {"de"}, {"family", "addiction"}),
        ("tr", None, {"tr"}, {"family", "addiction"}),
    ],
)
def test_counsellor_profile(
    languages: str | None, topics: str | None, spoken: set[str], covered: set[str]
) -> None:
    assert counsellor_profile(languages, topics, ("de", "en"), ("family", "addiction")) == (
        frozenset(spoken),
        frozenset(covered),
    )


# --- the snapshot the request flow builds from people (bots/requests/requests.py) -----------------

DAY = 86_400_000


def person(user_id: str, **kw: object) -> Person:
    """A counsellor row as the database holds it (no database needed to build one)."""
    return Person(user_id, "nord", "counsellor", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("row", "account"),
    [
        pytest.param(person(A), "active", id="never logged in"),
        pytest.param(person(A, activated_at=DAY), "active", id="activated"),
        pytest.param(person(A, locked_at=DAY), "locked", id="deactivated"),
        pytest.param(person(A, locked_at=DAY, status="online"), "locked", id="locked online"),
        pytest.param(person(A, deleted_at=DAY), "deleted", id="deleted"),
        pytest.param(person(A, deleted_at=DAY, locked_at=DAY), "deleted", id="deleted and locked"),
        pytest.param(
            person(A, deleted_at=DAY, status="online", crisis_contact=True),
            "deleted",
            id="deleted online crisis contact",
        ),
    ],
)
def test_snapshot_says_locked_and_deleted(row: Person, account: str) -> None:
    """The account state comes from locked_at/deleted_at, not from the status."""
    assert account_of(row) == account
    assert _state(row, {}, set()).account == account


# Every step that could pick the locked or deleted counsellor X, with the status set back to
# online by hand (deactivation and deletion set "unavailable", which must not be relied on).
X = "@x:lotse.test"
STEPS = [
    ("home", {}, X, MANUAL),
    ("crisis", {"crisis_contact": True}, None, MANUAL),
    ("automatic", {}, None, AUTO),
    ("fallback", {"capacity": 0}, None, CentreSettings(True, X)),
]


@pytest.mark.parametrize("gone", ["locked_at", "deleted_at"])
@pytest.mark.parametrize(("step", "profile", "home", "settings"), STEPS, ids=[s[0] for s in STEPS])
def test_locked_or_deleted_staff_never_picked(
    gone: str, step: str, profile: dict[str, object], home: str | None, settings: CentreSettings
) -> None:
    """Active, X would get the request at this step; locked or deleted, never."""
    active = _state(person(X, status="online", **profile), {}, set())
    assert decide(req("async"), [active], home, settings).counsellor == X
    row = person(X, status="online", **profile, **{gone: DAY})
    decision = decide(req("async"), [_state(row, {}, set())], home, settings)
    assert decision.counsellor is None and decision.kind == "pool"
    assert on_duty([_state(row, {}, set())]) == []
