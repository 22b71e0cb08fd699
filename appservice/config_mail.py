"""The ``mail:`` and ``imap:`` sections: SMTP sending, digests, and the bounce/reply mailbox."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .config_values import (
    ConfigError,
    Reader,
    ca_file,
    port_number,
    positive_number,
    whole_number,
)


@dataclass(frozen=True)
class MailConfig:
    enabled: bool
    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    timeout: float
    from_address: str
    templates_dir: str
    retry_base_delay: float
    retry_max_delay: float
    retry_max_attempts: int
    ca_file: str = ""
    app_url: str = ""
    digest_window_minutes: int = 60
    notice_interval: float = 60.0
    confirmation_hours: int = 48


@dataclass(frozen=True)
class ImapConfig:
    enabled: bool
    host: str
    port: int
    security: str
    ca_file: str
    username: str
    password: str = field(repr=False)
    mailbox: str
    processed_folder: str
    skipped_folder: str
    poll_interval: float
    bounce_threshold: int
    max_message_bytes: int


_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def parse_mail(r: Reader, base: Path) -> MailConfig:
    enabled = r.get("mail.enabled")
    if not isinstance(enabled, bool):
        raise ConfigError("mail.enabled", "expected true or false")
    from_address = r.text("mail.from_address")
    if not _ADDRESS.match(from_address):
        raise ConfigError("mail.from_address", f"'{from_address}' is not an e-mail address")
    attempts = r.get("mail.retry.max_attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ConfigError("mail.retry.max_attempts", "expected a whole number of at least 1")
    return MailConfig(
        enabled=enabled,
        host=r.text("mail.smtp.host"),
        port=port_number(r.get("mail.smtp.port"), "mail.smtp.port"),
        security=r.choice("mail.smtp.security", ("none", "starttls", "tls"), str.lower),
        username=r.text("mail.smtp.username", empty=True),
        password=r.text("mail.smtp.password", empty=True),
        timeout=positive_number(r.get("mail.smtp.timeout"), "mail.smtp.timeout"),
        from_address=from_address,
        templates_dir=r.text("mail.templates_dir", empty=True),
        retry_base_delay=positive_number(r.get("mail.retry.base_delay"), "mail.retry.base_delay"),
        retry_max_delay=positive_number(r.get("mail.retry.max_delay"), "mail.retry.max_delay"),
        retry_max_attempts=attempts,
        ca_file=ca_file(r, "mail.smtp.ca_file", base),
        app_url=r.url("mail.app_url", empty=True),
        digest_window_minutes=whole_number(r, "mail.digest_window_minutes", 0, 7 * 24 * 60),
        notice_interval=positive_number(r.get("mail.notice_interval"), "mail.notice_interval"),
        confirmation_hours=whole_number(r, "mail.confirmation_hours", 1, 24 * 30),
    )


def parse_imap(r: Reader, mail: MailConfig, base: Path) -> ImapConfig:
    enabled = r.get("imap.enabled")
    if not isinstance(enabled, bool):
        raise ConfigError("imap.enabled", "expected true or false")
    if enabled and not mail.enabled:
        raise ConfigError("imap.enabled", "needs mail.enabled (answers and notices are mail)")
    folders = {}
    for name in ("mailbox", "processed_folder", "skipped_folder"):
        folders[name] = r.text(f"imap.{name}")
    if len(set(folders.values())) < 3:
        raise ConfigError("imap.processed_folder", "mailbox and both folders must differ")
    config = ImapConfig(
        enabled=enabled,
        host=r.text("imap.host"),
        port=port_number(r.get("imap.port"), "imap.port"),
        security=r.choice("imap.security", ("none", "tls"), str.lower),
        ca_file=ca_file(r, "imap.ca_file", base),
        username=r.text("imap.username", empty=not enabled),
        password=r.text("imap.password", empty=True),
        poll_interval=positive_number(r.get("imap.poll_interval"), "imap.poll_interval"),
        bounce_threshold=whole_number(r, "imap.bounce_threshold", 1, 100),
        max_message_bytes=whole_number(r, "imap.max_message_bytes", 10_000, 100_000_000),
        **folders,
    )
    if enabled and not config.password:
        raise ConfigError("imap.password", "must not be empty (or set LOTSE_IMAP_PASSWORD)")
    return config
