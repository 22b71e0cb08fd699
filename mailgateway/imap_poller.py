"""The IMAP poller: counts bounces, answers humans once, and files every mail away.

The notification mailbox is not read by anyone. Per unseen message the poller fetches the
size first (an oversized mail is skipped without downloading it), then the message, and
acts on its classification (:mod:`mailgateway.bounces`):

* delivery report: each hard-bounced recipient counts towards ``bounce_threshold``; when an
  address turns ``bouncing``, ``on_bouncing(address)`` is awaited (the admin room notice);
* human reply: ``send_auto_answer(sender)`` only when ``is_known_address(sender)`` says it
  is the confirmed address of a person of a centre, at most once per address per
  ``auto_answer_interval`` (so two auto-responders cannot loop), never to our own addresses
  or to a bouncing one. A stranger gets nothing and their address is stored nowhere: the
  gateway must not become a way to send mail to any ``From:`` someone writes in;
* automatic reply: nothing; garbage or oversized: nothing, filed under ``skipped_folder``.

Handled mail is moved to ``processed_folder`` (MOVE if offered, else COPY + \\Deleted +
EXPUNGE). Nothing from a mail is stored beyond the address status, nothing is posted to
Matrix, and logs carry UIDs and kinds only, never addresses, subjects or bodies.
IDLE is used when the server offers it, polling otherwise; every error ends the session,
which is reopened with exponential backoff until :meth:`ImapPoller.stop`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import aioimaplib

from .addresses import MailAddress, normalize
from .bounces import (
    AutoReply,
    Classification,
    DeliveryReport,
    Garbage,
    HumanReply,
    classify,
)

log = logging.getLogger("lotse.mail.imap")
# aioimaplib logs every received byte at DEBUG, which would put mail text into our logs.
if logging.getLogger("aioimaplib").level == logging.NOTSET:
    logging.getLogger("aioimaplib").setLevel(logging.INFO)

Security = Literal["none", "tls"]
AddressHook = Callable[[str], Awaitable[None]]
MessageIdCheck = Callable[[str], Awaitable[bool]]
AddressCheck = Callable[[str], Awaitable[bool]]

_FETCH_SIZE = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")
_LIST_DELIMITER = re.compile(rb'^\([^)]*\) (?:"((?:[^"\\]|\\.)*)"|NIL) ')


class ImapError(Exception):
    """A command was refused; the message is a fixed phrase, never server text."""


class CallbackFailed(Exception):
    """An injected callback raised: that message failed, the IMAP connection is fine."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str
    # Implicit TLS (IMAPS, usually port 993) or plain; aioimaplib has no STARTTLS.
    security: Security = "tls"
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)
    mailbox: str = "INBOX"
    processed_folder: str = "Lotse/Processed"
    skipped_folder: str = "Lotse/Skipped"
    use_idle: bool = True  # when the server offers it
    use_move: bool = True  # when the server offers it
    idle_renew: float = 300.0  # re-issue IDLE (also rescans) after this many seconds
    poll_interval: float = 60.0  # without IDLE
    max_message_bytes: int = 1_000_000
    bounce_threshold: int = 3
    auto_answer_interval: float = 24 * 3600.0  # seconds between auto-answers to one address
    own_addresses: frozenset[str] = frozenset()  # never auto-answered
    timeout: float = 30.0
    min_backoff: float = 1.0
    max_backoff: float = 300.0


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        raise ImapError(f"{what} refused")
    return response


