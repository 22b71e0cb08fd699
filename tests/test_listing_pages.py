"""Paged listings (issue 13: "every listing is paged; nothing loads a whole table").

The SQL reads one page (both backends); through the command path, `clients` asks Synapse
only about the clients it shows, and `clients`/`requests` say which page this is and what to
type for the next one.
"""

from __future__ import annotations

import dataclasses

import pytest

from appservice.admin_api import SynapseAdmin, UserInfo
from appservice.app import LotseApp
from appservice.db import LotseDatabase
from bots.framework.dispatch import CommandContext, run_command
from tests.conftest import opened
from tests.test_accounts import _ctx


async def _clients(db: LotseDatabase, centre: str, n: int, home: str | None = None) -> list[str]:
    """``n`` clients named ``Klient 000`` … of ``centre``; their user ids."""
    ids = []
    for i in range(n):
        person = await db.rows.Person.upsert(f"@k{centre}{i:03d}:lotse.test", centre, "client")
        await person.set_display_name(f"Klient {i:03d}")
        if home is not None:
            await person.set_home_counsellor(home)
        ids.append(person.user_id)
    return ids


async def test_clients_page_reads_one_page(database_url: str) -> None:
    """Pages in name order with the total; filters by home counsellor and text (pseudonym
    and login); sorted by the recorded last login; another centre's clients never appear.
    Waiting requests and monitorings page the same way."""
    async with opened(database_url) as db:
        Person = db.rows.Person
        await Person.upsert("@berta:lotse.test", "nord", "counsellor")
        ids = await _clients(db, "nord", 60)
        for uid in ids[:10]:
            person = await Person.get(uid)
            assert person is not None
            await person.set_home_counsellor("@berta:lotse.test")
        await _clients(db, "sued", 5)
        umlaut = await Person.upsert("@aerger:lotse.test", "nord", "client")
        await umlaut.set_display_name("Ärger")

        first, total = await Person.clients_page("nord", None, "", False, 25, 0)
        assert total == 61
        assert [p.name for p in first] == [f"Klient {i:03d}" for i in range(25)]
        last, _ = await Person.clients_page("nord", None, "", False, 25, 50)
        assert [p.name for p in last] == [*(f"Klient {i:03d}" for i in range(50, 60)), "Ärger"]
        mine, total = await Person.clients_page("nord", "@berta:lotse.test", "", False, 25, 0)
        assert total == 10 and {p.user_id for p in mine} == set(ids[:10])
        found, total = await Person.clients_page("nord", None, "klient 05", False, 25, 0)
        assert total == 10 and all(p.name.startswith("Klient 05") for p in found)
        by_login, total = await Person.clients_page("nord", None, "knord01", False, 25, 0)
        assert total == 10 and by_login[0].user_id == ids[10]
        assert (await Person.clients_page("nord", None, "Ärger", False, 25, 0))[1] == 1
        assert (await Person.clients_page("nord", None, "50%_", False, 25, 0))[1] == 0
        assert all(p.centre_id == "nord" for p in first + last)

        await Person.record_last_seen({ids[42]: 2_000, ids[7]: 1_000, ids[3]: None})
        recent, _ = await Person.clients_page("nord", None, "", True, 3, 0)
        assert [p.user_id for p in recent] == [ids[42], ids[7], ids[0]]

        for uid in ids[:25]:
            await db.rows.CounsellingRequest.create("nord", uid)
        waiting, total = await db.rows.CounsellingRequest.waiting_page("nord", 20, 20)
        assert total == 25 and len(waiting) == 5
        assert [r.client_id for r in waiting] == ids[20:25]

        Monitoring = db.rows.Monitoring
        for i in range(55):
            counsellor = "@berta:lotse.test" if i % 5 else "@carl:lotse.test"
            await Monitoring.add(
                "nord", ids[i % 3], counsellor, None, f"2026-01-{1 + i % 28:02d}", "x"
            )
        await Monitoring.add("sued", ids[0], "@berta:lotse.test", None, "2026-01-01", "x")
        newest, total = await Monitoring.find_page("nord", None, None, None, None, 50, 0)
        older, _ = await Monitoring.find_page("nord", None, None, None, None, 50, 50)
        assert total == 55 and len(newest) == 50 and len(older) == 5
        every = await Monitoring.find("nord", None)
        assert [m.id for m in newest + older] == [m.id for m in every]
        berta, total = await Monitoring.find_page(
            "nord", "@berta:lotse.test", ids[1], "2026-01-05", "2026-01-20", 50, 0
        )
        assert total == len(berta) > 0
        assert all(m.client_id == ids[1] and m.counsellor_id == "@berta:lotse.test" for m in berta)


