"""The mail gateway as one piece for the composition root: sender, notices, digests, IMAP.

Built only when ``mail.enabled``, checking the templates (a broken one refuses to start);
:meth:`MailGateway.start` starts the SMTP worker and, when ``imap.enabled``, the IMAP
poller. The composition root hands two hooks to ``start`` that tell a centre's admins
(metadata only): a permanent SMTP failure and an address that turned bouncing (the gateway
is built before the assistant that tells them). The bots send mail through
``gateway.notices``, which the root hands them.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from appservice.config import Config
from appservice.web_pages import IdentityOf

from . import notices
from .confirm_page import ConfirmationPages
from .digest import MemberSource, RoomNotifier
from .imap_poller import ImapPoller, ImapSettings
from .outbox import outbox_sealer
from .render import MailTemplates, check_mail_templates
from .rows import MailRows
from .sender import MailSender, RetryPolicy, SmtpSettings
from .unsubscribe import UnsubscribePages

log = logging.getLogger("lotse.mail")

AddressHook = Callable[[str], Awaitable[None]]
FailureHook = Callable[[str, str], Awaitable[None]]


class MailGateway:
    def __init__(
        self,
        cfg: Config,
        members: MemberSource,
        *,
        rows: MailRows,
        identity: IdentityOf = lambda: "",
    ) -> None:
        """``rows``: the app's own tables; every mail part reads and writes only these."""
        self.cfg = cfg
        self.rows = rows
        enc = cfg.encryption
        mail = cfg.mail
        override = Path(mail.templates_dir) if mail.templates_dir else None
        if override is not None and not override.is_absolute():
            override = cfg.path.parent / override
        self.templates = MailTemplates(override_dir=override)
        self.sender = MailSender(
            SmtpSettings(
                host=mail.host,
                port=mail.port,
                from_address=mail.from_address,
                security=mail.security,  # type: ignore[arg-type]  # validated by the config
                username=mail.username or None,
                password=mail.password or None,
                timeout=mail.timeout,
                ca_file=mail.ca_file or None,
            ),
            self.templates,
            retry=RetryPolicy(
                base_delay=mail.retry_base_delay,
                max_delay=mail.retry_max_delay,
                max_attempts=mail.retry_max_attempts,
            ),
            rows=rows,
            sealer=outbox_sealer(enc.sealing_key, enc.previous_sealing_keys),
        )
        self.notices = notices.MailNotices(cfg, rows, wake=self.sender.wake)
        self.notifier = RoomNotifier(
            members,
            steward=cfg.steward_mxid,
            assistant=cfg.assistant_mxid,
            own_users={cfg.assistant_mxid, cfg.steward_mxid, cfg.sender_mxid},
            notices=self.notices,
            window_minutes=mail.digest_window_minutes,
        )
        self.pages = ConfirmationPages(
            rows, self.notices.language_of, self.notices.centre_name, identity
        )
        self.unsubscribe = UnsubscribePages(
            rows, cfg.encryption.pickle_key, self.notices.language_of, identity
        )
        # Checked when built, i.e. before anything starts: a broken template refuses to start.
        check_mail_templates(self.templates)
        self.pages.check()
        self.unsubscribe.check()
        self.poller: ImapPoller | None = None
        self._poller_task: asyncio.Task[None] | None = None

    def add_routes(self, app: web.Application) -> None:
        """The confirmation and unsubscribe pages (before the web listener starts)."""
        self.pages.add_routes(app)
        self.unsubscribe.add_routes(app)

    async def start(self, *, on_permanent_failure: FailureHook, on_bouncing: AddressHook) -> None:
        self.sender.on_permanent_failure = on_permanent_failure
        await self.sender.start()
        if self.cfg.imap.enabled:
            self.poller = ImapPoller(
                imap_settings(self.cfg),
                send_auto_answer=self.send_auto_answer,
                on_bouncing=on_bouncing,
                addresses=self.rows.MailAddress,
                is_our_message_id=self.rows.Outbox.has_message_id,
                is_known_address=self.rows.Preferences.is_confirmed_address,
            )
            self._poller_task = asyncio.create_task(self.poller.run(), name="lotse-imap")
            log.info("IMAP poller started")

    async def stop(self) -> None:
        if self.poller is not None and self._poller_task is not None:
            self.poller.stop()
            try:
                await asyncio.wait_for(self._poller_task, timeout=15)
            except TimeoutError:
                self._poller_task.cancel()
            self.poller = self._poller_task = None
        await self.sender.stop()

    async def send_auto_answer(self, address: str) -> None:
        """ "This mailbox is not read", in the first centre's language (we cannot know better)."""
        lang = self.cfg.centres[0].language if self.cfg.centres else "de"
        await self.rows.Outbox.enqueue(
            address, "auto_answer", lang, {"centre_name": "", "app_url": self.notices.app_url}
        )
        self.sender.wake()

    async def prune(self) -> None:
        """Scheduler job: drop old confirmation links."""
        await self.rows.Preferences.prune_confirmations()


def imap_settings(cfg: Config) -> ImapSettings:
    imap = cfg.imap
    context = None
    if imap.security == "tls":
        context = ssl.create_default_context(cafile=imap.ca_file or None)
    return ImapSettings(
        host=imap.host,
        port=imap.port,
        username=imap.username,
        password=imap.password,
        security=imap.security,  # type: ignore[arg-type]  # validated by the config
        ssl_context=context,
        mailbox=imap.mailbox,
        processed_folder=imap.processed_folder,
        skipped_folder=imap.skipped_folder,
        poll_interval=imap.poll_interval,
        bounce_threshold=imap.bounce_threshold,
        max_message_bytes=imap.max_message_bytes,
        own_addresses=frozenset({cfg.mail.from_address, imap.username}),
    )