class ImapPoller:
    """One mailbox, one connection; :meth:`run` until :meth:`stop`."""

    def __init__(
        self,
        settings: ImapSettings,
        send_auto_answer: AddressHook,
        on_bouncing: AddressHook | None = None,
        is_our_message_id: MessageIdCheck | None = None,
        is_known_address: AddressCheck | None = None,
        *,
        addresses: type[MailAddress],
    ) -> None:
        """``is_our_message_id``, if given, must confirm a report's original Message-ID
        (e.g. against the outbox); reports about other mails then count nothing, so a
        forged report cannot silence someone's address. ``is_known_address`` decides who
        may get the auto-answer; without it nobody does."""
        self.settings = settings
        # The address table of the app's own database (bounces, auto-answers).
        self.addresses = addresses
        self.send_auto_answer = send_auto_answer
        self.is_known_address = is_known_address
        self.on_bouncing = on_bouncing
        self.is_our_message_id = is_our_message_id
        self.counts: Counter[str] = Counter()  # outcome kind -> messages, for metrics/tests
        self._stopping = asyncio.Event()
        self._lost = asyncio.Event()  # set by aioimaplib when the connection drops
        self._client: aioimaplib.IMAP4 | None = None
        self._capabilities: set[str] = set()
        self._delimiter = "/"
        self._failed: set[int] = set()  # UIDs whose handling raised, left for the next session

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to end; it returns after the current message."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Sessions until stopped; a failed session is retried with exponential backoff."""
        delay = self.settings.min_backoff
        while not self.stopping:
            try:
                await self._connect()
                delay = self.settings.min_backoff
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the poller must outlive any mail or outage
                self.counts["session-error"] += 1
                log.warning("IMAP session ended (%s); retrying in %.0f s", type(e).__name__, delay)
            finally:
                await self._disconnect()
            if self.stopping:
                break
            await self._sleep(delay)
            delay = min(delay * 2, self.settings.max_backoff)

    async def process_once(self) -> None:
        """Connect, handle every unseen message once, disconnect (for cron-style use)."""
        try:
            await self._connect()
            await self._process_unseen()
        finally:
            await self._disconnect()

    async def _sleep(self, seconds: float, watch_connection: bool = False) -> None:
        """Wait, but wake up at once when stopped (or, if watched, the connection drops)."""
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if watch_connection:
            waiters.append(asyncio.ensure_future(self._lost.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if watch_connection and self._lost.is_set():
            raise ImapError("connection lost")

    # --- connection -----------------------------------------------------------------------

    async def _connect(self) -> None:
        s = self.settings
        client: aioimaplib.IMAP4
        if s.security == "tls":
            client = aioimaplib.IMAP4_SSL(
                s.host, s.port, timeout=s.timeout, ssl_context=s.ssl_context
            )
        else:
            client = aioimaplib.IMAP4(s.host, s.port, timeout=s.timeout)
        self._client = client
        self._lost.clear()
        client.protocol.conn_lost_cb = lambda _exc: self._lost.set()
        await client.wait_hello_from_server()
        _check(await client.login(s.username, s.password), "LOGIN")
        # The server may offer more after login; the LOGIN answer's code is not parsed well.
        await asyncio.wait_for(client.protocol.capability(), s.timeout)
        self._capabilities = {c.upper() for c in client.protocol.capabilities}
        await self._ensure_folders()
        _check(await client.select(_quote(s.mailbox)), "SELECT")
        self._failed.clear()

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if not self._lost.is_set():
                if client.has_pending_idle():
                    client.idle_done()
                await asyncio.wait_for(client.logout(), 5)
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass
        finally:
            transport = client.protocol.transport
            if transport is not None:
                transport.close()

    def _require_client(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise ImapError("not connected")
        return self._client

    async def _ensure_folders(self) -> None:
        client = self._require_client()
        response = _check(await client.list('""', '""'), "LIST")
        for line in response.lines[:-1]:
            match = _LIST_DELIMITER.match(bytes(line))
            if match and match.group(1):
                self._delimiter = match.group(1).decode().replace("\\\\", "\\")
        existing = _check(await client.list('""', "*"), "LIST")
        names = {bytes(line).rsplit(b" ", 1)[-1].strip(b'"').decode() for line in existing.lines}
        for folder in (self.settings.processed_folder, self.settings.skipped_folder):
            name = self._folder(folder)
            if name not in names:
                response = await client.create(_quote(name))
                if response.result != "OK":
                    # Another session may have created it meanwhile; a real failure shows
                    # up when the first message is moved.
                    log.info("IMAP folder could not be created (it may exist already)")

    def _folder(self, name: str) -> str:
        """Configured names use ``/``; the server may separate levels with ``.``."""
        return name.replace("/", self._delimiter)

    # --- waiting for mail -----------------------------------------------------------------

    async def _session(self) -> None:
        idle = self.settings.use_idle and "IDLE" in self._capabilities
        while not self.stopping:
            await self._process_unseen()
            if self.stopping:
                return
            if idle:
                await self._idle()
            else:
                await self._sleep(self.settings.poll_interval, watch_connection=True)
                # Also notices a dead connection before the next search would.
                _check(await self._require_client().noop(), "NOOP")

    async def _idle(self) -> None:
        """Block until the server reports a change, ``idle_renew`` passes, or stop."""
        client = self._require_client()
        queue = client.protocol.idle_queue
        while not queue.empty():  # pushes left over from the previous IDLE
            queue.get_nowait()
        idle_task = await client.idle_start(timeout=self.settings.idle_renew)
        push = asyncio.ensure_future(client.wait_server_push(self.settings.idle_renew + 5))
        stop = asyncio.ensure_future(self._stopping.wait())
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({push, stop, lost, idle_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (push, stop, lost):
                task.cancel()
            if push.done() and not push.cancelled():
                push.exception()  # a timeout here only means "renew"; retrieve it
        if self._lost.is_set():
            idle_task.cancel()
            raise ImapError("connection lost")
        if client.has_pending_idle():
            client.idle_done()
        _check(await asyncio.wait_for(idle_task, self.settings.timeout), "IDLE")

    # --- messages -------------------------------------------------------------------------

    async def _process_unseen(self) -> None:
        client = self._require_client()
        response = _check(await client.uid_search("UNSEEN", charset=None), "SEARCH")
        uids = [
            int(token)
            for line in response.lines[:-1]
            for token in bytes(line).split()
            if token.isdigit()
        ]
        uids = [uid for uid in uids if uid not in self._failed]
        if not uids:
            return
        sizes = await self._sizes(uids)
        for uid in uids:
            if self.stopping:
                return
            size = sizes.get(uid)
            if size is None:  # expunged meanwhile by someone else
                continue
            try:
                await self._handle(uid, size)
            except CallbackFailed as e:
                self._failed.add(uid)
                self.counts["error"] += 1
                cause = type(e.__cause__).__name__
                log.warning("IMAP message uid=%d not handled (callback: %s)", uid, cause)
            except (ImapError, aioimaplib.AioImapException, OSError, TimeoutError):
                raise  # the connection is in doubt: end the session, reconnect
            except Exception as e:  # noqa: BLE001 - one bad message must not stop the rest
                self._failed.add(uid)
                self.counts["error"] += 1
                log.warning("IMAP message uid=%d not handled (%s)", uid, type(e).__name__)

    async def _sizes(self, uids: list[int]) -> dict[int, int]:
        client = self._require_client()
        message_set = ",".join(map(str, uids))
        response = _check(await client.uid("fetch", message_set, "(RFC822.SIZE)"), "FETCH")
        sizes: dict[int, int] = {}
        for line in response.lines[:-1]:
            uid = size = None
            for found_uid, found_size in _FETCH_SIZE.findall(bytes(line)):
                uid = int(found_uid) if found_uid else uid
                size = int(found_size) if found_size else size
            if uid is not None and size is not None:
                sizes[uid] = size
        return sizes

    async def _fetch(self, uid: int) -> bytes | None:
        """The whole message, without setting \\Seen (PEEK)."""
        client = self._require_client()
        response = _check(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), "FETCH")
        for line in response.lines:
            if isinstance(line, bytearray):  # aioimaplib hands literals over as bytearray
                return bytes(line)
        return None

    async def _handle(self, uid: int, size: int) -> None:
        if size > self.settings.max_message_bytes:
            kind: Classification = Garbage("oversized")
        else:
            raw = await self._fetch(uid)
            if raw is None:
                return
            kind = classify(raw, self.settings.max_message_bytes)
            del raw  # nothing of the message outlives its classification
        if isinstance(kind, Garbage):
            self.counts["garbage"] += 1
            log.info("IMAP message uid=%d skipped: %s", uid, kind.reason)
            await self._move(uid, self.settings.skipped_folder)
            return
        if isinstance(kind, DeliveryReport):
            await self._delivery_report(uid, kind)
        elif isinstance(kind, HumanReply):
            await self._human_reply(uid, kind)
        elif isinstance(kind, AutoReply):
            self.counts["auto-reply"] += 1
            log.info("IMAP message uid=%d is an automatic reply (%s)", uid, kind.reason)
        await self._move(uid, self.settings.processed_folder)

    async def _delivery_report(self, uid: int, report: DeliveryReport) -> None:
        hard = report.hard_bounced
        if hard and self.is_our_message_id is not None:
            original = report.original_message_id
            if original is None or not await self.is_our_message_id(original):
                self.counts["foreign-report"] += 1
                log.info("IMAP message uid=%d reports on a mail Lotse did not send", uid)
                return
        self.counts["hard-bounce" if hard else "other-report"] += 1
        log.info("IMAP message uid=%d is a delivery report (%d hard)", uid, len(hard))
        for address in hard:
            if await self.addresses.record_hard_bounce(address, self.settings.bounce_threshold):
                log.info("an address turned bouncing (uid=%d)", uid)
                if self.on_bouncing is not None:
                    try:
                        await self.on_bouncing(address)
                    except Exception as e:  # noqa: BLE001 - the status is recorded already
                        log.warning("on_bouncing hook failed (%s)", type(e).__name__)

    async def _human_reply(self, uid: int, reply: HumanReply) -> None:
        own = {normalize(a) for a in self.settings.own_addresses}
        if reply.sender in own or await self.addresses.is_bouncing(reply.sender):
            self.counts["human-unanswerable"] += 1
            log.info("IMAP message uid=%d is a reply that gets no answer", uid)
            return
        # Checked before anything is stored: a stranger's address must leave no row behind.
        if self.is_known_address is None or not await self.is_known_address(reply.sender):
            self.counts["human-stranger"] += 1
            log.info("IMAP message uid=%d is from an unknown address; no answer", uid)
            return
        now = int(time.time() * 1000)
        interval = int(self.settings.auto_answer_interval * 1000)
        if not await self.addresses.mark_auto_answered(reply.sender, now, interval):
            self.counts["human-answered-before"] += 1
            log.info("IMAP message uid=%d is a reply; answered recently already", uid)
            return
        self.counts["human-answered"] += 1
        log.info("IMAP message uid=%d is a reply; sending the auto-answer", uid)
        try:
            await self.send_auto_answer(reply.sender)
        except Exception as e:
            # The claim stays: the mail is filed unanswered next session rather than risk
            # answering twice. It stays in INBOX until then.
            raise CallbackFailed from e

    async def _move(self, uid: int, folder: str) -> None:
        client = self._require_client()
        target = _quote(self._folder(folder))
        if self.settings.use_move and "MOVE" in self._capabilities:
            _check(await client.uid("move", str(uid), target), "MOVE")
            return
        _check(await client.uid("copy", str(uid), target), "COPY")
        _check(await client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
        if "UIDPLUS" in self._capabilities:
            _check(await client.uid("expunge", str(uid)), "EXPUNGE")
        else:
            _check(await client.expunge(), "EXPUNGE")
