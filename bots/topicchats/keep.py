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
from appservice.db.invitation import KEEP
from bots.accounts.invitation_rules import hash_token, invitation_link, new_token
from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import services_of

registry = CommandRegistry()

HOUR_MS = 60 * 60 * 1000


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
    found = await rows.Person.find_in_centre(ctx.centre_id, person, roles=("client",))
    anonymous = await rows.AnonymousPerson.get(found.user_id) if found is not None else None
    if found is None or anonymous is None or anonymous.centre_id != ctx.centre_id:
        return ctx.render("keep_not_anonymous", given=person)
    if anonymous.registered_at is not None:
        return ctx.render("keep_already", name=found.name)
    if found.deleted_at is not None:
        return ctx.render("keep_too_late", name=found.name)
    cfg = services.directory.cfg
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
    return ctx.render(
        "keep_offered",
        name=found.name,
        link=invitation_link(cfg.public_web_url, token, KEEP),
        hours=cfg.invitations.keep_valid_hours,
    )
