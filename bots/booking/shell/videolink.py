"""A counsellor's own video link ("Videoberatung über externe Software").

``videolink`` shows it, ``videolink set URL`` stores it after ``check_link`` (bad input is
answered and changes nothing), ``videolink clear`` goes back to a fresh Jitsi room per
appointment. The link is read when an appointment is confirmed or created, so appointments
confirmed earlier keep the link they were given.
"""

from __future__ import annotations

from appservice.clock import now_ms
from bots.framework.commands import STAFF, Argument, CommandRegistry
from bots.framework.dispatch import CommandContext
from bots.framework.services import rows_of

from ..video import check_link

registry = CommandRegistry()


@registry.command(
    "videolink",
    aliases=("videoadresse",),
    roles=STAFF,
    section="booking",
    help={
        "de": "Zeigt Ihre eigene Video-Adresse (statt eines Jitsi-Raums je Termin)",
        "en": "Shows your own video link (instead of a Jitsi room per appointment)",
    },
)
async def videolink_show(ctx: CommandContext) -> str:
    url = await rows_of(ctx).CounsellorVideoLink.of(ctx.user_id)
    return ctx.render("videolink", state="shown", url=url or "", problem="")


@registry.command(
    "videolink set",
    aliases=("videoadresse setzen",),
    roles=STAFF,
    section="booking",
    args=(Argument("url", label={"de": "ADRESSE", "en": "URL"}),),
    help={
        "de": "Ihre Videotermine nutzen diese https-Adresse (externe Videosoftware)",
        "en": "Your video appointments use this https link (external video software)",
    },
)
async def videolink_set(ctx: CommandContext, url: str) -> str:
    url = url.strip()
    problem = check_link(url)
    if problem is not None:
        return ctx.render("videolink", state="problem", url="", problem=problem.value)
    await rows_of(ctx).CounsellorVideoLink.set(ctx.user_id, url, now_ms())
    return ctx.render("videolink", state="set", url=url, problem="")


@registry.command(
    "videolink clear",
    aliases=("videoadresse löschen",),
    roles=STAFF,
    section="booking",
    help={
        "de": "Löscht Ihre Video-Adresse; Videotermine bekommen wieder einen Jitsi-Raum",
        "en": "Removes your video link; video appointments get a Jitsi room again",
    },
)
async def videolink_clear(ctx: CommandContext) -> str:
    await rows_of(ctx).CounsellorVideoLink.clear(ctx.user_id)
    return ctx.render("videolink", state="cleared", url="", problem="")
