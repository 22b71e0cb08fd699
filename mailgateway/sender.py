"""The SMTP worker: delivers due outbox rows, retries what may pass later, gives up on the rest.

Per row the Message-ID and state ``sending`` are written first, then the mail goes out, then
``sent``: a crash in between is settled by :meth:`Outbox.recover_after_crash` at start (the
mail is sent again with the same Message-ID, see there). One SMTP connection serves a whole
batch.

Temporary (retried with exponential backoff up to ``max_attempts``): 4xx answers, dropped
connections, timeouts, other OS errors. A server that cannot be reached at all is not the
mail's fault: the whole sender backs off (the same exponential delays) and no try is counted,
so mails wait as long as the outage lasts and then go out in the order they were queued.
Permanent (failed at once, and ``on_permanent_failure(recipient, kind)`` is awaited): 5xx
answers, template problems and sealed variables that do not open (another pickle key).
Logs carry row ids, kinds and SMTP codes; never addresses, variables or bodies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import make_msgid
from typing import Literal

import aiosmtplib

from appservice.sealing import Sealer, SealError

from .addresses import BOUNCING
from .metrics import MAILS
from .outbox import OutboxMail
from .render import MailTemplates, TemplateProblem, build_message
from .rows import MailRows

log = logging.getLogger("lotse.mail.sender")

Security = Literal["none", "starttls", "tls"]
PermanentFailureHook = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    from_address: str
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    # Certificates are always verified; this PEM file replaces the system CAs when set.
    ca_file: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before attempt n+1 is ``base_delay * 2**n`` seconds, at most ``max_delay``."""

    base_delay: float = 30.0
    max_delay: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempts_so_far: int) -> float:
        return float(min(self.base_delay * 2**attempts_so_far, self.max_delay))


class _ConnectionLost(Exception):
    """The connection is gone: stop the batch instead of failing every row on it."""


class _ServerDown(Exception):
    """No connection could be made: the server's fault, not the mail's (no try counted)."""


