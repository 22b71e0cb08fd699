"""Helpers for tests that read what the running Lotse mailed to the test SMTP sink."""

from __future__ import annotations

import asyncio
import re
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import cast

from appservice.app import LotseApp
from appservice.db import Person
from appservice.dev.client import Human
from mailgateway.rows import MailRows
from tests.conftest import MailSink


def mails_to(sink: MailSink, address: str) -> list[EmailMessage]:
    return [
        cast(EmailMessage, message_from_bytes(data, policy=default_policy))
        for rcpts, data in sink.messages
        if address in rcpts
    ]


async def wait_for_mails(
    sink: MailSink, address: str, count: int = 1, timeout: float = 20
) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while len(mails_to(sink, address)) < count:
        assert time.monotonic() < deadline, f"{count} mail(s) to {address} did not arrive"
        await asyncio.sleep(0.1)
    return mails_to(sink, address)


MARKER_SUBJECTS = ("Nachricht von ", "Message from ")  # templates/mail/*/centre_message


async def mails_before_marker(
    app: LotseApp, sink: MailSink, user_id: str, address: str, timeout: float = 20
) -> list[EmailMessage]:
    """The mails that reached ``address`` from now until a marker notice to ``user_id`` (whose
    confirmed address it is) did.

    Proves that no (further) mail is coming: the sender delivers the outbox oldest first,
    one at a time, so every mail queued before the marker has reached the sink by then.
    """
    count = len(mails_to(sink, address))
    person = await app.rows.Person.get(user_id)
    assert person is not None
    assert await app.assistant.services.notify(person, "centre_message") == "queued"
    deadline = time.monotonic() + timeout
    while True:
        new = mails_to(sink, address)[count:]
        for index, mail in enumerate(new):
            if str(mail["Subject"]).startswith(MARKER_SUBJECTS):
                return new[:index] + new[index + 1 :]
        assert time.monotonic() < deadline, f"the marker mail to {address} did not arrive"
        await asyncio.sleep(0.1)


def readable(msg: EmailMessage) -> str:
    """Subject, text and HTML of a mail, decoded: everything a reader (or a leak) could see."""
    parts = [str(msg["Subject"])]
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            parts.append(cast(EmailMessage, part).get_content())
    return "\n".join(parts)


def link_in(msg: EmailMessage) -> str:
    match = re.search(r"https?://\S+/confirm/[A-Za-z0-9_-]+", readable(msg))
    assert match, "no confirmation link in the mail"
    return match.group(0)


async def give_confirmed_address(rows: MailRows, human: Human) -> tuple[Person, str]:
    """Give a person of a centre an address they confirmed (as `email` and its link would)."""
    address = f"{human.user_id[1:].split(':')[0]}@example.net"
    person = await rows.Person.get(human.user_id)
    assert person is not None
    await person.set_account(email=address)
    await rows.Preferences.mark_confirmed(human.user_id, address)
    return person, address
