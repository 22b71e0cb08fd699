"""Tests for appservice.dev.synapse_runner against a real SQLite Synapse."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
import yaml

from appservice.dev.synapse_runner import (
    PortTaken,
    SynapseProcess,
    UserExists,
    free_port,
    make_server_admins,
    password_login,
    register_user,
    write_synapse_config,
)

pytestmark = pytest.mark.synapse

SERVER_NAME = "test.local"


def _write_registration(path: Path) -> dict[str, object]:
    """Write a minimal appservice registration with an exclusive @t_* namespace."""
    reg: dict[str, object] = {
        "id": "t",
        "url": "http://127.0.0.1:1",
        "as_token": secrets.token_urlsafe(24),
        "hs_token": secrets.token_urlsafe(24),
        "sender_localpart": "t_as",
        "namespaces": {
            "users": [{"exclusive": True, "regex": r"@t_.*:test\.local"}],
            "aliases": [],
            "rooms": [],
        },
        "rate_limited": False,
    }
    path.write_text(yaml.safe_dump(reg), encoding="utf-8")
    return reg


class Env:
    """What the module fixture hands to tests: the running server and its appservice."""

    def __init__(self, synapse: SynapseProcess, registration: dict[str, object], reg_path: Path):
        self.synapse = synapse
        self.registration = registration
        self.reg_path = reg_path


@pytest_asyncio.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """One Synapse for the whole module, since startup dominates test time."""
    directory = tmp_path_factory.mktemp("synapse")
    reg_path = directory / "t-registration.yaml"
    registration = _write_registration(reg_path)
    write_synapse_config(
        directory, server_name=SERVER_NAME, port=free_port(), registration_files=[reg_path]
    )
    synapse = SynapseProcess(directory)
    await synapse.start()
    try:
        yield Env(synapse, registration, reg_path)
    finally:
        await synapse.stop()


def test_config_rewrite_keeps_secrets_and_updates_port(tmp_path: Path) -> None:
    """A second write reuses secrets and signing key but takes the new port and registrations."""
    reg = tmp_path / "reg.yaml"
    path = write_synapse_config(tmp_path, server_name=SERVER_NAME, port=1111, registration_files=[])
    first = yaml.safe_load(path.read_text())
    key = (tmp_path / "signing.key").read_text()
    write_synapse_config(tmp_path, server_name=SERVER_NAME, port=2222, registration_files=[reg])
    second = yaml.safe_load(path.read_text())
    assert second["registration_shared_secret"] == first["registration_shared_secret"]
    assert second["macaroon_secret_key"] == first["macaroon_secret_key"]
    assert (tmp_path / "signing.key").read_text() == key
    assert second["listeners"][0]["port"] == 2222
    assert second["public_baseurl"] == "http://127.0.0.1:2222/"
    assert second["app_service_config_files"] == [str(reg.resolve())]


async def test_register_user_and_passwordpassword_login(env: Env) -> None:
    """Shared-secret registration creates a user that can log in with its password."""
    base = env.synapse.base_url
    user_id, token = await register_user(base, env.synapse.shared_secret, "alice", "pw-alice")
    assert user_id == f"@alice:{SERVER_NAME}" and token
    status, body = await password_login(base, "alice", "pw-alice")
    assert status == 200, body
    assert body["user_id"] == user_id


async def test_register_existing_user_raises_user_exists(env: Env) -> None:
    """Registering a taken localpart raises UserExists rather than a generic error."""
    base, secret = env.synapse.base_url, env.synapse.shared_secret
    await register_user(base, secret, "bob", "pw-bob")
    with pytest.raises(UserExists):
        await register_user(base, secret, "bob", "pw-bob")


async def test_make_server_admins_promotes_appservice_user(env: Env) -> None:
    """make_server_admins creates and promotes an exclusive-namespace user, usable via as_token."""
    base = env.synapse.base_url
    bot = f"@t_bot:{SERVER_NAME}"
    as_token = str(env.registration["as_token"])
    await make_server_admins(base, env.synapse.shared_secret, [bot], as_token=as_token)
    # A second call on the now-existing user must also succeed (idempotent).
    await make_server_admins(base, env.synapse.shared_secret, [bot])
    headers = {"Authorization": f"Bearer {as_token}"}
    url = f"{base}/_synapse/admin/v2/users/{quote(bot, safe='')}"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers, params={"user_id": bot}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
    assert body["admin"] is True


async def test_make_server_admins_without_as_token_explains(env: Env) -> None:
    """A missing exclusive-namespace user without as_token fails with an actionable error."""
    with pytest.raises(RuntimeError, match="as_token"):
        await make_server_admins(
            env.synapse.base_url, env.synapse.shared_secret, [f"@t_ghost:{SERVER_NAME}"]
        )


async def test_make_server_admins_creates_plain_user(env: Env) -> None:
    """A missing user outside appservice namespaces is created as admin by the PUT."""
    await make_server_admins(
        env.synapse.base_url, env.synapse.shared_secret, [f"@dave:{SERVER_NAME}"]
    )
    # Inspect dave through a separate admin, since dave has no password to log in with.
    _, token = await register_user(
        env.synapse.base_url, env.synapse.shared_secret, "erin", "pw-erin", admin=True
    )
    url = f"{env.synapse.base_url}/_synapse/admin/v2/users/{quote('@dave:' + SERVER_NAME)}"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
    assert body["admin"] is True


async def test_foreign_server_on_our_port_is_not_taken_for_ours(env: Env, tmp_path: Path) -> None:
    """A second Synapse configured for the port the first one holds (two stacks starting at
    once): the first answers `/versions`, but not as ours, so the start ends in PortTaken
    instead of handing out the other server (whose shared secret gives "HMAC incorrect")."""
    await register_user(env.synapse.base_url, env.synapse.shared_secret, "frank", "pw-frank")
    reg_path = tmp_path / "t-registration.yaml"
    _write_registration(reg_path)
    write_synapse_config(
        tmp_path, server_name=SERVER_NAME, port=env.synapse.port, registration_files=[reg_path]
    )
    second = SynapseProcess(tmp_path)
    try:
        with pytest.raises(PortTaken, match=str(env.synapse.port)):
            await second.start(timeout=60)
    finally:
        await second.stop()
    # The first one still serves its own people.
    status, _ = await password_login(env.synapse.base_url, "frank", "pw-frank")
    assert status == 200


async def test_restart_on_same_directory_keeps_state(env: Env) -> None:
    """Stopping and restarting on the same directory (new port) keeps users and secrets."""
    old = env.synapse
    await register_user(old.base_url, old.shared_secret, "carol", "pw-carol")
    await old.stop()
    assert not old.running
    write_synapse_config(
        old.directory,
        server_name=SERVER_NAME,
        port=free_port(),
        registration_files=[env.reg_path],
    )
    async with SynapseProcess(old.directory) as new:
        assert new.shared_secret == old.shared_secret
        status, body = await password_login(new.base_url, "carol", "pw-carol")
        assert status == 200, body
        with pytest.raises(UserExists):
            await register_user(new.base_url, new.shared_secret, "carol", "x")
