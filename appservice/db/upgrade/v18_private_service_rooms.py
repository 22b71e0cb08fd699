"""v18: service rooms that must be replaced, and what to tell the person in the new one.

Every service room made before this version was created with the ``trusted_private_chat``
preset (or by the person): in room version 12 the person is then a creator of the room, may
invite others and can never be demoted. Such a room cannot be repaired in place, so each one
is marked here; a job replaces it with a room only the assistant manages (bridge/service_rooms.py).
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Private service rooms")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v18(conn: Connection, scheme: Scheme) -> None:
    # Why the current service room must be replaced ("upgrade": made before v18, "others":
    # someone else appeared in it); NULL when it is fine. Set before the old room is left,
    # so a replacement cut short by a restart is finished by the next run of the job.
    await conn.execute("ALTER TABLE person ADD COLUMN service_room_renew TEXT")
    # What the person is told when they join their new room (the same reasons); NULL: nothing.
    await conn.execute("ALTER TABLE person ADD COLUMN service_room_notice TEXT")
    await conn.execute(
        "UPDATE person SET service_room_renew='upgrade' WHERE service_room_id IS NOT NULL"
    )
