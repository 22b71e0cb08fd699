"""`audit [N]` in the admin's room: newest first, own centre only, admins only."""

from __future__ import annotations

import pytest

from appservice.app import LotseApp
from appservice.dev.client import ask
from tests.conftest import MakeHuman
from tests.test_requests import _service_room

pytestmark = pytest.mark.synapse


async def test_audit_lists_own_centre_newest_first(
    make_human: MakeHuman, running: LotseApp
) -> None:
    bot = running.cfg.assistant_mxid
    admin = await make_human("audit-admin", centre="nord", role="admin")
    counsellor = await make_human("audit-staff", centre="nord", role="counsellor")
    admin_room = await _service_room(admin, bot)
    staff_room = await _service_room(counsellor, bot)
    await running.rows.AuditEntry.record("nord", admin.user_id, "client.lock", "@older:lotse.test")
    await running.rows.AuditEntry.record(
        "nord", admin.user_id, "client.unlock", "@newer:lotse.test"
    )
    await running.rows.AuditEntry.record(
        "south", "@someone:lotse.test", "client.lock", "@southern:lotse.test"
    )

    reply = await ask(admin, admin_room, bot, "audit 2")
    assert "@newer:lotse.test" in reply.body and "@older:lotse.test" in reply.body
    assert reply.body.index("@newer:lotse.test") < reply.body.index("@older:lotse.test")
    assert "@southern" not in reply.body

    bad = await ask(admin, admin_room, bot, "audit viele")
    assert "audit 50" in bad.body

    denied = await ask(counsellor, staff_room, bot, "audit")
    assert "@newer" not in denied.body and "admin" in denied.body.lower()
