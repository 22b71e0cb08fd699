"""Confirmation codes on SQLite and PostgreSQL: only the right, unexpired code is used up;
a wrong one changes nothing; the table holds a keyed hash, never the code."""

from __future__ import annotations

from tests.conftest import opened

KEY = b"k" * 32
USER = "@wolke:lotse.test"


async def test_codes(database_url: str) -> None:
    async with opened(database_url) as db:
        assert await db.rows.AccountCode.check(KEY, USER, "delete-account", "ABC234", 0) == "none"
        await db.rows.AccountCode.issue(KEY, USER, "delete-account", "ABC234", 1000)
        stored = await db.main.fetchval("SELECT code_hash FROM account_code")
        assert "ABC234" not in stored.upper()
        assert await db.rows.AccountCode.check(KEY, USER, "delete-account", "ABC235", 10) == "wrong"
        assert (
            await db.rows.AccountCode.check(b"x" * 32, USER, "delete-account", "ABC234", 10)
            == "wrong"
        )
        assert (
            await db.rows.AccountCode.check(KEY, "@other:x", "delete-account", "ABC234", 10)
            == "none"
        )
        assert (
            await db.rows.AccountCode.check(KEY, USER, "delete-account", "ABC234", 1000)
            == "expired"
        )
        # A fresh code replaces the old one, which no longer works.
        await db.rows.AccountCode.issue(KEY, USER, "delete-account", "XYZ789", 2000)
        assert await db.rows.AccountCode.check(KEY, USER, "delete-account", "ABC234", 10) == "wrong"
        assert await db.rows.AccountCode.check(KEY, USER, "delete-account", " xyz789 ", 10) == "ok"
        assert await db.rows.AccountCode.check(KEY, USER, "delete-account", "XYZ789", 10) == "none"
