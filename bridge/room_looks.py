"""How Lotse's rooms look in a person's room list: name, topic and picture.

A client's Element should read "Mein Zugang – Beratungsstelle Nord", not a room id. Names and
topics come from the bot templates in the language of the person the room is for (the
centre's language for rooms of many); the picture is the centre's logo from the config, or
the compass shipped in ``templates/avatar.png``. Each picture is uploaded to the media
repository once (its mxc:// URI kept in ``room_avatar`` by content) and set in the room's
initial state, so the room never shows up without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixError, MNotFound
from mautrix.types import EventType, RoomID

from appservice.config import CentreConfig, Config
from appservice.config_centres import avatar_type
from appservice.db import Person, Rows
from appservice.i18n import LANGUAGES, Renderer

log = logging.getLogger("lotse.room_looks")


@dataclass(frozen=True)
class Look:
    """A room's name, topic and picture (an mxc:// URI; None: none)."""

    name: str
    topic: str = ""
    avatar: str | None = None

    def initial_state(self) -> list[dict[str, Any]]:
        """The picture as part of the room's creation (name and topic have their own fields)."""
        if not self.avatar:
            return []
        content = {"url": self.avatar}
        return [{"type": str(EventType.ROOM_AVATAR), "state_key": "", "content": content}]


class RoomLooks:
    """Renders each kind of room's look; ``prepare`` uploads the pictures first."""

    def __init__(self, cfg: Config, rows: Rows, renderer: Renderer, uploader: IntentAPI) -> None:
        self.rows = rows
        self.cfg = cfg
        self.renderer = renderer
        self.uploader = uploader
        self._avatars: dict[str, str] = {}

    async def prepare(self) -> None:
        """Each centre's picture on the homeserver (uploaded once per content); a failing
        upload leaves that centre's rooms without a picture rather than Lotse without a start."""
        for centre in self.cfg.centres:
            try:
                self._avatars[centre.id] = await self._media(centre.avatar)
            except (OSError, MatrixError) as e:
                log.error("the room picture of centre %s is not available: %s", centre.id, e)

    async def _media(self, source: str) -> str:
        if source.startswith("mxc://"):
            return source
        data = Path(source).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        known = await self.rows.RoomAvatar.get(digest)
        if known is not None:
            return known
        mxc = await self.uploader.upload_media(
            data, mime_type=avatar_type(data), filename=Path(source).name
        )
        log.info("uploaded room picture %s as %s", source, mxc)
        return await self.rows.RoomAvatar.put(digest, str(mxc))

    def avatar(self, centre_id: str) -> str | None:
        return self._avatars.get(centre_id)

    def _centre(self, centre_id: str) -> CentreConfig:
        centre = self.cfg.centre(centre_id)
        return centre if centre is not None else self.cfg.centres[0]

    def _look(self, lang: str, centre: CentreConfig, room: str, **variables: Any) -> Look:
        texts = {
            part: self.renderer.render(
                lang, f"{room}_room_{part}", centre_name=centre.name, **variables
            )
            for part in ("name", "topic")
        }
        return Look(texts["name"], texts["topic"], self.avatar(centre.id))

    def language_of(self, person: Person) -> str:
        return person.language or self._centre(person.centre_id).language

    def service_room(self, person: Person) -> Look:
        """ "Mein Zugang – <centre>": the person's own room with the assistant."""
        centre = self._centre(person.centre_id)
        return self._look(self.language_of(person), centre, "service", role=person.role)

    def service_rooms_signature(self) -> str:
        """Changes whenever any service room's look would: a centre's name, language or
        picture, or the templates. Stored after all rooms were given their look."""
        looks = [
            self.service_room(
                self.rows.Person(user_id="", centre_id=centre.id, role=role, language=lang)
            )
            for centre in self.cfg.centres
            for lang in LANGUAGES
            for role in ("client", "counsellor", "admin")
        ]
        text = json.dumps([[look.name, look.topic, look.avatar] for look in looks])
        return hashlib.sha256(text.encode()).hexdigest()

    def counselling_room(self, client: Person, request_id: int) -> Look:
        """Named for the client (stable across transfers) in the client's language."""
        centre = self._centre(client.centre_id)
        return self._look(
            self.language_of(client), centre, "counselling", pseudonym=client.name, id=request_id
        )

    def group_room(self, centre_id: str, name: str, description: str) -> Look:
        """The group's own name; its description, or a default topic, in the centre's language."""
        centre = self._centre(centre_id)
        topic = description or self.renderer.render(
            centre.language, "group_room_topic", centre_name=centre.name, group=name
        )
        return Look(name, topic, self.avatar(centre_id))

    def centre_room(self, centre: CentreConfig, kind: str, identity: str) -> Look:
        return self._look(centre.language, centre, "centre", kind=kind, identity=identity)

    async def apply(self, intent: IntentAPI, room_id: RoomID, look: Look) -> bool:
        """Give an existing room ``look`` where it differs; True if anything changed."""
        wanted: list[tuple[EventType, str, dict[str, Any]]] = [
            (EventType.ROOM_NAME, "name", {"name": look.name}),
            (EventType.ROOM_TOPIC, "topic", {"topic": look.topic}),
        ]
        if look.avatar:
            wanted.append((EventType.ROOM_AVATAR, "url", {"url": look.avatar}))
        changed = False
        for event_type, field, content in wanted:
            try:
                current = await intent.get_state_event(room_id, event_type)
            except MNotFound:
                current = None
            if getattr(current, field, None) != content[field]:
                await intent.send_state_event(room_id, event_type, content)
                changed = True
        return changed