class CountingAdmin(SynapseAdmin):
    """The real admin API client, counting whom it is asked about (a spy, not a stand-in)."""

    asked: list[str]

    async def get_user(self, user_id: str) -> UserInfo | None:
        self.asked.append(user_id)
        return await super().get_user(user_id)


def _counting(real: SynapseAdmin) -> CountingAdmin:
    counting = CountingAdmin.__new__(CountingAdmin)
    counting.__dict__.update(real.__dict__)
    counting.asked = []
    return counting


@pytest.mark.synapse
async def test_clients_and_requests_are_paged(running: LotseApp, database_url: str) -> None:
    """120 clients: `clients` shows 50 and asks Synapse about those 50 only, says "page 1
    of 3" and the command for the next page; page 3 shows the last 20; a page past the end or
    a page that is no number is refused with what to type instead. Sorted by last login,
    up to 100 matches are all asked about (a current order), more by the page only.
    `requests` pages by 20, `monitorings` by 50."""
    async with opened(database_url) as db:
        admin = _counting(running.assistant.services.admin)
        services = dataclasses.replace(running.assistant.services, rows=db.rows, admin=admin)
        me = await db.rows.Person.upsert("@chefin:lotse.test", "nord", "admin")
        ids = await _clients(db, "nord", 120)

        def ctx() -> CommandContext:
            return _ctx(running, me.user_id, "nord", services)

        first = await run_command("clients all", ctx()) or ""
        assert "Page 1 of 3 (120 clients), next: `clients all page=2`" in first, first
        assert "Klient 049" in first and "Klient 050" not in first
        assert sorted(admin.asked) == ids[:50]
        admin.asked.clear()
        third = await run_command("clients all page=3", ctx()) or ""
        assert "Klient 100" in third and "Klient 119" in third and "Klient 099" not in third
        assert "Page 3 of 3" in third and "next:" not in third
        assert sorted(admin.asked) == ids[100:]
        admin.asked.clear()
        by_login = await run_command("clients all sort=login", ctx()) or ""
        assert "next: `clients all sort=login page=2`" in by_login
        assert "the order is by the last login as Lotse last read it" in by_login
        assert len(admin.asked) == 50  # 120 are too many to ask about: the page only
        admin.asked.clear()
        searched = await run_command("clients 11 sort=login", ctx()) or ""
        assert "Klient 011" in searched and "Page " not in searched  # one page: not said
        assert "as Lotse last read it" not in searched  # few: all asked, the order is current
        assert sorted(admin.asked) == [ids[11], *ids[110:]]
        past = await run_command("clients all page=4", ctx()) or ""
        assert "There is no page 4: the list has 3 pages" in past
        wrong = await run_command("clients page=zwei", ctx()) or ""
        assert '"zwei" is not a page number' in wrong

        for uid in ids[:25]:
            await db.rows.CounsellingRequest.create("nord", uid)
        waiting = await run_command("requests", ctx()) or ""
        assert "Page 1 of 2 (25 waiting), next: `requests page=2`" in waiting
        rest = await run_command("requests page=2", ctx()) or ""
        assert rest.count("no. ") == 5 and "Page 2 of 2" in rest
        assert "There is no page 3" in (await run_command("requests page=3", ctx()) or "")

        for i in range(55):
            await db.rows.Monitoring.add("nord", ids[i], me.user_id, None, "2026-01-15", "x")
        monitorings = await run_command("monitorings", ctx()) or ""
        assert "Page 1 of 2 (55 monitorings), older ones: `monitorings page=2`" in monitorings
        assert monitorings.count("No. ") == 50
        older = await run_command("monitorings page=2", ctx()) or ""
        assert older.count("No. ") == 5 and "Page 2 of 2" in older
