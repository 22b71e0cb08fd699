"""From anonymous to registered: the counsellor offers registration in the chat.

``livechat register PERSON`` (typed by staff in their service room, naming the anonymous
person as Element shows them) answers with a one-time link that the counsellor pastes into
the encrypted chat: the assistant is in no counselling room, so the link reaches the person
only through the counsellor, like everything said there. On the page behind it
(bots/web/invitation_page.py, purpose ``keep``) the person chooses a pseudonym and a password
for the account they already use; from then on it is an ordinary client's account: not
erased after the chat, with a service room, under the centre's normal rules.
"""

from __future__ import annotations

from appservice.clock import now_ms
from appservice.db import Person
from appservice.db.invitation import KEEP
from bots.accounts.invitation_rules import hash_token, invitation_link, new_token
from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, services_of
from bridge.anonymous_accounts import is_anonymous

registry = CommandRegistry()

HOUR_MS = 60 * 60 * 1000


async def why_not_registrable(services: BotServices, person: Person) -> str | None:
    """Why a throwaway account cannot be registered now: ``registered`` already, ``over``
    (its live chat ended, it is marked for erasure or locked); None when it can."""
    if person.activated_at is not None:
        return "registered"
    if person.deleted_at is not None or person.locked_at is not None:
        return "over"
    chat = await services.rows.LiveChat.get(person.user_id)
    if chat is not None and (chat.ended_at is not None or chat.blocked):
        return "over"
    return None


async def became_client(services: BotServices, person: Person, now: int) -> None:
    """After the password is set: the deletion routine no longer erases them with their chat
    (live chat row and topic-chat places let go), and the centre's log says so."""
    await services.rows.LiveChat.registered(person.user_id)
    await services.rows.TopicChat.let_go(person.user_id)
    await services.audit(person.centre_id, person.user_id, "registered", person.user_id)


@registry.command(
    "livechat register",
    aliases=("livechat registrieren", "anonym registrieren"),
    roles=STAFF,
    section="groups",
    args=(Argument("person", rest=True, label={"de": "PERSON", "en": "PERSON"}),),
    help={
        "de": "Bietet einer anonymen Person die Registrierung an: ein einmaliger Link, den Sie "
        "ihr in den Chat kopieren; sie wählt Pseudonym und Passwort und behält das Gespräch",
        "en": "Offers an anonymous person registration: a one-time link you paste into the chat; "
        "they choose pseudonym and password and keep the conversation",
    },
)
async def livechat_register(ctx: CommandContext, person: str) -> str:
    services = services_of(ctx)
    rows = services.rows
    cfg = services.directory.cfg
    found = await rows.Person.find_in_centre(ctx.centre_id, person, roles=("client",))
    if found is None or not is_anonymous(found.user_id, cfg.appservice.namespace_prefix):
        return ctx.render("keep_not_anonymous", given=person)
    problem = await why_not_registrable(services, found)
    if problem == "registered":
        return ctx.render("keep_already", name=found.name)
    if problem is not None:
        return ctx.render("keep_too_late", name=found.name)
    token = new_token()
    now = now_ms()
    await rows.Invitation.create(
        hash_token(token),
        found.user_id,
        ctx.centre_id,
        ctx.user_id,
        now + cfg.invitations.keep_valid_hours * HOUR_MS,
        purpose=KEEP,
    )
    # A topic chat's participant (no live chat of their own) sits in a group room: a link
    # pasted there could be opened first by another participant, who would take the account.
    group = await rows.LiveChat.get(found.user_id) is None
    return ctx.render(
        "keep_offered",
        name=found.name,
        group=group,
        link=invitation_link(cfg.public_web_url, token, KEEP),
        hours=cfg.invitations.keep_valid_hours,
    )
