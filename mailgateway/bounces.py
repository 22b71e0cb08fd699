"""Classify an incoming mail without ever handing on its text.

The IMAP poller needs to know only *what kind* of mail arrived: a delivery status
notification (RFC 3464) with per-recipient results, an automatic reply (which must never be
answered, or two robots talk forever), a human reply (which gets one "this mailbox is not
read" answer), or something unusable. The results hold addresses, DSN actions/status codes
and short fixed reasons; no subject or body text leaves this module. Pure stdlib.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

DEFAULT_MAX_BYTES = 1_000_000

# Subjects of out-of-office replies from clients that set none of the standard headers.
_OUT_OF_OFFICE = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|"
    r"abwesenheit|automatische antwort|r[eé]ponse automatique|absence)",
    re.IGNORECASE,
)
_AUTO_PRECEDENCE = {"bulk", "auto_reply", "list", "junk"}
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


@dataclass(frozen=True)
class Recipient:
    """One per-recipient block of a DSN: address (lower-cased), action and status code."""

    address: str
    action: str
    status: str

    @property
    def hard_failure(self) -> bool:
        """Permanent: the address will not work later either (5.x.x)."""
        return self.action == "failed" and self.status.startswith("5.")

    @property
    def soft_failure(self) -> bool:
        """Temporary (4.x.x) or a delay notice: worth nothing to the bounce counter."""
        return self.action in ("failed", "delayed") and self.status.startswith("4.")


@dataclass(frozen=True)
class DeliveryReport:
    """``original_message_id`` is the Message-ID of the returned mail, if the report has it:
    it lets the caller check that the bounce is about a mail Lotse really sent."""

    recipients: list[Recipient] = field(default_factory=list)
    original_message_id: str | None = None

    @property
    def hard_bounced(self) -> list[str]:
        return [r.address for r in self.recipients if r.hard_failure]


@dataclass(frozen=True)
class AutoReply:
    """Written by a robot (reason names the header that says so); never answered."""

    reason: str


@dataclass(frozen=True)
class HumanReply:
    """Apparently written by a person; ``sender`` is the lower-cased From address."""

    sender: str


@dataclass(frozen=True)
class Garbage:
    """Unusable; ``reason`` is a fixed phrase, never text taken from the message."""

    reason: str


Classification = DeliveryReport | AutoReply | HumanReply | Garbage


def valid_address(address: str) -> bool:
    """Plain ``local@domain.tld`` without spaces, brackets or line breaks."""
    return len(address) <= 254 and bool(_ADDRESS.match(address))


def classify(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Classification:
    """Sort one raw message; never raises (anything unexpected is ``Garbage``)."""
    if len(raw) > max_bytes:
        return Garbage("oversized")
    if not raw.strip():
        return Garbage("empty")
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
        return _classify(msg)
    except Exception:  # noqa: BLE001 - hostile input may break the parser anywhere
        return Garbage("unparseable")


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return "" if value is None else str(value).strip()


def _classify(msg: Message) -> Classification:
    if not msg.keys():
        return Garbage("no headers")
    if msg.get_content_type() == "multipart/report":
        report_type = str(msg.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            return _delivery_report(msg)
        return AutoReply("report")  # read receipts (MDN) and other machine reports
    auto = _auto_reason(msg)
    if auto is not None:
        return auto
    from_header = msg.get_all("From")
    if not from_header:
        return Garbage("missing From")
    addresses = [a for _, a in getaddresses([str(h) for h in from_header]) if a]
    if len(addresses) != 1 or not valid_address(addresses[0]):
        return Garbage("invalid From")
    sender = addresses[0].lower()
    local = sender.split("@", 1)[0]
    if local in ("mailer-daemon", "postmaster"):
        return AutoReply("mailer-daemon")  # a bounce that is not an RFC 3464 report
    return HumanReply(sender)


def _auto_reason(msg: Message) -> AutoReply | None:
    """RFC 3834 and the de-facto headers of common auto-responders."""
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return AutoReply("auto-submitted")
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response"):
        if name in msg:
            return AutoReply(name.lower())
    if _header(msg, "Precedence").lower() in _AUTO_PRECEDENCE:
        return AutoReply("precedence")
    if "List-Id" in msg or "List-Unsubscribe" in msg:
        return AutoReply("list")
    if _header(msg, "Return-Path") == "<>":
        return AutoReply("null return path")
    if _OUT_OF_OFFICE.match(_header(msg, "Subject")):
        return AutoReply("out-of-office subject")
    return None


def _delivery_report(msg: Message) -> Classification:
    recipients: list[Recipient] = []
    original_id: str | None = None
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            original_id = original_id or _original_message_id(part)
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        # The first block holds the per-message fields, the others one recipient each.
        for block in blocks[1:]:
            if not isinstance(block, Message):
                continue
            recipient = _recipient(block)
            if recipient is not None:
                recipients.append(recipient)
    if not recipients:
        return Garbage("delivery report without recipients")
    return DeliveryReport(recipients, original_id)


def _original_message_id(part: Message) -> str | None:
    """The returned mail's Message-ID; only its headers are looked at."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        value = _header(payload[0], "Message-ID")
    elif isinstance(payload, str):  # text/rfc822-headers
        value = _header(
            BytesParser(policy=policy.compat32).parsebytes(
                payload.encode("ascii", "replace"), headersonly=True
            ),
            "Message-ID",
        )
    else:
        return None
    return value or None


def _recipient(block: Message) -> Recipient | None:
    final = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
    # "rfc822; anna@example.org" (the address type may be missing in sloppy reports)
    address = final.split(";", 1)[-1].strip().strip("<>").strip().lower()
    action = _header(block, "Action").lower().split(" ", 1)[0]
    status_match = _STATUS.match(_header(block, "Status"))
    if not valid_address(address) or not action or status_match is None:
        return None
    return Recipient(address, action, ".".join(status_match.groups()))