def _classify(exc: BaseException) -> tuple[bool, str]:
    """(temporary?, error text): only the SMTP code or the error class, no server text."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients] or [550]
        return all(400 <= c < 500 for c in codes), f"smtp {max(codes)}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 400 <= exc.code < 500, f"smtp {exc.code}"
    # Refused, dropped, timed out: the server may well be back later.
    return True, type(exc).__name__


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused):
        return isinstance(exc, aiosmtplib.SMTPConnectResponseError)
    return True


class MailSender:
    """Background worker over the outbox; ``start()`` once, ``stop()`` at shutdown."""

    def __init__(
        self,
        smtp: SmtpSettings,
        templates: MailTemplates,
        *,
        retry: RetryPolicy | None = None,
        batch_size: int = 100,
        poll_interval: float = 5.0,
        on_permanent_failure: PermanentFailureHook | None = None,
        rows: MailRows,
        sealer: Sealer | None = None,
    ) -> None:
        """``sealer`` opens the variables :meth:`Outbox.enqueue` sealed (secret links);
        ``rows`` are the mail tables of this app's own database (mailgateway/rows.py), so a
        second database opened in the same process is never read by this sender."""
        self.rows = rows
        self.outbox = rows.Outbox
        self.smtp = smtp
        self.sealer = sealer
        self.templates = templates
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_permanent_failure = on_permanent_failure
        self._msgid_domain = smtp.from_address.rpartition("@")[2] or None
        self._client: aiosmtplib.SMTP | None = None
        self._task: asyncio.Task[None] | None = None
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        # The server could not be reached this many times in a row; until ``_down_until``
        # the whole sender waits (queue order is kept: no mail is deferred on its own).
        self.connect_failures = 0
        self.last_connect_error = ""
        self._down_until = 0.0

    async def start(self) -> None:
        """Settle rows a crash left behind, then start delivering."""
        requeued, uncertain = await self.outbox.recover_after_crash()
        if requeued or uncertain:
            log.warning(
                "after a crash: %d mail(s) re-queued, %d sent again with their Message-ID "
                "(they may arrive twice)",
                requeued,
                uncertain,
            )
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="lotse-mail-sender")

    def wake(self) -> None:
        """Look at the outbox now instead of after the poll interval (call after enqueue)."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the mail in hand, then stop and close the connection."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._hook_tasks:
            await asyncio.gather(*self._hook_tasks, return_exceptions=True)
        await self._disconnect()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("mail sender loop failed; trying again later")
                handled = 0
            if self._stopping:
                break
            if handled >= self.batch_size:
                continue  # more may be due right away
            self._wake.clear()
            wait = self.poll_interval
            if self._down_until:
                # Try the server again as soon as its backoff is over.
                wait = max(0.01, min(wait, self._down_until - time.monotonic()))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """Deliver one batch of due rows; return how many rows were handled."""
        if time.monotonic() < self._down_until:
            return 0
        rows = await self.outbox.due(limit=self.batch_size)
        handled = 0
        try:
            for row in rows:
                if self._stopping:
                    break
                try:
                    await self._deliver(row)
                except _ServerDown as e:
                    # Back off as a whole; the rows keep their place in the queue.
                    delay = self.retry.delay(self.connect_failures)
                    self.connect_failures += 1
                    self.last_connect_error = _classify(e.__cause__ or e)[1]
                    self._down_until = time.monotonic() + delay
                    MAILS.labels("server_unreachable").inc()
                    log.warning(
                        "mail server unreachable (%s); %d mail(s) wait, next try in %.1f s",
                        self.last_connect_error,
                        len(rows),
                        delay,
                    )
                    break
                except _ConnectionLost:
                    handled += 1
                    break
                handled += 1
        finally:
            # Idle connections time out at the server; the next batch opens a fresh one.
            await self._disconnect()
        return handled

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        s = self.smtp
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout,
            use_tls=s.security == "tls",
            start_tls=True if s.security == "starttls" else False,
            username=s.username,
            password=s.password,
            validate_certs=True,
            cert_bundle=s.ca_file,
        )
        await client.connect()
        self._client = client
        return client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()

    async def _deliver(self, row: OutboxMail) -> None:
        if await self.rows.MailAddress.is_bouncing(row.recipient):
            # Queued before the address turned bouncing: dropped, not tried. The admins
            # heard about the address when it turned; no second notice per mail.
            await self.outbox.mark_failed(row.id, BOUNCING)
            log.info("mail %d (%s) dropped: the address is bouncing", row.id, row.kind)
            return
        try:
            variables = row.open_variables(self.sealer)
        except SealError:
            log.error("mail %d (%s): its sealed variables do not open", row.id, row.kind)
            await self._fail(row, "sealed")
            return
        try:
            rendered = self.templates.render(row.kind, row.lang, variables)
        except TemplateProblem as e:
            log.error("mail %d (%s) cannot be rendered: %s", row.id, row.kind, type(e).__name__)
            await self._fail(row, "template")
            return
        # A retry keeps the Message-ID of the first attempt: it is the same message.
        message_id = row.message_id or make_msgid(domain=self._msgid_domain)
        msg = build_message(
            rendered,
            from_address=self.smtp.from_address,
            sender_name=str(variables.get("centre_name") or ""),
            recipient=row.recipient,
            message_id=message_id,
            unsubscribe_url=variables.get("unsubscribe_url"),
        )
        try:
            client = await self._connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            temporary, error = _classify(e)
            if temporary:
                await self._disconnect()
                raise _ServerDown from e
            await self._fail(row, error)  # e.g. the server's certificate is refused
            return
        self.connect_failures = 0
        if not await self.outbox.mark_sending(row.id, message_id):
            return  # someone else took it
        try:
            await client.send_message(
                msg, sender=self.smtp.from_address, recipients=[row.recipient]
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            temporary, error = _classify(e)
            lost = _is_connection_error(e)
            if lost:
                await self._disconnect()
            if temporary and row.attempts + 1 < self.retry.max_attempts:
                next_at = int((time.time() + self.retry.delay(row.attempts)) * 1000)
                await self.outbox.mark_retry(row.id, error, next_at)
                MAILS.labels("deferred").inc()
                log.info("mail %d (%s) deferred after %s", row.id, row.kind, error)
            else:
                await self._fail(row, error)
            if lost:
                raise _ConnectionLost from e
            return
        await self.outbox.mark_sent(row.id)
        MAILS.labels("sent").inc()

    async def _fail(self, row: OutboxMail, error: str) -> None:
        await self.outbox.mark_failed(row.id, error)
        MAILS.labels("failed").inc()
        log.warning("mail %d (%s) failed permanently: %s", row.id, row.kind, error)
        if self.on_permanent_failure is None:
            return
        task = asyncio.create_task(self._call_hook(row.recipient, row.kind))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def _call_hook(self, recipient: str, kind: str) -> None:
        assert self.on_permanent_failure is not None
        try:
            await self.on_permanent_failure(recipient, kind)
        except Exception:
            log.exception("on_permanent_failure hook failed for a %s mail", kind)
