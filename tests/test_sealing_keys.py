"""The sealing key (issue 12, point 5): its own secret, named in every sealed value.

Table-driven checks of the stored format (old values without a key id still open) and of the
config: ``encryption.sealing_key`` from the file or LOTSE_SEALING_KEY, the pickle key when a
config from before has none, a fresh one from ``lotse init``; previous keys (a rotation under
way) open values but never seal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appservice.config import ConfigError, load_config_text
from appservice.config_render import render_initial_config
from appservice.sealing import (
    SealError,
    key_id,
    key_id_of,
    sealer,
)
from tests.test_config import SECRETS, dump, merged

A, B = "first sealing key", "second sealing key"


def _legacy(stored: str) -> str:
    """The same ciphertext in the format from before key ids (``v1:``)."""
    return "v1:" + stored.split(":", 2)[2]


@pytest.mark.parametrize(
    ("sealed_with", "stored_as", "opened_with", "opens"),
    [
        (A, "named", A, True),
        (A, "named", B, False),  # named another key: refused without trying
        (A, "legacy", A, True),  # from before key ids
        (A, "legacy", B, False),
        (A, "renamed", B, False),  # names B's id but is A's ciphertext
    ],
)
def test_stored_format(sealed_with: str, stored_as: str, opened_with: str, opens: bool) -> None:
    stored = sealer(sealed_with, "notes").seal("Notiz", "note:@c:x")
    if stored_as == "legacy":
        stored = _legacy(stored)
    elif stored_as == "renamed":
        stored = stored.replace(key_id(sealed_with), key_id(opened_with), 1)
    box = sealer(opened_with, "notes")
    if opens:
        assert box.open(stored, "note:@c:x") == "Notiz"
    else:
        with pytest.raises(SealError):
            box.open(stored, "note:@c:x")


def test_key_ids() -> None:
    stored = sealer(A, "notes").seal("Notiz", "ctx")
    assert stored.startswith(f"v2:{key_id(A)}:") and key_id_of(stored) == key_id(A)
    assert key_id_of(_legacy(stored)) is None
    assert key_id(A) != key_id(B) and A not in stored
    assert sealer(A, "notes").sealed_by_me(stored) and not sealer(B, "notes").sealed_by_me(stored)


@pytest.mark.parametrize(
    ("in_file", "env", "expected"),
    [
        (None, {}, "pickle-secret"),  # a config from before the option
        ("generate", {}, "pickle-secret"),
        ("own-secret", {}, "own-secret"),
        ("own-secret", {"LOTSE_SEALING_KEY": "from-env"}, "from-env"),
        (None, {"LOTSE_SEALING_KEY": "from-env"}, "from-env"),
    ],
)
def test_sealing_key_from_config(in_file: str | None, env: dict[str, str], expected: str) -> None:
    raw = SECRETS if in_file is None else merged(SECRETS, {"encryption": {"sealing_key": in_file}})
    cfg = load_config_text(dump(raw), "/srv/lotse/config.yaml", env=env)
    assert cfg.encryption.sealing_key == expected
    assert cfg.encryption.pickle_key == "pickle-secret"
    assert expected not in repr(cfg)


def test_init_generates_its_own_sealing_key(tmp_path: Path) -> None:
    cfg = load_config_text(render_initial_config("lotse.test"), tmp_path / "c.yaml", env={})
    assert len(cfg.encryption.sealing_key) >= 32
    assert cfg.encryption.sealing_key != cfg.encryption.pickle_key


C = "third sealing key"


@pytest.mark.parametrize(
    ("sealed_with", "stored_as", "previous", "opens"),
    [
        (A, "named", (A,), True),  # a rotation from A to B runs: both keys open
        (A, "legacy", (A,), True),  # no key id: each accepted key is tried
        (A, "named", (), False),  # the rotation is over: A is no longer accepted
        (A, "named", (C,), False),
        (C, "named", (A, C), True),
        (A, "renamed", (A,), False),  # names B's id but is A's ciphertext: B refuses it
    ],
)
def test_previous_keys_open_but_never_seal(
    sealed_with: str, stored_as: str, previous: tuple[str, ...], opens: bool
) -> None:
    stored = sealer(sealed_with, "notes").seal("Notiz", "note:@c:x")
    if stored_as == "legacy":
        stored = _legacy(stored)
    elif stored_as == "renamed":
        stored = stored.replace(key_id(sealed_with), key_id(B), 1)
    box = sealer(B, "notes", previous)
    assert box.seal("neu", "ctx").startswith(f"v2:{key_id(B)}:")
    if opens:
        assert box.open(stored, "note:@c:x") == "Notiz"
    else:
        with pytest.raises(SealError):
            box.open(stored, "note:@c:x")
    assert box.previous == tuple(p for p in previous if p != B)
    # The previous keys belong to this sealer alone: one of the same key without them (another
    # app in the process) opens nothing sealed under them.
    if stored_as == "named" and sealed_with != B:
        with pytest.raises(SealError):
            sealer(B, "notes").open(stored, "note:@c:x")


@pytest.mark.parametrize(
    ("in_file", "env", "expected"),
    [
        (None, {}, ()),
        ([], {}, ()),
        (["old-1", "old-2"], {}, ("old-1", "old-2")),
        ([], {"LOTSE_PREVIOUS_SEALING_KEYS": "old-1, old-2"}, ("old-1", "old-2")),
        (["old-1"], {"LOTSE_PREVIOUS_SEALING_KEYS": "from-env"}, ("from-env",)),
        (["generate"], {}, "encryption.previous_sealing_keys: 'generate' is no key"),
        ("old-1", {}, ("old-1",)),  # one key as a plain string, like the environment
        ({"k": "old-1"}, {}, "encryption.previous_sealing_keys: expected a list"),
    ],
)
def test_previous_sealing_keys_from_config(
    in_file: object, env: dict[str, str], expected: tuple[str, ...] | str
) -> None:
    raw = SECRETS
    if in_file is not None:
        raw = merged(SECRETS, {"encryption": {"previous_sealing_keys": in_file}})
    if isinstance(expected, str):
        with pytest.raises(ConfigError, match=expected):
            load_config_text(dump(raw), "/srv/lotse/config.yaml", env=env)
        return
    cfg = load_config_text(dump(raw), "/srv/lotse/config.yaml", env=env)
    assert cfg.encryption.previous_sealing_keys == expected
    assert all(k not in repr(cfg) for k in expected)
