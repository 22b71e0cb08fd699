"""v27: a counsellor's own video link ("Videoberatung über externe Software").

When set, that counsellor's video appointments carry this link instead of a Jitsi room. It is
checked (https, a host, no credentials) by ``bots.booking.video.check_link`` before it is
stored; one row per counsellor, deleted by ``videolink clear``.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Counsellors' own video links")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v27(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE counsellor_video_link (
            counsellor  TEXT PRIMARY KEY,
            url         TEXT NOT NULL,
            set_at      BIGINT NOT NULL
        )"""
    )
