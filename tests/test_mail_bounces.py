"""Classifying incoming mail: RFC 3464 reports, auto-replies, human replies, garbage.

The builders make messages the way real MTAs and mail clients do (with the ``email``
package) and are shared with the IMAP tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid

import pytest

from mailgateway.bounces import (
    AutoReply,
    Classification,
    DeliveryReport,
    Garbage,
    HumanReply,
    Recipient,
    classify,
)

SECRET = "Mir geht es heute sehr schlecht"  # stands for text that must never leave a mail
LOTSE = "benachrichtigung@beratung.example"


def dsn(
    recipients: list[tuple[str, str, str]],
    original_id: str = "<n1@beratung.example>",
    headers_only: bool = False,
) -> bytes:
    """A Postfix-style multipart/report: explanation, delivery-status, returned mail."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.org (Mail Delivery System)"
    report["To"] = LOTSE
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = format_datetime(datetime.now(UTC))
    report["Message-ID"] = make_msgid(domain="mx.example.org")
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText("This is the mail system at host mx.example.org.\n", "plain"))
    status = Message()
    status.set_type("message/delivery-status")
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.org"
    per_message["Arrival-Date"] = format_datetime(datetime.now(UTC))
    blocks: list[Message | str] = [per_message]
    for address, action, code in recipients:
        block = Message()
        block["Final-Recipient"] = f"rfc822; {address}"
        block["Original-Recipient"] = f"rfc822;{address}"
        block["Action"] = action
        block["Status"] = code
        block["Remote-MTA"] = "dns; mx2.example.org"
        block["Diagnostic-Code"] = f"smtp; {code[0]}50 {code} mailbox problem"
        blocks.append(block)
    status.set_payload(blocks)
    report.attach(status)
    original = EmailMessage()
    original["From"] = LOTSE
    original["To"] = recipients[0][0]
    original["Subject"] = "Neue Nachricht in Ihrer Beratung"
    original["Message-ID"] = original_id
    original.set_content("Sie haben eine neue Nachricht.")
    if headers_only:
        headers = "".join(f"{k}: {v}\n" for k, v in original.items())
        report.attach(MIMEText(headers, "rfc822-headers"))
    else:
        report.attach(MIMEMessage(original))
    return report.as_bytes()


