"""A fallback counsellor who is deactivated or deleted: the admins are warned when it happens
and in `settings` until they choose another; such a person cannot be chosen as fallback.
(That the assignment policy skips them is in tests/test_assignment.py.)"""

from __future__ import annotations

import pytest

from appservice.app import LotseApp
from appservice.dev.client import ask
from tests.conftest import MakeHuman
from tests.test_clients import staff

pytestmark = pytest.mark.synapse


async def test_dead_fallback_is_warned_about_and_refused(
    make_human: MakeHuman, running: LotseApp
) -> None:
    bot = running.cfg.assistant_mxid
    admin, admin_room = await staff(make_human, bot, "fallbackchefin", "admin")
    fallback = await make_human("fallbackberater", centre="nord", role="counsellor")
    other = await make_human("anderer", centre="nord", role="counsellor")
    south_admin, south_room = await staff(make_human, bot, "southchief", "admin", centre="south")
    try:
        saved = await ask(
            admin, admin_room, bot, f"einstellungen fallback_counsellor={fallback.user_id}"
        )
        assert "Gespeichert" in saved.body and fallback.user_id in saved.body
        assert "⚠" not in saved.body

        # Another centre cannot name this counsellor, nor see a warning about them.
        foreign = await ask(
            south_admin, south_room, bot, f"settings fallback_counsellor={fallback.user_id}"
        )
        assert "not a counsellor of your centre" in foreign.body

        locked = await ask(admin, admin_room, bot, f"berater deaktivieren {fallback.user_id}")
        assert "deaktiviert" in locked.body and "Fallback-Beratung" in locked.body
        assert "einstellungen fallback_counsellor=" in locked.body
        shown = await ask(admin, admin_room, bot, "einstellungen")
        assert "⚠" in shown.body and "deaktiviert" in shown.body
        south_shown = await ask(south_admin, south_room, bot, "settings")
        assert "⚠" not in south_shown.body and fallback.user_id not in south_shown.body

        # Choosing a deactivated counsellor is refused and changes nothing.
        await ask(admin, admin_room, bot, "einstellungen fallback_counsellor=-")
        refused = await ask(
            admin, admin_room, bot, f"einstellungen fallback_counsellor={fallback.user_id}"
        )
        assert "deaktiviert" in refused.body and "Nichts wurde geändert" in refused.body
        assert not (await running.assistant.services.settings("nord")).fallback_counsellor

        active = await ask(admin, admin_room, bot, f"berater aktivieren {fallback.user_id}")
        assert "wieder aktiv" in active.body and "Fallback" not in active.body
        await ask(admin, admin_room, bot, f"einstellungen fallback_counsellor={fallback.user_id}")
        fine = await ask(admin, admin_room, bot, "einstellungen")
        assert "⚠" not in fine.body

        # Deactivating someone who is not the fallback gives no warning.
        plain = await ask(admin, admin_room, bot, f"berater deaktivieren {other.user_id}")
        assert "deaktiviert" in plain.body and "Fallback" not in plain.body

        deleted = await ask(admin, admin_room, bot, f"berater loeschen {fallback.user_id}")
        assert "Löschen vorgemerkt" in deleted.body and "Fallback-Beratung" in deleted.body
        shown = await ask(admin, admin_room, bot, "einstellungen")
        assert "⚠" in shown.body and "gelöscht" in shown.body
        await ask(admin, admin_room, bot, "einstellungen fallback_counsellor=-")
        refused = await ask(
            admin, admin_room, bot, f"einstellungen fallback_counsellor={fallback.user_id}"
        )
        assert "gelöscht" in refused.body and "Nichts wurde geändert" in refused.body
        cleared = await ask(admin, admin_room, bot, "einstellungen")
        assert "⚠" not in cleared.body
    finally:
        await ask(admin, admin_room, bot, "einstellungen fallback_counsellor=-")
