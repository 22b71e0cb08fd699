"""SynapseAdmin against the session's real Synapse, acting as the assistant (a server admin)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from appservice.admin_api import AdminApiError, SynapseAdmin
from appservice.dev.synapse_runner import password_login
from tests.conftest import DOMAIN, Stack

pytestmark = pytest.mark.synapse

PASSWORD = "Erste-Hilfe-1!"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def admin(stack: Stack, http: aiohttp.ClientSession) -> SynapseAdmin:
    return SynapseAdmin(
        http, stack.synapse.base_url, stack.cfg.appservice.as_token, stack.cfg.assistant_mxid
    )


def new_user_id(name: str) -> str:
    """A fresh user id outside the appservice's exclusive namespace."""
    return f"@adm-{name}-{secrets.token_hex(4)}:{DOMAIN}"


async def call(
    http: aiohttp.ClientSession,
    stack: Stack,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """A plain client-server API call, so the tests see Synapse's own answers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{stack.synapse.base_url.rstrip('/')}{path}"
    async with http.request(method, url, headers=headers, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def login(
    http: aiohttp.ClientSession, stack: Stack, user_id: str, password: str
) -> tuple[int, dict[str, Any]]:
    return await password_login(stack.synapse.base_url, user_id, password)


async def login_token(http: aiohttp.ClientSession, stack: Stack, user_id: str, pw: str) -> str:
    status, data = await login(http, stack, user_id, pw)
    assert status == 200, data
    return str(data["access_token"])


async def whoami(http: aiohttp.ClientSession, stack: Stack, token: str) -> tuple[int, dict]:
    return await call(http, stack, "GET", "/_matrix/client/v3/account/whoami", token=token)


async def make_user(admin: SynapseAdmin, name: str) -> str:
    user_id = new_user_id(name)
    await admin.create_or_update_user(user_id, password=PASSWORD, displayname=name)
    return user_id


async def test_create_user_and_login(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """A created user can log in; a second PUT updates instead of creating."""
    user_id = new_user_id("create")
    info, created = await admin.create_or_update_user(
        user_id, password=PASSWORD, displayname="Anna"
    )
    assert created
    assert (info.name, info.displayname, info.admin) == (user_id, "Anna", False)
    assert not info.deactivated and not info.locked and not info.erased
    assert info.creation_ts is not None and info.creation_ts < 10**11  # seconds, not ms
    token = await login_token(http, stack, user_id, PASSWORD)

    info, created = await admin.create_or_update_user(user_id, displayname="Anna B.")
    assert not created and info.displayname == "Anna B."
    status, _ = await whoami(http, stack, token)
    assert status == 200  # logout_devices=False keeps the session


async def test_get_user_last_seen(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """get_user reports last_seen_ts (ms) once the user made an authenticated request."""
    user_id = await make_user(admin, "seen")
    before = await admin.get_user(user_id)
    assert before is not None and before.last_seen_ts is None
    token = await login_token(http, stack, user_id, PASSWORD)
    await whoami(http, stack, token)
    for _ in range(50):  # client IPs are written to the database in batches
        after = await admin.get_user(user_id)
        assert after is not None
        if after.last_seen_ts is not None:
            break
        await asyncio.sleep(0.2)
    assert after.last_seen_ts is not None and after.last_seen_ts > 10**12


async def test_device_count_follows_logins(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """No device before the first login, one per login, none after a password change with
    logout; an unknown user has none (the sign Lotse reads for "this account is in use")."""
    user_id = await make_user(admin, "devices")
    assert await admin.device_count(user_id) == 0
    await login_token(http, stack, user_id, PASSWORD)
    await login_token(http, stack, user_id, PASSWORD)
    assert await admin.device_count(user_id) == 2
    await admin.set_password(user_id, "Neues-Passwort-3?", logout_devices=True)
    assert await admin.device_count(user_id) == 0
    assert await admin.device_count(new_user_id("ghost")) == 0


async def test_get_unknown_user_is_none(admin: SynapseAdmin) -> None:
    """A user Synapse does not know is None, not an error."""
    assert await admin.get_user(new_user_id("ghost")) is None


async def test_set_password(admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack) -> None:
    """After set_password the old password fails, the new works, old sessions are gone."""
    user_id = await make_user(admin, "pw")
    token = await login_token(http, stack, user_id, PASSWORD)
    await admin.set_password(user_id, "Neues-Passwort-2?")

    status, data = await login(http, stack, user_id, PASSWORD)
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN")
    await login_token(http, stack, user_id, "Neues-Passwort-2?")
    status, data = await whoami(http, stack, token)
    assert (status, data["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_set_password_unknown_user(admin: SynapseAdmin) -> None:
    """set_password does not silently create a missing user (the PUT would)."""
    user_id = new_user_id("nobody")
    with pytest.raises(AdminApiError) as err:
        await admin.set_password(user_id, PASSWORD)
    assert (err.value.status, err.value.errcode) == (404, "M_NOT_FOUND")
    assert await admin.get_user(user_id) is None


async def test_lock_and_unlock(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """A locked user cannot log in nor use a token (401 M_USER_LOCKED); unlock restores both."""
    user_id = await make_user(admin, "lock")
    token = await login_token(http, stack, user_id, PASSWORD)
    await admin.lock(user_id)

    info = await admin.get_user(user_id)
    assert info is not None and info.locked and not info.deactivated
    status, data = await login(http, stack, user_id, PASSWORD)
    assert (status, data["errcode"]) == (401, "M_USER_LOCKED")
    status, data = await whoami(http, stack, token)
    assert (status, data["errcode"], data.get("soft_logout")) == (401, "M_USER_LOCKED", True)

    await admin.unlock(user_id)
    info = await admin.get_user(user_id)
    assert info is not None and not info.locked
    await login_token(http, stack, user_id, PASSWORD)
    status, _ = await whoami(http, stack, token)
    assert status == 200


async def test_deactivate_with_erase(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """Deactivation with erase ends login and marks the account deactivated and erased."""
    user_id = await make_user(admin, "gone")
    token = await login_token(http, stack, user_id, PASSWORD)
    await admin.deactivate(user_id, erase=True)

    info = await admin.get_user(user_id)
    assert info is not None and info.deactivated and info.erased
    status, data = await login(http, stack, user_id, PASSWORD)
    # Synapse drops the password hash on deactivation, so the login never reaches its
    # M_USER_DEACTIVATED check: 403 M_FORBIDDEN "Invalid username or password".
    assert (status, data["errcode"]) == (403, "M_FORBIDDEN"), data
    status, data = await whoami(http, stack, token)
    assert (status, data["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_redact_user_events(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """redact_user_events returns an id whose task completes and empties the user's message."""
    user_id = await make_user(admin, "redact")
    token = await login_token(http, stack, user_id, PASSWORD)
    status, room = await call(
        http, stack, "POST", "/_matrix/client/v3/createRoom", token=token, body={}
    )
    assert status == 200, room
    room_id = room["room_id"]
    status, sent = await call(
        http,
        stack,
        "PUT",
        f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{secrets.token_hex(4)}",
        token=token,
        body={"msgtype": "m.text", "body": "private detail"},
    )
    assert status == 200, sent

    redact_id = await admin.redact_user_events(user_id, reason="deletion routine")
    assert redact_id
    for _ in range(100):
        progress = await admin.redact_status(redact_id)
        if progress.status in ("complete", "failed"):
            break
        await asyncio.sleep(0.1)
    assert progress.status == "complete", progress
    status, event = await call(
        http,
        stack,
        "GET",
        f"/_matrix/client/v3/rooms/{room_id}/event/{sent['event_id']}",
        token=token,
    )
    assert status == 200 and event["content"] == {}, event


async def test_delete_user_media(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """delete_user_media removes what the user uploaded and reports how many."""
    user_id = await make_user(admin, "media")
    token = await login_token(http, stack, user_id, PASSWORD)
    url = f"{stack.synapse.base_url.rstrip('/')}/_matrix/media/v3/upload?filename=a.txt"
    for _ in range(2):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
        async with http.post(url, data=b"secret notes", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
    assert await admin.delete_user_media(user_id) == 2
    assert await admin.delete_user_media(user_id) == 0


async def test_delete_room(admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack) -> None:
    """delete_room kicks the members and purges the room; its status ends complete."""
    user_id = await make_user(admin, "room")
    token = await login_token(http, stack, user_id, PASSWORD)
    status, room = await call(
        http, stack, "POST", "/_matrix/client/v3/createRoom", token=token, body={}
    )
    assert status == 200, room
    room_id = room["room_id"]

    delete_id = await admin.delete_room(room_id)
    for _ in range(100):
        progress = await admin.room_delete_status(delete_id)
        if progress.done:
            break
        await asyncio.sleep(0.1)
    assert (progress.status, progress.room_id, progress.delete_id) == (
        "complete",
        room_id,
        delete_id,
    )
    assert progress.shutdown_room is not None
    assert user_id in progress.shutdown_room["kicked_users"]
    status, joined = await call(http, stack, "GET", "/_matrix/client/v3/joined_rooms", token=token)
    assert status == 200 and room_id not in joined["joined_rooms"]


async def test_is_admin(admin: SynapseAdmin, stack: Stack) -> None:
    """The assistant is a server admin; an ordinary user is not."""
    assert await admin.is_admin(stack.cfg.assistant_mxid)
    assert not await admin.is_admin(await make_user(admin, "plain"))


async def test_list_users_by_name(admin: SynapseAdmin) -> None:
    """list_users searches by name= (user_id= is the masquerade parameter, not a filter)."""
    user_id = await make_user(admin, "listme")
    localpart = user_id[1:].split(":", 1)[0]
    page = await admin.list_users(localpart)
    assert [u.name for u in page.users] == [user_id] and page.total == 1
    with pytest.raises(ValueError):
        await admin.list_users("")


async def test_errors_carry_status_and_errcode(
    admin: SynapseAdmin, http: aiohttp.ClientSession, stack: Stack
) -> None:
    """Failures raise AdminApiError with Synapse's status, errcode and message."""
    with pytest.raises(AdminApiError) as err:
        await admin.deactivate(new_user_id("missing"))
    assert (err.value.status, err.value.errcode) == (404, "M_NOT_FOUND")

    with pytest.raises(AdminApiError) as err:
        await admin.create_or_update_user(new_user_id("long"), password="Aa1!" * 129)
    assert (err.value.status, err.value.errcode) == (400, "M_UNKNOWN")
    assert "Invalid password" in str(err.value)

    with pytest.raises(AdminApiError) as err:
        await admin.get_user("@someone:elsewhere.example")
    assert err.value.status == 400

    with pytest.raises(AdminApiError) as err:
        await admin.delete_room("not-a-room-id")
    assert (err.value.status, err.value.errcode) == (400, "M_UNKNOWN")

    bad = SynapseAdmin(http, stack.synapse.base_url, "wrong-token", stack.cfg.assistant_mxid)
    with pytest.raises(AdminApiError) as err:
        await bad.is_admin(stack.cfg.assistant_mxid)
    assert (err.value.status, err.value.errcode) == (401, "M_UNKNOWN_TOKEN")
