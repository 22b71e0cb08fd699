"""Pure rules behind notes, documents and groups: sealing, file types, waiting, who may change."""

from __future__ import annotations

import pytest

from appservice.db import ClientGroup
from appservice.document_policy import (
    DocumentPolicy,
    PolicyError,
    check_document,
    parse_policy,
    sniff,
)
from appservice.sealing import Sealer, SealError
from bots.framework.commands import Role
from bots.groups.groups import may_change, name_problem

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 20
GIF = b"GIF89a" + b"\0" * 20
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 8
EXE = b"MZ\x90\0" + b"\0" * 20


def test_sealed_text_opens_and_hides() -> None:
    """Sealing round-trips; the stored form holds no trace of the text; each seal differs."""
    box = Sealer("pickle-secret", "client notes")
    first = box.seal("Mutter krank, Termin verschoben", "note:@a:x")
    second = box.seal("Mutter krank, Termin verschoben", "note:@a:x")
    assert first != second and "Mutter" not in first and first.startswith("v2:")
    assert box.open(first, "note:@a:x") == "Mutter krank, Termin verschoben"


@pytest.mark.parametrize(
    ("secret", "purpose", "context"),
    [
        ("pickle-secret", "client notes", "note:@b:x"),  # moved to another client
        ("other-secret", "client notes", "note:@a:x"),  # pickle key changed
        ("pickle-secret", "client documents", "note:@a:x"),  # another purpose's key
    ],
)
def test_sealed_text_refuses_wrong_key_or_context(secret: str, purpose: str, context: str) -> None:
    sealed = Sealer("pickle-secret", "client notes").seal("text", "note:@a:x")
    with pytest.raises(SealError):
        Sealer(secret, purpose).open(sealed, context)


@pytest.mark.parametrize("stored", ["", "v1:", "v1:not-base64!", "v0:abc", "v1:" + "A" * 40])
def test_damaged_values_raise_seal_error(stored: str) -> None:
    with pytest.raises(SealError):
        Sealer("k", "client notes").open(stored, "note:@a:x")


@pytest.mark.parametrize(
    ("data", "kind"),
    [(PDF, "pdf"), (PNG, "png"), (JPEG, "jpeg"), (GIF, "gif"), (WEBP, "webp"), (EXE, None)],
)
def test_sniff_reads_the_bytes(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize(
    ("policy", "data", "verdict"),
    [
        (DocumentPolicy(), PDF, ("ok", "pdf")),
        (DocumentPolicy(), PNG, ("ok", "png")),
        (DocumentPolicy(), EXE, ("wrong_type", None)),
        (DocumentPolicy(types=("pdf",)), PNG, ("wrong_type", "png")),
        (DocumentPolicy(max_mb=1), PDF + b"\0" * (1024 * 1024), ("too_large", None)),
        (DocumentPolicy(max_mb=1), PDF + b"\0" * (1024 * 1024 - len(PDF)), ("ok", "pdf")),
    ],
)
def test_check_document(policy: DocumentPolicy, data: bytes, verdict: tuple[str, str]) -> None:
    assert check_document(policy, data) == verdict


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, DocumentPolicy()),
        ({"max_mb": 3}, DocumentPolicy(max_mb=3)),
        ({"types": ["PDF", "jpg", "jpeg"]}, DocumentPolicy(types=("pdf", "jpeg"))),
    ],
)
def test_parse_policy(raw: object, expected: DocumentPolicy) -> None:
    assert parse_policy(raw) == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ([], ""),
        ({"types": []}, "types"),
        ({"types": "pdf"}, "types"),
        ({"types": ["pdf", "exe"]}, "types"),
        ({"max_mb": 0}, "max_mb"),
        ({"max_mb": "10"}, "max_mb"),
        ({"max_mb": True}, "max_mb"),
        ({"max_mb": 1000}, "max_mb"),
        ({"maxmb": 3}, "maxmb"),
    ],
)
def test_parse_policy_refuses(raw: object, key: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(raw)
    assert info.value.key == key and info.value.message


@pytest.mark.parametrize(
    ("name", "problem"),
    [("Eltern", None), ("", "empty"), ("   ", "empty"), ("42", "number"), ("x" * 81, "too_long")],
)
def test_group_names(name: str, problem: str | None) -> None:
    assert name_problem(name) == problem


@pytest.mark.parametrize(
    ("role", "user", "allowed"),
    [
        (Role.COUNSELLOR, "@creator:x", True),
        (Role.COUNSELLOR, "@other:x", False),
        (Role.ADMIN, "@admin:x", True),
        (Role.CLIENT, "@other:x", False),
    ],
)
def test_only_creator_or_admin_changes_a_group(role: Role, user: str, allowed: bool) -> None:
    group = ClientGroup(1, "nord", "Eltern", "", "@creator:x", None, 0)
    assert may_change(role, user, group) is allowed
