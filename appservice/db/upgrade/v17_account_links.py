"""v17: invitation links also serve the "forgot password" reset (one table, one page)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from . import upgrade_table


# mautrix types register() as a union of decorator and result, which mypy cannot call.
@upgrade_table.register(description="Password reset links beside invitations")  # type: ignore[call-arg,arg-type,has-type]
async def upgrade_v17(conn: Connection, scheme: Scheme) -> None:
    # 'invitation': the first password of an account never used (staff hand it over);
    # 'reset': a new password for an account in use, mailed only to the person's confirmed
    # address. A link opens only the page of its own purpose.
    await conn.execute(
        "ALTER TABLE invitation ADD COLUMN purpose TEXT NOT NULL DEFAULT 'invitation'"
    )
