"""The mail outbox: every notification is a row first, so none is lost across a restart.

States: ``queued`` → ``sending`` (Message-ID recorded) → ``sent``; a temporary failure goes
back to ``queued`` with a later ``not_before``; a permanent one ends in ``failed``.

Crash recovery (:meth:`Outbox.recover_after_crash`): a row still ``sending`` at start was
being handed to the SMTP server by a process that died before recording the answer. It is
queued again and sent with the Message-ID it got before the first try, so it arrives at most
twice, and the copy carries the same Message-ID, by which mail servers and clients drop it.
SMTP cannot do exactly once here: a server may keep a mail whose 250 never reached the
sender, and nothing can ask it afterwards. Assuming such a row sent instead (at most once)
loses every mail killed before the server had it, a window of several round trips, where a
duplicate needs the kill between the server's 250 and the row's ``sent``: measured by
SIGKILLing the sender at each point (tests/test_resilience.py), the mail killed before the
hand-over was lost with "assume sent" and arrives once with "send again". A row re-queued
this way has ``last_error = "uncertain: crashed during send"`` until it is sent. A
``sending`` row without a Message-ID never reached the server and is re-queued too.

Template variables are kept only while a mail may still be sent; a sent or failed row keeps
the metadata (recipient, kind, times) but its variables are emptied.

One-time links (invitation, reset, confirmation) and unsubscribe links are secrets: whoever
reads them can set a password or confirm an address. Such variables are never stored in
clear, not even while SMTP is down for days: :meth:`Outbox.enqueue` refuses them without a
:class:`~appservice.sealing.Sealer`, and with one it stores all variables AES-GCM sealed,
bound to the row's recipient, kind, language and time (a sealed body moved to another row
does not open). The sender opens them just before rendering; nothing else changes, so the
crash guarantees above hold as they are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, ClassVar

from mautrix.util.async_db import Database

from appservice import contact_data, sealing
from appservice.clock import now_ms
from appservice.contact_data import ContactData
from appservice.db import rows_changed
from appservice.sealing import Sealer, SealError

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"

# Kept on a row re-queued after a crash during its send (it may arrive twice, same Message-ID).
UNCERTAIN = "uncertain: crashed during send"

# Variables that carry a secret link; only ever stored sealed.
SECRET_VARIABLES = frozenset({"link", "unsubscribe_url"})
_SEALED = "sealed"

# Deliberately simple: one local part, a dotted domain of LDH labels; no comments, quotes,
# display names or IP literals. Anything fancier is refused rather than guessed at.
_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
# kind and lang become file names of templates: keep them to safe identifiers.
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_LANG_RE = re.compile(r"[a-z]{2}")


class InvalidAddress(ValueError):
    """The recipient is not a plain e-mail address; nothing was queued."""


def validate_address(address: str) -> str:
    """Return the address if it is a bare, well-formed one; raise :class:`InvalidAddress`."""
    if not isinstance(address, str) or len(address) > 254 or address != address.strip():
        raise InvalidAddress("not a plain e-mail address")
    name, parsed = parseaddr(address)
    if name or parsed != address or not _ADDRESS_RE.fullmatch(address):
        raise InvalidAddress("not a plain e-mail address")
    if ".." in address.split("@", 1)[0] or address.startswith("."):
        raise InvalidAddress("not a plain e-mail address")
    return address


OUTBOX_PURPOSE = "mail outbox"


def outbox_sealer(secret: str, previous: tuple[str, ...] = ()) -> Sealer:
    """The sealer of the outbox's variables, derived from ``encryption.sealing_key``; values
    under the ``previous`` keys (a rotation under way) open too."""
    return sealing.sealer(secret, OUTBOX_PURPOSE, previous)


def _seal_context(recipient: str, kind: str, lang: str, created_at: int) -> str:
    return f"mail_outbox|{recipient}|{kind}|{lang}|{created_at}"


@dataclass
class OutboxMail:
    """One row of ``mail_outbox``."""

    id: int
    recipient: str
    kind: str
    lang: str
    variables: dict[str, Any]
    not_before: int
    attempts: int
    state: str
    message_id: str | None
    last_error: str | None
    created_at: int
    sent_at: int | None

    @property
    def sealed(self) -> bool:
        return set(self.variables) == {_SEALED}

    def open_variables(self, opener: Sealer | None) -> dict[str, Any]:
        """The template variables; sealed ones are opened (:class:`SealError` if impossible:
        no sealer, another pickle key, or a body moved from another row)."""
        if not self.sealed:
            return self.variables
        if opener is None:
            raise SealError("sealed variables need the outbox sealer")
        context = _seal_context(self.recipient, self.kind, self.lang, self.created_at)
        opened = json.loads(opener.open(str(self.variables[_SEALED]), context))
        if not isinstance(opened, dict):
            raise SealError("sealed variables are not a mapping")
        return opened


class Outbox:
    """SQL for ``mail_outbox``; a part gets it bound to its database (mailgateway/rows.py)."""

    db: ClassVar[Database]
    contact: ClassVar[ContactData]

    _columns: ClassVar[str] = (
        "id, recipient, kind, lang, variables, not_before, attempts, state, message_id, "
        "last_error, created_at, sent_at, recipient_hash"
    )

    @classmethod
    def _from_row(cls, row: Any) -> OutboxMail:
        return OutboxMail(
            id=int(row["id"]),
            # Sealed at rest (appservice/contact_data.py), bound to the address's hash.
            recipient=str(
                cls.contact.open_value(
                    row["recipient"], contact_data.outbox_context(row["recipient_hash"] or "")
                )
            ),
            kind=row["kind"],
            lang=row["lang"],
            variables=json.loads(row["variables"]),
            not_before=int(row["not_before"]),
            attempts=int(row["attempts"]),
            state=row["state"],
            message_id=row["message_id"],
            last_error=row["last_error"],
            created_at=int(row["created_at"]),
            sent_at=None if row["sent_at"] is None else int(row["sent_at"]),
        )

    @classmethod
    async def enqueue(
        cls,
        recipient: str,
        kind: str,
        lang: str,
        variables: dict[str, Any],
        not_before: int | None = None,
        *,
        sealer: Sealer | None = None,
    ) -> int:
        """Queue a notification and return its id; bad input stores nothing.

        With ``sealer`` the variables are stored sealed; without one, variables carrying a
        secret link (:data:`SECRET_VARIABLES`) are refused (a programming error).
        """
        validate_address(recipient)
        if not _KIND_RE.fullmatch(kind):
            raise ValueError(f"bad mail kind {kind!r}")
        if not _LANG_RE.fullmatch(lang):
            raise ValueError(f"bad language {lang!r}")
        secret = SECRET_VARIABLES & set(variables)
        if secret and sealer is None:
            raise ValueError(f"{kind}: {sorted(secret)} may only be stored sealed")
        payload = json.dumps(variables)  # fails early on values that cannot be stored
        now = now_ms()
        if sealer is not None:
            sealed = sealer.seal(payload, _seal_context(recipient, kind, lang, now))
            payload = json.dumps({_SEALED: sealed})
        q = (
            "INSERT INTO mail_outbox (recipient, kind, lang, variables, not_before, created_at, "
            "recipient_hash) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        digest = cls.contact.lookup(recipient) or ""
        stored = cls.contact.seal(recipient, contact_data.outbox_context(digest))
        mail_id = await cls.db.fetchval(
            q, stored, kind, lang, payload, now if not_before is None else not_before, now, digest
        )
        return int(mail_id)

    @classmethod
    async def get(cls, mail_id: int) -> OutboxMail | None:
        row = await cls.db.fetchrow(f"SELECT {cls._columns} FROM mail_outbox WHERE id=$1", mail_id)
        return None if row is None else cls._from_row(row)

    @classmethod
    async def due(cls, now: int | None = None, limit: int = 100) -> list[OutboxMail]:
        """Queued rows whose time has come, oldest first."""
        q = (
            f"SELECT {cls._columns} FROM mail_outbox WHERE state=$1 AND not_before<=$2 "
            "ORDER BY not_before, id LIMIT $3"
        )
        rows = await cls.db.fetch(q, QUEUED, now_ms() if now is None else now, limit)
        return [cls._from_row(row) for row in rows]

    @classmethod
    async def mark_sending(cls, mail_id: int, message_id: str) -> bool:
        """Record the Message-ID before the send; False if the row was not queued."""
        q = "UPDATE mail_outbox SET state=$2, message_id=$3 WHERE id=$1 AND state=$4"
        return rows_changed(await cls.db.execute(q, mail_id, SENDING, message_id, QUEUED)) > 0

    @classmethod
    async def mark_sent(cls, mail_id: int) -> None:
        q = (
            "UPDATE mail_outbox SET state=$2, sent_at=$3, last_error=NULL, variables='{}' "
            "WHERE id=$1"
        )
        await cls.db.execute(q, mail_id, SENT, now_ms())

    @classmethod
    async def mark_retry(cls, mail_id: int, error: str, next_at: int) -> None:
        """Count a failed attempt and queue the row again for ``next_at`` (ms)."""
        q = (
            "UPDATE mail_outbox SET state=$2, attempts=attempts+1, last_error=$3, not_before=$4 "
            "WHERE id=$1"
        )
        await cls.db.execute(q, mail_id, QUEUED, error, next_at)

    @classmethod
    async def mark_failed(cls, mail_id: int, error: str) -> None:
        q = (
            "UPDATE mail_outbox SET state=$2, attempts=attempts+1, last_error=$3, "
            "variables='{}' WHERE id=$1"
        )
        await cls.db.execute(q, mail_id, FAILED, error)

    @classmethod
    async def recover_after_crash(cls) -> tuple[int, int]:
        """Queue rows left ``sending`` again; return (never handed over, maybe delivered).

        Both keep their place in the queue; a row with a Message-ID is sent with it again
        (see the module doc)."""
        requeued = await cls.db.execute(
            "UPDATE mail_outbox SET state=$1 WHERE state=$2 AND message_id IS NULL",
            QUEUED,
            SENDING,
        )
        uncertain = await cls.db.execute(
            "UPDATE mail_outbox SET state=$1, last_error=$2 WHERE state=$3",
            QUEUED,
            UNCERTAIN,
            SENDING,
        )
        return rows_changed(requeued), rows_changed(uncertain)

    @classmethod
    async def has_message_id(cls, message_id: str) -> bool:
        """Whether Lotse sent a mail with this Message-ID (so a bounce report is about us)."""
        q = "SELECT 1 FROM mail_outbox WHERE message_id=$1 LIMIT 1"
        return await cls.db.fetchval(q, message_id.strip()) is not None

    @classmethod
    async def prune_log(cls, before: int) -> int:
        """Drop sent and failed mails created before ``before`` (ms); queued ones stay."""
        result = await cls.db.execute(
            "DELETE FROM mail_outbox WHERE state IN ($1, $2) AND created_at < $3",
            SENT,
            FAILED,
            before,
        )
        return rows_changed(result)

    @classmethod
    async def count(cls, state: str) -> int:
        return int(await cls.db.fetchval("SELECT COUNT(*) FROM mail_outbox WHERE state=$1", state))
