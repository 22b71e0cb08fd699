"""Inactive accounts (reference: AYGOnet 1.8 and 3.4.4): a daily job.

A client without a login for the centre's ``inactive_account_months`` (Synapse's last seen;
an account never used counts from its creation) gets a content-free notice in their service
room and by mail (to a confirmed address) 7 days before, and is then marked for deletion like
an admin's ``client delete`` — the deletion routine erases them after the grace period, the
tombstone keeps the user name so nobody can pose as them. A login in between cancels it.
Counsellors and admins are never deleted this way: the admins get a list of inactive staff,
once per stretch of inactivity. The rules are in bots/accounts/inactivity_rules.py.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from appservice.clock import now_ms
from appservice.db import Person
from appservice.scheduler import Scheduler
from bots.framework.services import BotServices
from bots.records import client_rules
from bots.records.client_admin import _withdraw_request
from bots.records.clients import day, last_seen

from . import inactivity_rules as rules

log = logging.getLogger("lotse.inactive_accounts")

# Daily at a fixed time: a restart never postpones a run (cron, not an interval).
SCHEDULE = "23 4 * * *"


def schedule(scheduler: Scheduler, services: BotServices) -> None:
    """Register the job with the app's scheduler (``run_now("inactive_accounts")``)."""
    job: Callable[[], Awaitable[None]] = partial(run, services)
    scheduler.every("inactive_accounts", job, cron=SCHEDULE)


async def run(services: BotServices, now: int | None = None) -> None:
    now = now if now is not None else now_ms()
    notices = await services.rows.InactivityNotice.all()
    for centre in services.directory.cfg.centres:
        months = (await services.settings(centre.id)).inactive_account_months
        people = [
            p for p in await services.rows.Person.all_in_centre(centre.id) if p.deleted_at is None
        ]
        # Asked for every centre: the answers are also the copy `clients sort=login` sorts by.
        seen = await last_seen(services, [p.user_id for p in people])
        if months <= 0 and not any(p.user_id in notices for p in people):
            continue
        staff: list[tuple[Person, int]] = []
        for person in people:
            active = max(
                t for t in (seen.get(person.user_id), person.activated_at, person.created_at) if t
            )
            given = notices.get(person.user_id)
            notice = rules.Notice(*given) if given is not None else None
            action = rules.decide(person.role, active, months, notice, now)
            if action == rules.CANCEL:
                await services.rows.InactivityNotice.forget(person.user_id)
            elif action == rules.NOTIFY:
                await _warn(services, person, active, months, now)
            elif action == rules.DELETE:
                await _mark(services, person, months, now)
            elif action == rules.STAFF:
                await services.rows.InactivityNotice.record(person.user_id, active, now)
                staff.append((person, active))
        if staff:
            listed = [
                {"name": p.name, "user_id": p.user_id, "seen": day(active)} for p, active in staff
            ]
            ids = " ".join(p.user_id for p, _ in staff).encode()
            cause = "inactive-staff-" + hashlib.sha256(ids).hexdigest()[:24] + f"-{now}"
            await services.tell_admins(
                centre.id, "inactive_staff_admin", cause=cause, months=months, people=listed
            )


async def _warn(services: BotServices, person: Person, active: int, months: int, now: int) -> None:
    """The content-free notice, in the service room and by mail; recorded first, so a
    repeated run does not warn twice (the transaction key makes a resent notice one event)."""
    await services.rows.InactivityNotice.record(person.user_id, active, now)
    when = day(rules.delete_on(active, months, now))
    cause = f"inactive-{active}"
    await services.tell(person, "inactive_notice", cause=cause, months=months, day=when)
    mailed = await services.notify(person, "inactive_account", months=months, day=when)
    log.info("inactive account %s warned (mail: %s)", person.user_id, mailed)


async def _mark(services: BotServices, person: Person, months: int, now: int) -> None:
    """Marked for the deletion routine exactly as by ``client delete``; the admins are told."""
    await services.admin.lock(person.user_id)
    await person.set_account(deleted_at=now)
    withdrawn = await _withdraw_request(services, person)
    grace = (await services.settings(person.centre_id)).deletion_grace_days
    actor = services.directory.cfg.assistant_mxid
    detail = f"inactive {months} months; grace {grace} days"
    if withdrawn:
        detail += f"; request {withdrawn} withdrawn"
    await services.audit(person.centre_id, actor, "inactive_delete", person.user_id, detail)
    await services.rows.InactivityNotice.forget(person.user_id)
    until = day(client_rules.erase_at(now, grace))
    await services.tell_admins(
        person.centre_id,
        "inactive_deleted_admin",
        cause=f"inactive-deleted-{person.user_id}-{now}",
        client=person.name,
        months=months,
        until=until,
    )
    log.info("inactive account %s marked for deletion", person.user_id)
