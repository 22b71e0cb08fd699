"""v20: room pictures uploaded to the homeserver's media repository, by their content.

A centre's logo (or the shipped default) is uploaded once; later starts find its mxc:// URI
here, and a changed file (another digest) is uploaded anew.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Uploaded room avatars")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v20(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE room_avatar (
            digest       TEXT PRIMARY KEY,
            mxc          TEXT NOT NULL,
            uploaded_at  BIGINT NOT NULL
        )"""
    )
