"""Clients in the counsellor's service room: create, search, profile, edit, home, bookmarks.

Reference: assisto "Mitgliederverwaltung". Every client is resolved with
``Person.find_in_centre``, so a counsellor never finds a client of another centre.
Admin-only actions (lock, delete, restore) are in bots/records/client_admin.py.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from appservice.admin_api import UserInfo as AdminUser
from appservice.config import CentreConfig
from appservice.db import Person, Rows
from bots.framework import paging
from bots.framework.commands import STAFF, Argument, CommandRegistry, Role
from bots.framework.dates import DEFAULT_TZ, local_time
from bots.framework.dispatch import CommandContext
from bots.framework.services import BotServices, rows_of, services_of
from bots.mail.mail_settings import already_confirmed, start_confirmation, why_no_confirmation
from bots.requests.transfer import propose_transfer
from bridge.client_accounts import ClientAccounts, PseudonymTaken
from mailgateway import notices
from mailgateway.outbox import InvalidAddress, validate_address

from . import client_rules as rules

# This module's commands; appservice/app.py assembles the assistant's from all of them.
registry = CommandRegistry()

LIST_LIMIT = 50
# `clients sort=login` asks Synapse about every match up to this many (else the page's only).
FRESH_SORT = 2 * LIST_LIMIT
# Synapse admin API calls in parallel for a list (last login of each client).
LOOKUPS_AT_ONCE = 8
# A taken login gets a short random suffix; this many tries.
_ID = Argument("client", label={"de": "KLIENT", "en": "CLIENT"})
_PROBLEM_DEFAULTS: dict[str, Any] = {
    "given": "",
    "client": "",
    "keys": [],
    "fields": [],
    "until": "",
    "maximum": 0,
}


def problem(ctx: CommandContext, code: str, **variables: Any) -> str:
    """The one template for bad input about clients; ``code`` says which case."""
    return ctx.render("client_problem", problem=code, **{**_PROBLEM_DEFAULTS, **variables})


def centre_of(ctx: CommandContext) -> CentreConfig:
    centre = services_of(ctx).directory.cfg.centre(ctx.centre_id)
    assert centre is not None
    return centre


def when(ms: int | None, tz: ZoneInfo = DEFAULT_TZ) -> str:
    """A time for people: date and time in ``tz`` (say which zone), or empty."""
    return "" if ms is None else local_time(ms, tz)


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, DEFAULT_TZ).strftime("%d.%m.%Y")


async def find_client(ctx: CommandContext, text: str) -> Person | None:
    """A client of the asking person's centre, by pseudonym, login or Matrix id."""
    return await rows_of(ctx).Person.find_in_centre(ctx.centre_id, text, roles=("client",))


async def last_seen(services: BotServices, user_ids: list[str]) -> dict[str, int | None]:
    """Last login per account, from Synapse (``last_seen_ts``, ms)."""
    limit = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def lookup(uid: str) -> AdminUser | None:
        async with limit:
            return await services.admin.get_user(uid)

    infos = await asyncio.gather(*(lookup(uid) for uid in user_ids))
    seen = {
        uid: (info.last_seen_ts if info else None)
        for uid, info in zip(user_ids, infos, strict=True)
    }
    await services.rows.Person.record_last_seen(seen)  # what `clients sort=login` sorts by
    return seen


