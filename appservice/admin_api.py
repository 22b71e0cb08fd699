"""A small async client of the Synapse admin API, used by the assistant bot.

The assistant is a server admin, so the appservice token plus ``?user_id=<assistant>``
(appservice masquerading) is enough to call the admin API; no password or separate
admin token is stored. Every path and body below was checked against Synapse 1.163
(``synapse/rest/admin/users.py``, ``rooms.py``, ``media.py``).

With Matrix Authentication Service (MAS) in front of Synapse the user-creation and
password parts of this API are disabled; Lotse's password flows need Synapse's own auth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

JsonDict = dict[str, Any]


class AdminApiError(Exception):
    """An admin API call failed: the HTTP status, the Matrix errcode and Synapse's message."""

    def __init__(self, status: int, errcode: str, message: str) -> None:
        super().__init__(f"Synapse admin API error {status} {errcode}: {message}")
        self.status = status
        self.errcode = errcode
        self.message = message


@dataclass(frozen=True)
class UserInfo:
    """What Lotse needs of ``GET /_synapse/admin/v2/users/<user_id>``."""

    name: str
    displayname: str | None
    admin: bool
    deactivated: bool
    locked: bool
    erased: bool
    creation_ts: int | None
    """*Seconds* since the epoch (Synapse stores and returns seconds here)."""
    last_seen_ts: int | None
    """*Milliseconds* since the epoch; ``None`` before the first authenticated request."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserInfo:
        return cls(
            name=str(data["name"]),
            displayname=data.get("displayname"),
            admin=bool(data.get("admin")),
            deactivated=bool(data.get("deactivated")),
            locked=bool(data.get("locked")),
            erased=bool(data.get("erased")),
            creation_ts=data.get("creation_ts"),
            last_seen_ts=data.get("last_seen_ts"),
        )


@dataclass(frozen=True)
class UserList:
    """One page of the user list; ``next_token`` is the ``from`` of the next page."""

    users: list[UserInfo]
    total: int
    next_token: str | None


@dataclass(frozen=True)
class RoomDeleteStatus:
    """State of an asynchronous room deletion (``scheduled``, ``active``, ``complete``,
    ``failed``)."""

    delete_id: str
    room_id: str
    status: str
    shutdown_room: JsonDict | None = field(default=None)
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("complete", "failed")


@dataclass(frozen=True)
class RedactStatus:
    """State of a background user redaction; ``failed_redactions`` maps event id to reason."""

    status: str
    failed_redactions: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _q(value: str) -> str:
    """Percent-encode one path segment (``@``, ``:`` and ``!`` included)."""
    return quote(value, safe="")


class SynapseAdmin:
    """Admin API calls made as the assistant bot through the appservice token."""

    def __init__(
        self, http: aiohttp.ClientSession, homeserver: str, as_token: str, as_user: str
    ) -> None:
        self._http = http
        self._base = homeserver.rstrip("/")
        self._headers = {"Authorization": f"Bearer {as_token}"}
        self._as_user = as_user

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: JsonDict | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, JsonDict]:
        """One call; every request masquerades as the assistant via ``?user_id=``."""
        query = {"user_id": self._as_user, **(params or {})}
        async with self._http.request(
            method,
            f"{self._base}{path}",
            headers=self._headers,
            params=query,
            json=body,
        ) as resp:
            try:
                data = await resp.json(content_type=None)
            except (aiohttp.ContentTypeError, ValueError):
                data = None
            if not isinstance(data, dict):
                data = {}
            if resp.status >= 400:
                raise AdminApiError(
                    resp.status,
                    str(data.get("errcode", "M_UNKNOWN")),
                    str(data.get("error", resp.reason or "no error message")),
                )
            return resp.status, data

    # --- accounts in the appservice's own namespace (anonymous live chat) ----------------------

    async def register_namespace_user(self, localpart: str) -> str:
        """Register ``@localpart`` in the appservice's exclusive namespace, without a password
        and without logging in (no device); the Matrix id. Taken: AdminApiError M_USER_IN_USE.

        The admin API refuses to create users there (M_EXCLUSIVE); the appservice registers
        them itself (``m.login.application_service``), as it does its bots.
        """
        _, data = await self._request(
            "POST",
            "/_matrix/client/v3/register",
            body={
                "type": "m.login.application_service",
                "username": localpart,
                "inhibit_login": True,
            },
        )
        return str(data["user_id"])

    async def set_displayname(self, user_id: str, name: str) -> None:
        """Set the display name of a user of the appservice's namespace, as that user."""
        await self._request(
            "PUT",
            f"/_matrix/client/v3/profile/{_q(user_id)}/displayname",
            body={"displayname": name},
            params={"user_id": user_id},
        )

    async def login_token(self, user_id: str) -> tuple[str, int]:
        """A one-time ``m.login.token`` for a user of the appservice's namespace:
        ``(token, valid_ms)``.

        ``POST /_matrix/client/v1/login/get_token`` as that user (the appservice masquerades,
        so no device is made). Synapse offers it only with ``login_via_existing_session:
        {enabled: true, require_ui_auth: false}`` (docs/live-chat.md); otherwise 404.
        """
        _, data = await self._request(
            "POST", "/_matrix/client/v1/login/get_token", body={}, params={"user_id": user_id}
        )
        return str(data["login_token"]), int(data.get("expires_in_ms", 0))

    # --- users -------------------------------------------------------------------------------

    async def create_or_update_user(
        self,
        user_id: str,
        *,
        password: str | None = None,
        displayname: str | None = None,
        logout_devices: bool = False,
    ) -> tuple[UserInfo, bool]:
        """Create the user or change it; return ``(info, created)`` (201 vs 200 from Synapse).

        Synapse refuses to create users in an exclusive appservice namespace (M_EXCLUSIVE).
        """
        body: JsonDict = {"logout_devices": logout_devices}
        if password is not None:
            body["password"] = password
        if displayname is not None:
            body["displayname"] = displayname
        status, data = await self._request(
            "PUT", f"/_synapse/admin/v2/users/{_q(user_id)}", body=body
        )
        return UserInfo.from_json(data), status == 201

    async def set_password(self, user_id: str, password: str, logout_devices: bool = True) -> None:
        """Set a new password; by default all the user's devices are logged out.

        Uses the v2 PUT, not ``/v1/reset_password``: the PUT would silently *create* a missing
        user, so the user is looked up first.
        """
        if await self.get_user(user_id) is None:
            raise AdminApiError(404, "M_NOT_FOUND", f"User {user_id} not found")
        await self._request(
            "PUT",
            f"/_synapse/admin/v2/users/{_q(user_id)}",
            body={"password": password, "logout_devices": logout_devices},
        )

    async def get_user(self, user_id: str) -> UserInfo | None:
        """The user's account data, or ``None`` if Synapse does not know it."""
        try:
            _, data = await self._request("GET", f"/_synapse/admin/v2/users/{_q(user_id)}")
        except AdminApiError as e:
            if e.status == 404:
                return None
            raise
        return UserInfo.from_json(data)

    async def device_count(self, user_id: str) -> int:
        """How many devices (login sessions) the user has now; 0 for an unknown user.

        Every password login makes a device, so an account that has one has been used.
        """
        path = f"/_synapse/admin/v2/users/{_q(user_id)}/devices"
        try:
            _, data = await self._request("GET", path)
        except AdminApiError as e:
            if e.status == 404:
                return 0
            raise
        return int(data.get("total", len(data.get("devices", []))))

    async def logout_everywhere(self, user_id: str) -> int:
        """Delete every device (login session) of the user; returns how many there were.

        Their access tokens die with the devices, so every client of theirs is logged out.
        """
        path = f"/_synapse/admin/v2/users/{_q(user_id)}/devices"
        _, data = await self._request("GET", path)
        devices = [str(d["device_id"]) for d in data.get("devices", []) if "device_id" in d]
        if devices:
            await self._request(
                "POST",
                f"/_synapse/admin/v2/users/{_q(user_id)}/delete_devices",
                body={"devices": devices},
            )
        return len(devices)

    async def list_users(
        self,
        name: str,
        *,
        start: int = 0,
        limit: int = 100,
        deactivated: bool = False,
        locked: bool = True,
    ) -> UserList:
        """Users whose localpart or display name contains ``name`` (case-insensitive).

        ``user_id`` on ``GET /v2/users`` is both the appservice masquerade parameter and a
        user-id filter. In Synapse 1.163 (``get_users_paginate``) the ``user_id`` filter is
        *ignored when ``name`` is non-empty*, so a non-empty ``name`` is required here;
        with an empty one the list would only contain the assistant itself. ``name`` is put
        into SQL ``LIKE`` unescaped, so ``_`` and ``%`` act as wildcards.
        """
        if not name:
            raise ValueError("list_users needs a non-empty search term (see docstring)")
        params = {
            "name": name,
            "from": str(start),
            "limit": str(limit),
            "deactivated": "true" if deactivated else "false",
            "locked": "true" if locked else "false",
        }
        _, data = await self._request("GET", "/_synapse/admin/v2/users", params=params)
        return UserList(
            users=[UserInfo.from_json(u) for u in data.get("users", [])],
            total=int(data.get("total", 0)),
            next_token=data.get("next_token"),
        )

    async def is_admin(self, user_id: str) -> bool:
        """Whether ``user_id`` is a server admin."""
        _, data = await self._request("GET", f"/_synapse/admin/v1/users/{_q(user_id)}/admin")
        return bool(data.get("admin"))

    async def _set_locked(self, user_id: str, locked: bool) -> None:
        if await self.get_user(user_id) is None:
            raise AdminApiError(404, "M_NOT_FOUND", f"User {user_id} not found")
        await self._request(
            "PUT", f"/_synapse/admin/v2/users/{_q(user_id)}", body={"locked": locked}
        )

    async def lock(self, user_id: str) -> None:
        """Lock the account: login and existing tokens get 401 ``M_USER_LOCKED``."""
        await self._set_locked(user_id, True)

    async def unlock(self, user_id: str) -> None:
        """Undo :meth:`lock`; existing access tokens work again."""
        await self._set_locked(user_id, False)

    async def deactivate(self, user_id: str, erase: bool = True) -> None:
        """Deactivate (and by default GDPR-erase) the account; irreversible with erase.

        Erase hides the user's messages from people who join later, but not from those who
        saw them; use :meth:`redact_user_events` and :meth:`delete_user_media` for that.
        """
        await self._request(
            "POST", f"/_synapse/admin/v1/deactivate/{_q(user_id)}", body={"erase": erase}
        )

    async def redact_user_events(self, user_id: str, *, reason: str | None = None) -> str:
        """Start redacting all the user's events in all rooms they are in or banned from;
        return the redact id for :meth:`redact_status`.

        Call it *before* :meth:`deactivate`: with ``rooms: []`` Synapse picks the rooms the
        user is currently joined to, and deactivation makes the user leave them all.
        """
        body: JsonDict = {"rooms": []}
        if reason is not None:
            body["reason"] = reason
        _, data = await self._request(
            "POST", f"/_synapse/admin/v1/user/{_q(user_id)}/redact", body=body
        )
        return str(data["redact_id"])

    async def redact_status(self, redact_id: str) -> RedactStatus:
        """Progress of :meth:`redact_user_events`."""
        _, data = await self._request(
            "GET", f"/_synapse/admin/v1/user/redact_status/{_q(redact_id)}"
        )
        return RedactStatus(
            status=str(data.get("status")),
            failed_redactions=dict(data.get("failed_redactions") or {}),
            error=data.get("error"),
        )

    async def delete_user_media(self, user_id: str) -> int:
        """Delete all media the user uploaded; return how many were deleted.

        Synapse deletes at most ``limit`` items per call, so this loops until none are left.
        """
        deleted = 0
        while True:
            _, data = await self._request(
                "DELETE",
                f"/_synapse/admin/v1/users/{_q(user_id)}/media",
                params={"limit": "100"},
            )
            count = len(data.get("deleted_media", []))
            deleted += count
            if count == 0 or int(data.get("total", 0)) <= count:
                return deleted

    async def delete_media(self, mxc: str) -> None:
        """Delete one local file from the media repository (``mxc://server/media_id``)."""
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        if not server or not media_id:
            raise ValueError("not an mxc URI")
        await self._request("DELETE", f"/_synapse/admin/v1/media/{_q(server)}/{_q(media_id)}")

    # --- rooms -------------------------------------------------------------------------------

    async def delete_room(self, room_id: str, purge: bool = True, block: bool = False) -> str:
        """Start the asynchronous shutdown (kick all local users) and purge of a room;
        return the delete id for :meth:`room_delete_status`."""
        _, data = await self._request(
            "DELETE",
            f"/_synapse/admin/v2/rooms/{_q(room_id)}",
            body={"purge": purge, "block": block},
        )
        return str(data["delete_id"])

    async def room_delete_status(self, delete_id: str) -> RoomDeleteStatus:
        """Progress of :meth:`delete_room`."""
        _, data = await self._request(
            "GET", f"/_synapse/admin/v2/rooms/delete_status/{_q(delete_id)}"
        )
        return RoomDeleteStatus(
            delete_id=str(data.get("delete_id", delete_id)),
            room_id=str(data.get("room_id", "")),
            status=str(data.get("status")),
            shutdown_room=data.get("shutdown_room"),
            error=data.get("error"),
        )
