"""The deletion routine (Löschroutine): erase people whose grace period has passed.

Anyone marked with ``deleted_at`` (clients by ``client delete``, counsellors by the
accounts' delete) is erased once their centre's ``deletion_grace_days`` are over:

1. claim them (a tombstone row; a restore can no longer win),
2. redact their events on Synapse and wait until that is done (the redactions are sent as
   the user, so they must still be in their rooms),
3. purge their service room (only they and the assistant were in it) and delete their media,
4. deactivate the account with erase (their login then gets 403 M_FORBIDDEN); then a
   counsellor's open requests that are somehow still theirs are placed anew
   (bots/accounts/departure.py), and what was kept about them or by them alone goes: a client's
   documents, notes and group places, a counsellor's uploaded documents,
5. remove them from every table in one transaction (appservice/db/scrub.py); the tombstone
   keeps only Matrix id, centre, role and the times, so the login is never handed out again,
   and rows that stay (the audit log, a counsellor's notes) name them as ``erased:N``,
6. audit it (by that reference) and tell the centre's admins.

Every step may run twice, so a run interrupted by a restart simply resumes its claims.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from appservice.admin_api import AdminApiError
from appservice.clock import now_ms
from appservice.db import ErasedPerson
from appservice.scheduler import Scheduler
from bots.framework.services import BotServices
from bots.groups.groups import remove_client_from_groups
from bots.livechat.chats import erase_due as erase_live_chats
from bots.records import client_rules as rules
from bots.records.documents import erase_client_documents, erase_uploaded_documents
from bots.topicchats.chats import erase_due as erase_topic_participants

from .departure import hand_back

log = logging.getLogger("lotse.deletion_routine")

# Hourly at a fixed minute: a restart never postpones a run (cron, not an interval).
SCHEDULE = "7 * * * *"
REDACT_WAIT_SECONDS = 120.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Erased:
    user_id: str
    centre_id: str
    role: str


def schedule(scheduler: Scheduler, services: BotServices) -> None:
    """Register the routine with the app's scheduler (``run_now("deletion_routine")``)."""
    job: Callable[[], Awaitable[None]] = partial(run, services)
    scheduler.every("deletion_routine", job, cron=SCHEDULE)


async def run(services: BotServices, now: int | None = None) -> None:
    """One run: claim everyone due, finish every claim, report per centre."""
    now = now if now is not None else now_ms()
    # Anonymous live chats: their throwaway accounts and rooms, after the centre's delay.
    await erase_live_chats(services, services.directory.cfg, now)
    # Anonymous topic-chat participants, the same way, after their chat closed.
    await erase_topic_participants(services, now)
    for user_id, centre_id, deleted_at in await services.rows.ErasedPerson.marked():
        grace = (await services.settings(centre_id)).deletion_grace_days
        if not rules.restorable(deleted_at, grace, now):
            await services.rows.ErasedPerson.claim(user_id, deleted_at)
    done: list[Erased] = []
    for claim in await services.rows.ErasedPerson.unfinished():
        try:
            if await erase(services, claim):
                done.append(Erased(claim.user_id, claim.centre_id, claim.role))
        except Exception:
            # The claim stays; the next run tries again. One failure does not stop the rest.
            log.exception("erasing %s failed; will retry at the next run", claim.user_id)
    for centre_id in sorted({e.centre_id for e in done}):
        people = [{"user_id": e.user_id, "role": e.role} for e in done if e.centre_id == centre_id]
        # Each person is erased once, so the erased ids name this report.
        ids = " ".join(p["user_id"] for p in people).encode()
        cause = "erased-" + hashlib.sha256(ids).hexdigest()[:32]
        await services.tell_admins(centre_id, "deletion_routine_done", cause=cause, people=people)


async def erase(services: BotServices, claim: ErasedPerson) -> bool:
    """Erase one claimed person; False when Synapse's redaction is not finished yet."""
    admin = services.admin
    user_id = claim.user_id
    person = await services.rows.Person.get(user_id)
    info = await admin.get_user(user_id)
    if info is not None and not info.deactivated:
        redact_id = await admin.redact_user_events(user_id)
        if not await _redaction_finished(services, redact_id):
            log.warning("redaction of %s still running; erasure continues next run", user_id)
            return False
        if person is not None and person.service_room_id:
            try:
                await admin.delete_room(person.service_room_id, purge=True)
            except AdminApiError as e:
                log.warning("could not purge service room of %s: %s", user_id, e.errcode)
        await admin.delete_user_media(user_id)
        await admin.deactivate(user_id, erase=True)
    elif info is not None:
        # Deactivated in an earlier, interrupted run: media may still be there.
        await admin.delete_user_media(user_id)
    if person is not None and claim.role != "client":
        # Deleted before `counsellor delete` handed requests back (or assigned one by hand
        # since): their clients must not wait for an erased counsellor.
        await hand_back(services, person)
    if claim.role == "client":
        # What counsellors kept about the client goes with them: documents (rows and files),
        # notes, and their places in groups and group rooms.
        await erase_client_documents(services, user_id)
        await remove_client_from_groups(services, user_id)
        await services.rows.ClientNote.delete_for_client(user_id)
    else:
        # A counsellor's documents were visible to them alone: rows and files go with them
        # (their notes stay: the whole team reads and relies on those).
        await erase_uploaded_documents(services, user_id)
    await claim.finish()
    actor = services.directory.cfg.assistant_mxid
    await services.audit(claim.centre_id, actor, "erase", claim.ref, claim.role)
    log.info("erased %s (%s) of centre %s", user_id, claim.role, claim.centre_id)
    return True


async def _redaction_finished(services: BotServices, redact_id: str) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REDACT_WAIT_SECONDS
    while True:
        status = await services.admin.redact_status(redact_id)
        if status.status in ("complete", "failed"):
            if status.failed_redactions:
                log.warning("%d events could not be redacted", len(status.failed_redactions))
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
