"""Throwaway accounts for the anonymous live chat: made in Lotse's namespace, handed over by a
one-time login token, never with a password.

:func:`create_anonymous_account` registers ``@<prefix>anon-<random>`` in the appservice's
exclusive namespace (no password, no e-mail, no device) under a random pseudonym such as
"Gast-7K3Q", and records the person as a client of the centre. :func:`login_token` gets a
one-time ``m.login.token`` for it from Synapse (``POST /_matrix/client/v1/login/get_token`` as
that user, which needs ``login_via_existing_session`` — docs/live-chat.md). The person logs in
with that token in a web client (or any Matrix client); nobody ever sees a password.

Topic chats (anonymous participants of a group room) use the same two functions.
"""

from __future__ import annotations

import logging
import secrets

from appservice.admin_api import AdminApiError, SynapseAdmin
from appservice.db import Person, Rows

log = logging.getLogger("lotse.anonymous_accounts")

# Letters and digits nobody confuses when reading a pseudonym aloud (no 0/O, 1/I/L).
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PSEUDONYM_WORD = {"de": "Gast", "en": "Guest"}
LOCALPART_INFIX = "anon-"
ATTEMPTS = 8


def random_pseudonym(lang: str, pick: int = 4) -> str:
    """``Gast-7K3Q`` / ``Guest-7K3Q``: says nothing about the person."""
    word = PSEUDONYM_WORD.get(lang, PSEUDONYM_WORD["de"])
    return f"{word}-{''.join(secrets.choice(_ALPHABET) for _ in range(pick))}"


def is_anonymous(user_id: str, namespace_prefix: str) -> bool:
    """Whether a Matrix id is one of the throwaway accounts (made by this module)."""
    return user_id.startswith(f"@{namespace_prefix}{LOCALPART_INFIX}")


async def create_anonymous_account(
    admin: SynapseAdmin, rows: Rows, namespace_prefix: str, centre_id: str, lang: str
) -> Person:
    """A new throwaway account and its person (a client of ``centre_id``, random pseudonym).

    Raises AdminApiError when Synapse refuses (then nothing is left behind in Lotse).
    """
    user_id = ""
    for _ in range(ATTEMPTS):
        localpart = f"{namespace_prefix}{LOCALPART_INFIX}{secrets.token_hex(6)}"
        try:
            user_id = await admin.register_namespace_user(localpart)
            break
        except AdminApiError as e:
            if e.errcode != "M_USER_IN_USE":
                raise
    if not user_id:
        raise AdminApiError(409, "M_USER_IN_USE", "no free login found")
    person = await rows.Person.upsert(user_id, centre_id, "client")
    for _ in range(ATTEMPTS):
        pseudonym = random_pseudonym(lang)
        if await person.set_display_name(pseudonym):
            break
    else:  # eight pseudonyms of 31^4 taken: something is wrong, give up cleanly
        await person.delete()
        await admin.deactivate(user_id, erase=True)
        raise AdminApiError(409, "M_USER_IN_USE", "no free pseudonym found")
    try:
        await admin.set_displayname(user_id, person.name)
    except AdminApiError as e:  # Element then shows the Matrix id; the chat still works
        log.warning("display name of %s not set: %s", user_id, e.errcode)
    log.info("throwaway account %s created in centre %s", user_id, centre_id)
    return person


async def login_token(admin: SynapseAdmin, user_id: str) -> tuple[str, int]:
    """A one-time login token for a throwaway account: ``(token, valid_ms)``."""
    return await admin.login_token(user_id)
