"""Video appointments' links: an unguessable Jitsi room, or the counsellor's own link.

A Jitsi room is open to whoever knows its name, so the name is the secret: 128 random bits
in lower-case hex, because Jitsi folds room names to lower case (mixed-case base64 would
lose bits there). A counsellor who uses other software ("Videoberatung über externe
Software") keeps a static https link in their profile, checked here before it is stored.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from urllib.parse import urlsplit

from .model import Channel

__all__ = ["LinkProblem", "check_link", "jitsi_url", "new_room_name", "video_link"]

ROOM_BYTES = 16
MAX_URL = 500


class LinkProblem(StrEnum):
    TOO_LONG = "link_too_long"
    NOT_HTTPS = "link_not_https"
    NO_HOST = "link_no_host"
    CREDENTIALS = "link_with_credentials"
    BAD_CHARACTERS = "link_bad_characters"


def new_room_name() -> str:
    """A fresh room name; each video appointment gets its own, stored with it."""
    return secrets.token_hex(ROOM_BYTES)


def jitsi_url(base_url: str, room: str) -> str:
    """``https://meet.example.org`` (config) + room name → the room's link."""
    return f"{base_url.rstrip('/')}/{room}"


def check_link(url: str) -> LinkProblem | None:
    """A link people will open: https, a host, no password in it, nothing invisible."""
    if len(url) > MAX_URL:
        return LinkProblem.TOO_LONG
    if any(c.isspace() or not c.isprintable() for c in url):
        return LinkProblem.BAD_CHARACTERS
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return LinkProblem.NO_HOST
    if parts.scheme.lower() != "https":
        return LinkProblem.NOT_HTTPS
    if not host:
        return LinkProblem.NO_HOST
    if parts.username is not None or parts.password is not None:
        return LinkProblem.CREDENTIALS
    return None


def video_link(
    channel: Channel, *, room: str, base_url: str | None, external_url: str | None
) -> str | None:
    """The link of an appointment: none unless video; the counsellor's own link wins.

    Without either a Jitsi base URL in the config or an own link there is none, and the
    wiring says so to the counsellor instead of sending a broken link.
    """
    if channel != "video":
        return None
    if external_url:
        return external_url
    if base_url:
        return jitsi_url(base_url, room)
    return None