def reply(
    sender: str = "Anna Beispiel <Anna@Example.org>",
    subject: str = "Re: Neue Nachricht in Ihrer Beratung",
    extra: dict[str, str] | None = None,
) -> bytes:
    """A reply as a mail client writes it, quoting our notification and adding a secret."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = LOTSE
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg["In-Reply-To"] = "<n1@beratung.example>"
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(f"{SECRET}\n\n> Sie haben eine neue Nachricht.\n")
    return msg.as_bytes()


def out_of_office(sender: str = "bert@example.org") -> bytes:
    """Exchange/Outlook style: no Auto-Submitted, but X-Auto-Response headers and subject."""
    return reply(
        sender,
        "Automatische Antwort: Neue Nachricht in Ihrer Beratung",
        {"X-Auto-Response-Suppress": "All", "X-Autoreply": "yes"},
    )


def vacation(sender: str = "carla@example.org") -> bytes:
    """RFC 3834 (Sieve vacation): Auto-Submitted: auto-replied."""
    return reply(sender, "Ich bin im Urlaub", {"Auto-Submitted": "auto-replied"})


GARBAGE = b"\x00\xff\xfe\x00 not a mail \x89PNG\r\n\x1a\n" + bytes(range(256))


def huge(sender: str = "dora@example.org", size: int = 300_000) -> bytes:
    """A reply with a large attachment (a photo of a letter, say)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = LOTSE
    msg["Subject"] = "Foto"
    msg.set_content(SECRET)
    msg.add_attachment(b"\x89PNG" * (size // 4), maintype="image", subtype="png")
    return msg.as_bytes()


CASES: list[tuple[str, bytes, Classification]] = [
    (
        "hard bounce 5.1.1",
        dsn([("Anna@Example.org", "failed", "5.1.1")]),
        DeliveryReport([Recipient("anna@example.org", "failed", "5.1.1")], "<n1@beratung.example>"),
    ),
    (
        "soft bounce 4.2.2",
        dsn([("bert@example.org", "delayed", "4.2.2")], headers_only=True),
        DeliveryReport(
            [Recipient("bert@example.org", "delayed", "4.2.2")], "<n1@beratung.example>"
        ),
    ),
    (
        "two recipients, one failed one delivered",
        dsn([("a@example.org", "failed", "5.2.1"), ("b@example.org", "delivered", "2.0.0")]),
        DeliveryReport(
            [
                Recipient("a@example.org", "failed", "5.2.1"),
                Recipient("b@example.org", "delivered", "2.0.0"),
            ],
            "<n1@beratung.example>",
        ),
    ),
    ("out of office", out_of_office(), AutoReply("x-autoreply")),
    ("sieve vacation", vacation(), AutoReply("auto-submitted")),
    (
        "out-of-office subject only",
        reply("eva@example.org", "Out of Office: Re: Neue Nachricht"),
        AutoReply("out-of-office subject"),
    ),
    (
        "mailing list",
        reply("list@example.org", extra={"List-Id": "<x.example.org>", "Precedence": "list"}),
        AutoReply("precedence"),
    ),
    (
        "non-RFC 3464 bounce",
        reply("MAILER-DAEMON@mx.example.org", "failure notice"),
        AutoReply("mailer-daemon"),
    ),
    ("human reply", reply(), HumanReply("anna@example.org")),
    (
        "Auto-Submitted: no is a human",
        reply("fritz@example.org", extra={"Auto-Submitted": "no"}),
        HumanReply("fritz@example.org"),
    ),
    ("garbage bytes", GARBAGE, Garbage("no headers")),
    ("empty", b"\r\n\r\n", Garbage("empty")),
    ("missing From", reply().replace(b"From: ", b"X-Was-From: "), Garbage("missing From")),
    ("invalid From", reply("not an address"), Garbage("invalid From")),
    ("huge", huge(), Garbage("oversized")),
    (
        "report without recipients",
        dsn([("x@example.org", "failed", "5.1.1")]).replace(b"Recipient:", b"Rcpt:"),
        Garbage("delivery report without recipients"),
    ),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [(raw, exp) for _, raw, exp in CASES], ids=[c[0] for c in CASES]
)
def test_classify(raw: bytes, expected: Classification) -> None:
    """Each message lands in its class with exactly the expected fields."""
    assert classify(raw, max_bytes=200_000) == expected


@pytest.mark.parametrize("raw", [raw for _, raw, _ in CASES], ids=[c[0] for c in CASES])
def test_no_text_leaves_the_message(raw: bytes) -> None:
    """No result carries subject or body text (only addresses, codes and fixed reasons)."""
    result = repr(classify(raw, max_bytes=200_000))
    for forbidden in (SECRET, "Neue Nachricht", "mailbox problem", "Urlaub", "Foto"):
        assert forbidden not in result


def test_hard_and_soft_failures() -> None:
    """Only a failed 5.x.x counts as hard; 4.x.x and delays are soft; success is neither."""
    report = classify(
        dsn(
            [
                ("a@example.org", "failed", "5.1.1"),
                ("b@example.org", "failed", "4.4.7"),
                ("c@example.org", "delayed", "4.2.2"),
                ("d@example.org", "relayed", "2.0.0"),
            ]
        )
    )
    assert isinstance(report, DeliveryReport)
    assert report.hard_bounced == ["a@example.org"]
    assert [r.soft_failure for r in report.recipients] == [False, True, True, False]


def test_oversized_is_decided_before_parsing() -> None:
    """A message over the limit is Garbage even if it would parse fine."""
    assert classify(reply(), max_bytes=100) == Garbage("oversized")


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@b.example\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nx",
        b"From: =?utf-8?q?=FF=FE?= <a@b.example>\r\nSubject: =?bogus?x?y?=\r\n\r\n",
        b'Content-Type: multipart/mixed; boundary=""\r\nFrom: a@b.example\r\n\r\n--\r\n',
    ],
)
def test_malformed_never_raises(raw: bytes) -> None:
    """Broken MIME structure or encodings give a classification, not an exception."""
    assert isinstance(classify(raw), DeliveryReport | AutoReply | HumanReply | Garbage)
