"""`livechat`: staff the anonymous live chat, end a chat, block its throwaway account.

Counselling rooms hold no bot, so these are typed in the counsellor's service room and name
the chat by its request number (shown when it comes in and in `requests`):

* `livechat` — whether you staff it, how many chats run, whether the page is open, and how
  many chats began this year (the counts are all that stays of them);
* `livechat on|off` — staff the centre's live chat or stop (open needs at least one);
* `livechat end NR` — end the chat: request closed, the person removed from the room;
* `livechat block NR` — the same, and the throwaway account is locked at once.

Ending or blocking is for the counsellor who accepted the chat, any staff while nobody has
accepted it, and the centre's admins. The account and room are erased later by the deletion
routine (``live_chat.erase_after_hours``).
"""

from __future__ import annotations

from datetime import datetime

from appservice.clock import now_ms
from bots.framework.commands import STAFF, Argument, CommandRegistry, Role
from bots.framework.dispatch import CommandContext
from bots.framework.services import services_of
from bots.requests.requests import request_number

from . import chats

registry = CommandRegistry()

ON = ("on", "an", "ein")
OFF = ("off", "aus")
END = ("end", "ende", "beenden")
BLOCK = ("block", "sperren")


@registry.command(
    "livechat",
    roles=STAFF,
    section="requests",
    args=(
        Argument(
            "action", required=False, label={"de": "on|off|end|block", "en": "on|off|end|block"}
        ),
        Argument("id", required=False, label={"de": "NR", "en": "ID"}),
    ),
    help={
        "de": "Anonymer Livechat: besetzen (on/off), einen Chat beenden (end NR) oder "
        "sperren (block NR)",
        "en": "Anonymous live chat: staff it (on/off), end a chat (end ID) or block it (block ID)",
    },
)
async def livechat_command(
    ctx: CommandContext, action: str | None = None, id: str | None = None
) -> str:
    services = services_of(ctx)
    rows = services.rows
    centre = services.directory.cfg.centre(ctx.centre_id)
    if centre is None or centre.live_chat is None:
        return ctx.render("livechat_none")
    word = (action or "").lower()
    if not word:
        now = now_ms()
        seen = await chats.situation(services, centre, now)
        year = datetime.fromtimestamp(now / 1000, centre.zone).replace(
            month=1, day=1, hour=0, minute=0, second=0, microsecond=0
        )
        return ctx.render(
            "livechat_state",
            on=await rows.LiveChatStaff.is_on(ctx.user_id),
            staff=len(await chats.staffing(services, centre.id)),
            running=await rows.LiveChat.running(centre.id),
            capacity=centre.live_chat.capacity,
            status=seen.status,
            # Statistics: the only thing that stays of the chats (per clock hour, summed).
            begun=await rows.LiveChatCount.since(centre.id, int(year.timestamp() * 1000)),
            year=year.year,
        )
    if word in ON or word in OFF:
        on = word in ON
        changed = await rows.LiveChatStaff.set(ctx.user_id, ctx.centre_id, on, now_ms())
        return ctx.render("livechat_staffing", on=on, changed=changed)
    if word not in END and word not in BLOCK:
        return ctx.render("livechat_bad", given=action)
    number = request_number(id or "")
    if number is None:
        return ctx.render("livechat_bad_id", given=id or "", action=word)
    request = await rows.CounsellingRequest.get_in_centre(number, ctx.centre_id)
    chat = await rows.LiveChat.by_request(ctx.centre_id, number) if request else None
    if request is None or chat is None:
        return ctx.render("livechat_not_found", id=number)
    mine = request.counsellor_id in (None, ctx.user_id) or ctx.role == Role.ADMIN
    if not mine:
        return ctx.render("livechat_not_yours", id=number)
    block = word in BLOCK
    ended = await chats.end(services, ctx.centre_id, request, ctx.user_id, block)
    if block:
        await services.audit(ctx.centre_id, ctx.user_id, "livechat_block", "", f"request {number}")
    return ctx.render("livechat_ended", id=number, block=block, already=not ended)
