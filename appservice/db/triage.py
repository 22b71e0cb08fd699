"""Rows of ``triage_dialogue``: where a client is in the questions before their request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from mautrix.util.async_db import Database

from .rows import rows_changed


@dataclass
class TriageDialogue:
    """One client's open triage; answers are option ids (``topic``, ``language``, ``channel``)."""

    db: ClassVar[Database]
    _columns: ClassVar[str] = (
        "client_id, centre_id, step, topic, language, channel, started_at, poll_event_id"
    )

    client_id: str
    centre_id: str
    step: str
    topic: str | None = None
    language: str | None = None
    channel: str | None = None
    started_at: int = 0
    # The poll offering the current question (MSC3381); a vote on another poll is stale.
    poll_event_id: str | None = None

    @classmethod
    async def get(cls, client_id: str) -> TriageDialogue | None:
        q = f"SELECT {cls._columns} FROM triage_dialogue WHERE client_id=$1"
        row = await cls.db.fetchrow(q, client_id)
        if row is None:
            return None
        return cls(**{k: row[k] for k in cls._columns.split(", ")})

    @classmethod
    async def start(cls, client_id: str, centre_id: str, step: str) -> bool:
        """Open a dialogue at ``step``; False if the client already has one (races too)."""
        q = (
            "INSERT INTO triage_dialogue (client_id, centre_id, step, started_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        )
        result = await cls.db.execute(q, client_id, centre_id, step, int(time.time() * 1000))
        return rows_changed(result) == 1

    async def answer(self, field: str, value: str, next_step: str) -> bool:
        """Record the answer to the current step and move on; False if the step moved already."""
        if field not in ("topic", "language", "channel"):
            raise ValueError(f"not a triage answer: {field}")
        q = (
            f"UPDATE triage_dialogue SET {field}=$3, step=$4, poll_event_id=NULL "
            "WHERE client_id=$1 AND step=$2"
        )
        result = await self.db.execute(q, self.client_id, self.step, value, next_step)
        if rows_changed(result) != 1:
            return False
        setattr(self, field, value)
        self.step = next_step
        self.poll_event_id = None
        return True

    async def set_poll(self, poll_event_id: str) -> bool:
        """Tie a poll to the current step; False if the dialogue moved on or ended meanwhile."""
        q = "UPDATE triage_dialogue SET poll_event_id=$3 WHERE client_id=$1 AND step=$2"
        result = await self.db.execute(q, self.client_id, self.step, poll_event_id)
        if rows_changed(result) != 1:
            return False
        self.poll_event_id = poll_event_id
        return True

    @classmethod
    async def finish(cls, client_id: str) -> bool:
        """Remove the dialogue (done or cancelled); False if it was already gone."""
        result = await cls.db.execute("DELETE FROM triage_dialogue WHERE client_id=$1", client_id)
        return rows_changed(result) == 1