async def names_of(rows: Rows, user_ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for uid in user_ids:
        person = await rows.Person.get(uid)
        names[uid] = person.name if person else uid
    return names


def check_changes(ctx: CommandContext, changes: rules.Changes, centre: CentreConfig) -> str | None:
    """The problem reply for bad options, or None when every option can be applied."""
    fields = [f.key for f in centre.master_data]
    if changes.unknown:
        return problem(ctx, "unknown_keys", keys=changes.unknown, fields=fields)
    if changes.too_long:
        return problem(ctx, "too_long", keys=changes.too_long, maximum=rules.MAX_VALUE)
    pseudonym = changes.account.get("pseudonym")
    if pseudonym is not None:
        code = rules.pseudonym_problem(pseudonym)
        if code:
            return problem(ctx, code, given=pseudonym, maximum=rules.MAX_PSEUDONYM)
    email = changes.account.get("email")
    if email:
        try:
            validate_address(email)
        except InvalidAddress:
            return problem(ctx, "email_invalid", given=email)
    phone = changes.account.get("phone")
    if phone and rules.phone_problem(phone):
        return problem(ctx, "phone_invalid", given=phone)
    return None


# --- create -----------------------------------------------------------------------------


@registry.command(
    "client new",
    aliases=("klient neu",),
    roles=STAFF,
    section="clients",
    args=(Argument("pseudonym", rest=True),),
    free_options=True,
    help={
        "de": "Legt eine:n Ratsuchende:n mit Pseudonym an (optional `email=`, `phone=` und "
        "die Stammdaten Ihrer Beratungsstelle); Sie werden Stammberater:in",
        "en": "Creates a client with a pseudonym (optional `email=`, `phone=` and your "
        "centre's master data); you become their home counsellor",
    },
)
async def client_new(ctx: CommandContext, pseudonym: str, **options: str) -> str:
    pseudonym = " ".join(pseudonym.split())
    centre = centre_of(ctx)
    changes = rules.sort_options(options, (f.key for f in centre.master_data))
    if "pseudonym" in changes.account:
        changes.unknown.append("pseudonym")
    code = rules.pseudonym_problem(pseudonym)
    if code:
        return problem(ctx, code, given=pseudonym, maximum=rules.MAX_PSEUDONYM)
    bad = check_changes(ctx, changes, centre)
    if bad:
        return bad
    existing = await find_client(ctx, pseudonym)
    if existing is not None and existing.name.casefold() == pseudonym.casefold():
        return problem(ctx, "duplicate", given=pseudonym)
    services = services_of(ctx)
    cfg = services.directory.cfg
    accounts = ClientAccounts(
        services.rows, services.admin, services.service_rooms, cfg.homeserver.domain
    )
    suffixes = [secrets.token_hex(2) for _ in range(rules.LOGIN_ATTEMPTS)]
    logins = rules.login_candidates(pseudonym, cfg.appservice.namespace_prefix, suffixes)
    try:
        person, room = await accounts.create(ctx.centre_id, pseudonym, logins, ctx.user_id)
    except PseudonymTaken:
        return problem(ctx, "duplicate", given=pseudonym)
    account = {k: v for k, v in changes.account.items() if v}
    if account:
        await person.set_account(**account)
    if changes.master_data:
        await services.rows.MasterDataValue.apply(person.user_id, changes.master_data)
    await services.audit(ctx.centre_id, ctx.user_id, "client_new", person.user_id)
    return ctx.render(
        "client_created",
        pseudonym=pseudonym,
        login=person.user_id,
        room=room,
        fields=sorted(changes.master_data),
    )


# --- list and profile ---------------------------------------------------------------------


@registry.command(
    "clients",
    aliases=("klienten",),
    roles=STAFF,
    section="clients",
    args=(
        Argument(
            "query",
            required=False,
            rest=True,
            label={"de": "suche", "en": "search"},
        ),
        Argument("sort", required=False, keyword=True),
        Argument(paging.OPTION, required=False, keyword=True),
    ),
    help={
        "de": "Sucht Ratsuchende (Pseudonym oder Login), gefiltert nach Stammberater:in "
        "(`meine`, `alle`, `@name`), sortiert mit `sort=name` oder `sort=login` (letztes "
        "Login), 50 je Seite (`page=2` …)",
        "en": "Searches clients (pseudonym or login), filtered by home counsellor (`mine`, "
        "`all`, `@name`), sorted with `sort=name` or `sort=login` (last login), 50 a page "
        "(`page=2` …)",
    },
)
async def clients_list(
    ctx: CommandContext, query: str = "", sort: str = "name", page: str | None = None
) -> str:
    sort = sort.lower()
    if sort not in rules.SORTS:
        return problem(ctx, "bad_sort", given=sort)
    number = paging.page_number(page)
    if number is None:
        return ctx.render("page_problem", problem="bad_page", given=page or "", maximum=0)
    wanted = rules.parse_query(query.split())
    services = services_of(ctx)
    home_id: str | None = None
    if wanted.scope == "mine":
        home_id = ctx.user_id
    elif wanted.scope == "counsellor":
        counsellor = await services.rows.Person.find_in_centre(
            ctx.centre_id, wanted.counsellor, roles=("counsellor", "admin")
        )
        if counsellor is None:
            return problem(ctx, "counsellor_not_found", given=wanted.counsellor)
        home_id = counsellor.user_id
    page_of = services.rows.Person.clients_page
    fresh: dict[str, int | None] = {}
    if sort == "login":
        # A few matches are all asked about first, so they sort by their current last login;
        # more sort by the copy Lotse keeps (see v28_person_last_seen).
        few, total = await page_of(ctx.centre_id, home_id, wanted.text, False, FRESH_SORT + 1, 0)
        if total <= FRESH_SORT:
            fresh = await last_seen(services, [p.user_id for p in few])
    # Only the page is read, and only its clients are looked up in Synapse.
    people, total = await page_of(
        ctx.centre_id, home_id, wanted.text, sort == "login", LIST_LIMIT, (number - 1) * LIST_LIMIT
    )
    shown = paging.Page(number, LIST_LIMIT, total)
    if paging.beyond(shown) and total:
        return ctx.render("page_problem", problem="page_beyond", given=number, maximum=shown.pages)
    seen = fresh or await last_seen(services, [p.user_id for p in people])
    homes = await names_of(
        services.rows, {p.home_counsellor_id for p in people if p.home_counsellor_id}
    )
    centre = centre_of(ctx)
    rows = [
        {
            "name": p.name,
            "login": p.user_id,
            "deleted": p.account_status == "deleted",
            "status": rules.shown_status(p.account_status, seen[p.user_id]),
            "last_login": when(seen[p.user_id], centre.zone),
            "home": homes.get(p.home_counsellor_id or "", ""),
        }
        for p in people
    ]
    again = " ".join(["clients", *query.split(), *([f"sort={sort}"] if sort == "login" else [])])
    return ctx.render(
        "clients_list",
        clients=rows,
        **paging.shown(shown, again),
        scope=wanted.scope,
        text=wanted.text,
        sort=sort,
        timezone=centre.timezone,
    )


@registry.command(
    "client",
    aliases=("klient",),
    roles=STAFF,
    section="clients",
    args=(Argument("client", rest=True, label={"de": "KLIENT", "en": "CLIENT"}),),
    help={
        "de": "Zeigt das Profil einer/eines Ratsuchenden (Status, letztes Login, Stammdaten)",
        "en": "Shows a client's profile (status, last login, master data)",
    },
)
async def client_show(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    services = services_of(ctx)
    seen = (await last_seen(services, [person.user_id]))[person.user_id]
    centre = centre_of(ctx)
    values = await services.rows.MasterDataValue.of(person.user_id)
    home = (
        (await names_of(rows_of(ctx), {person.home_counsellor_id}))
        if person.home_counsellor_id
        else {}
    )
    show_contact = rules.may_see_contact(ctx.role.key)
    until = ""
    if person.deleted_at is not None:
        grace = (await services.settings(ctx.centre_id)).deletion_grace_days
        until = day(rules.erase_at(person.deleted_at, grace))
    return ctx.render(
        "client_profile",
        client=person.name,
        login=person.user_id,
        home=home.get(person.home_counsellor_id or "", ""),
        status=rules.shown_status(person.account_status, seen),
        locked=person.locked_at is not None,
        last_login=when(seen, centre.zone),
        invited=when(person.invited_at, centre.zone),
        timezone=centre.timezone,
        until=until,
        fields=[
            {"label": f.label(ctx.lang), "value": values.get(f.key, ""), "key": f.key}
            for f in centre.master_data
        ],
        show_contact=show_contact,
        email=(person.email or "") if show_contact else "",
        phone=(person.phone or "") if show_contact else "",
        bookmarked=person.user_id in await services.rows.Bookmark.client_ids(ctx.user_id),
    )


# --- edit ---------------------------------------------------------------------------------


@registry.command(
    "client set",
    aliases=("klient ändern", "klient aendern"),
    roles=STAFF,
    section="clients",
    args=(_ID,),
    free_options=True,
    help={
        "de": "Ändert Pseudonym, Telefon oder Stammdaten, z. B. `client set Anna phone=040123` "
        "(leerer Wert löscht); die E-Mail-Adresse (`email=`) ändern nur Admins, und eine neue "
        "gilt erst, wenn sie über den Link bestätigt ist, der an sie geht",
        "en": "Changes pseudonym, phone or master data, e.g. `client set Anna phone=040123` "
        "(an empty value clears it); only admins change the e-mail address (`email=`), and a "
        "new one counts only once confirmed through the link sent to it",
    },
)
async def client_set(ctx: CommandContext, client: str, **options: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    centre = centre_of(ctx)
    fields = [f.key for f in centre.master_data]
    if not options:
        return problem(ctx, "nothing_to_change", client=person.name, fields=fields)
    if person.deleted_at is not None:
        return problem(ctx, "deleted", client=person.name)
    changes = rules.sort_options(options, fields)
    bad = check_changes(ctx, changes, centre)
    if bad:
        return bad
    new_address = changes.account.get("email")
    if new_address is not None:
        # The address is where a forgotten password is reset: pointing it elsewhere would
        # hand the account over (DESIGN.md, privacy point 7).
        if ctx.role is not Role.ADMIN:
            return problem(ctx, "email_admins_only", client=person.name)
        mail = services_of(ctx).mail
        refused = (
            await why_no_confirmation(services_of(ctx).mail_rows, mail, person)
            if new_address
            else None
        )
        if refused is not None:
            return problem(ctx, "email_not_sent", client=person.name, given=refused)
    services = services_of(ctx)
    pseudonym = changes.account.get("pseudonym")
    if pseudonym is not None:
        pseudonym = " ".join(pseudonym.split())
        if pseudonym != person.display_name and not await person.set_display_name(pseudonym):
            return problem(ctx, "duplicate", given=pseudonym)
        await services.admin.create_or_update_user(person.user_id, displayname=pseudonym)
    skip = ("pseudonym", "email")
    account = {k: (v or None) for k, v in changes.account.items() if k not in skip}
    if account:
        await person.set_account(**account)
    if changes.master_data:
        await services.rows.MasterDataValue.apply(person.user_id, changes.master_data)
    email_state = (
        "" if new_address is None else await _change_address(services, person, new_address)
    )
    if email_state in ("removed", notices.QUEUED):
        await services.tell(person, "email_changed_by_staff", address=new_address)
    changed = sorted(changes.account) + sorted(changes.master_data)
    await services.audit(
        ctx.centre_id, ctx.user_id, "client_set", person.user_id, ",".join(changed)
    )
    return ctx.render(
        "client_updated",
        client=person.name,
        changed=changed,
        email_state=email_state,
        address=new_address or "",
    )


async def _change_address(services: BotServices, person: Person, address: str) -> str:
    """An admin's new address for a client: ``removed``, ``unchanged``, ``queued`` (the
    confirmation link went to it; until it is used nothing else does), or why not."""
    if not address:
        await services.mail_rows.Preferences.forget_address(person.user_id)
        await person.set_account(email=None)
        return "removed"
    if await already_confirmed(services.mail_rows, person, address):
        return "unchanged"
    return await start_confirmation(services.mail_rows, services.mail, person, address)


@registry.command(
    "client home",
    aliases=("klient stammberatung",),
    roles=STAFF,
    section="clients",
    args=(_ID, Argument("counsellor", rest=True, label={"de": "BERATER:IN", "en": "COUNSELLOR"})),
    help={
        "de": "Macht eine Beraterin oder einen Berater Ihrer Beratungsstelle zur "
        "Stammberatung der/des Ratsuchenden; hat sie oder er schon eine, geschieht das wie "
        "`übergeben` erst mit Zustimmung",
        "en": "Makes a counsellor of your centre the client's home counsellor; if they have "
        "one already, this happens only with their consent, as with `transfer`",
    },
)
async def client_home(ctx: CommandContext, client: str, counsellor: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    if person.deleted_at is not None:
        return problem(ctx, "deleted", client=person.name)
    home = await rows_of(ctx).Person.find_in_centre(
        ctx.centre_id, counsellor, roles=("counsellor", "admin")
    )
    code = rules.home_problem(
        home.role if home else None, home is not None and home.deleted_at is not None
    )
    if code or home is None:
        return problem(ctx, code or "counsellor_not_found", given=counsellor)
    if person.home_counsellor_id is not None:
        # Moving a client is a transfer: it happens only with their consent.
        return await propose_transfer(ctx, person, home)
    await person.set_home_counsellor(home.user_id)
    await services_of(ctx).audit(
        ctx.centre_id, ctx.user_id, "client_home", person.user_id, home.user_id
    )
    return ctx.render("client_home_set", client=person.name, home=home.name)


# --- bookmarks ----------------------------------------------------------------------------


@registry.command(
    "bookmark",
    aliases=("merken",),
    roles=STAFF,
    section="clients",
    args=(Argument("client", rest=True, label={"de": "KLIENT", "en": "CLIENT"}),),
    help={
        "de": "Setzt eine:n Ratsuchende:n auf Ihre Merkliste oder nimmt sie/ihn wieder herunter",
        "en": "Adds a client to your bookmarks, or removes them if already there",
    },
    private=True,
)
async def bookmark(ctx: CommandContext, client: str) -> str:
    person = await find_client(ctx, client)
    if person is None:
        return problem(ctx, "not_found", given=client)
    added = await rows_of(ctx).Bookmark.toggle(ctx.user_id, person.user_id)
    return ctx.render("bookmark_toggled", client=person.name, added=added)


@registry.command(
    "bookmarks",
    aliases=("merkliste",),
    roles=STAFF,
    section="clients",
    help={"de": "Zeigt Ihre Merkliste", "en": "Lists your bookmarked clients"},
    private=True,
)
async def bookmarks(ctx: CommandContext) -> str:
    rows = []
    for user_id in await rows_of(ctx).Bookmark.client_ids(ctx.user_id):
        person = await rows_of(ctx).Person.get(user_id)
        # Only clients of the own centre, even if one moved since (centres stay apart).
        if person is not None and person.centre_id == ctx.centre_id:
            rows.append(
                {
                    "name": person.name,
                    "login": person.user_id,
                    "deleted": person.deleted_at is not None,
                    "status": person.account_status,
                }
            )
    return ctx.render("bookmarks_list", clients=rows)
