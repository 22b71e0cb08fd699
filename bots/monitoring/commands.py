"""Monitoring commands (issue 11): the imperative shell around the pure core of this package.

``monitoring new CLIENT [REQUEST]`` asks the centre's form one question at a time (the state
waits sealed in ``monitoring_dialogue``, so a restart continues where it was), or takes the
whole form as ``key=value`` on one line. ``monitorings``, ``monitoring show|edit|delete``,
``monitoring export`` and ``statistik`` follow the reference's access rule: a counsellor
sees the monitorings they created, an admin all of their centre; anything else, and any
other centre's, is "not found". Values are sealed at rest as one JSON value, like notes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from mautrix.crypto.attachments import encrypt_attachment
from mautrix.types import (
    EventID,
    FileInfo,
    ImageInfo,
    MediaMessageEventContent,
    MessageType,
    RoomID,
)

from appservice.db import CounsellingRequest, Monitoring, MonitoringDialogue, Person
from appservice.sealing import Sealer, SealError, sealer
from bots.framework import paging
from bots.framework.commands import STAFF, Argument, CommandRegistry, Role
from bots.framework.dates import DEFAULT_TZ
from bots.framework.dispatch import CommandContext
from bots.framework.names import Names
from bots.framework.parsing import ParsedCommand
from bots.framework.services import BotServices, rows_of, services_of
from bots.requests.poll_events import chosen, parse_vote
from bots.requests.triage_questions import Option, Question

from . import chart as charts
from .dialogue import (
    BACK_WORDS,
    CANCEL_WORDS,
    CLEAR_WORDS,
    SKIP_WORDS,
    Ask,
    Cancelled,
    DialogueState,
    RequestFacts,
    answer,
    option_labels,
    parse_line,
    prefill_values,
    resume,
    start,
)
from .export import csv_filename, export_csv
from .forms import DATE_KEY, Form
from .polls import end_poll, offer_poll
from .setup import forms_of
from .stats import (
    Period,
    PeriodProblem,
    RequestTimes,
    monitoring_stats,
    parse_period,
    request_stats,
    request_view,
    tables,
)
from .values import Answer, Problem, Record, display, to_date

registry = CommandRegistry()
log = logging.getLogger("lotse.monitoring")

# A chat message, not a report: longer lists are paged, narrowed by period or exported.
MAX_LISTED = 50

CLIENT_ARG = Argument(
    "client",
    label={"de": "KLIENT", "en": "CLIENT"},
    help={"de": "Pseudonym oder Matrix-ID", "en": "pseudonym or Matrix id"},
)
REQUEST_ARG = Argument("request", required=False, label={"de": "ANFRAGE", "en": "REQUEST"})
ID_ARG = Argument("id", label={"de": "NR", "en": "ID"})
PERIOD_ARGS = (
    Argument("first", required=False, label={"de": "VON", "en": "FROM"}),
    Argument("last", required=False, label={"de": "BIS", "en": "TO"}),
)
FILTER_ARG = Argument(
    "filters", required=False, rest=True, label={"de": "KLIENT VON BIS", "en": "CLIENT FROM TO"}
)


# ------------------------------------------------------------------------------ helpers


MONITORING_PURPOSE = "monitorings"


def _sealer(services: BotServices) -> Sealer:
    enc = services.directory.cfg.encryption
    return sealer(enc.sealing_key, MONITORING_PURPOSE, enc.previous_sealing_keys)


def _context(centre_id: str, client_id: str) -> str:
    # Binds the values to their centre and client: a row copied elsewhere does not open.
    return f"monitoring:{centre_id}:{client_id}"


def _dialogue_context(counsellor_id: str) -> str:
    return f"monitoring-dialogue:{counsellor_id}"


def _form(ctx: CommandContext) -> Form:
    """The centre's form as start-up checked it (read again: a changed file applies)."""
    return forms_of(services_of(ctx).directory.cfg)[ctx.centre_id]


def _zone(ctx: CommandContext) -> ZoneInfo:
    """The centre's time zone: its "today", and the days requests were made on."""
    centre = services_of(ctx).directory.cfg.centre(ctx.centre_id)
    return centre.zone if centre is not None else DEFAULT_TZ


def _today(ctx: CommandContext) -> date:
    return datetime.now(_zone(ctx)).date()


def _scope(ctx: CommandContext) -> str | None:
    """Whose monitorings the asker sees: their own (counsellor), None = the centre (admin)."""
    return None if ctx.role is Role.ADMIN else ctx.user_id


def _yes_no(ctx: CommandContext) -> tuple[str, str]:
    return ctx.render("monitoring_yes_no", value=True), ctx.render("monitoring_yes_no", value=False)


def _problem_text(ctx: CommandContext, form: Form, problem: Problem) -> str:
    f = form.field(problem.field)
    label = f.label(ctx.lang) if f is not None else problem.field
    return ctx.render(
        "monitoring_value_problem", field=label, code=problem.code, params=problem.params
    )


def _open_values(services: BotServices, row: Monitoring) -> dict[str, Answer] | None:
    try:
        text = _sealer(services).open(row.sealed_values, _context(row.centre_id, row.client_id))
    except SealError:
        return None  # the key changed or the row was tampered with: shown as unreadable
    return cast(dict[str, Answer], json.loads(text))


def _seal_values(services: BotServices, centre_id: str, client_id: str, values: Any) -> str:
    text = json.dumps(values, ensure_ascii=False, sort_keys=True)
    return _sealer(services).seal(text, _context(centre_id, client_id))


async def _client(ctx: CommandContext, text: str) -> Person | None:
    """A client of the asker's centre only: other centres' people stay invisible."""
    return await rows_of(ctx).Person.find_in_centre(ctx.centre_id, text, roles=("client",))


def _fields_view(ctx: CommandContext, form: Form) -> list[dict[str, Any]]:
    return [{"key": f.key, "label": f.label(ctx.lang), "required": f.required} for f in form.fields]


def _line_problems(ctx: CommandContext, form: Form, problems: Any, unknown: Any) -> str:
    return ctx.render(
        "monitoring_line_problems",
        problems=[_problem_text(ctx, form, p) for p in problems],
        unknown=list(unknown),
        fields=_fields_view(ctx, form),
    )


def _ask_text(
    ctx: CommandContext, form: Form, step: Ask, *, first: bool = False, client: str = ""
) -> str:
    f = step.field
    return ctx.render(
        "monitoring_question",
        first=first,
        client=client,
        problem=_problem_text(ctx, form, step.problem) if step.problem else "",
        number=step.number,
        total=step.total,
        field=f.label(ctx.lang),
        required=f.required,
        options=option_labels(f, ctx.lang, _yes_no(ctx)),
        kind=f.kind,
        proposed=display(f, step.proposed, ctx.lang, _yes_no(ctx)) if step.proposed else "",
    )


async def _save(
    ctx: CommandContext,
    form: Form,
    client: Person,
    request_id: int | None,
    values: Mapping[str, Answer],
) -> str:
    services = services_of(ctx)
    day = str(values[DATE_KEY])
    sealed = _seal_values(services, ctx.centre_id, client.user_id, dict(values))
    number = await services.rows.Monitoring.add(
        ctx.centre_id, client.user_id, ctx.user_id, request_id, day, sealed
    )
    await services.audit(ctx.centre_id, ctx.user_id, "monitoring.new", client.user_id, f"#{number}")
    return ctx.render("monitoring_saved", id=number, client=client.name)


# ------------------------------------------------------------------------------ create


@registry.command(
    "monitoring new",
    aliases=("monitoring neu",),
    roles=STAFF,
    section="monitoring",
    args=(CLIENT_ARG, REQUEST_ARG),
    free_options=True,
    private=True,
    help={
        "de": "Legt ein Monitoring zu einem Kontakt an: Frage für Frage, oder alle "
        "Pflichtfelder auf einer Zeile als feld=wert",
        "en": "Documents a contact as a monitoring: question by question, or every required "
        "field on one line as key=value",
    },
)
async def monitoring_new(
    ctx: CommandContext, client: str, request: str | None = None, **options: str
) -> str:
    person = await _client(ctx, client)
    if person is None:
        return ctx.render("client_unknown_here", given=client)
    running = await rows_of(ctx).MonitoringDialogue.get(ctx.user_id)
    if running is not None:
        return await _repeat(ctx, running)
    request_id, facts = None, None
    if request is not None:
        found = (
            await rows_of(ctx).CounsellingRequest.get_in_centre(int(request), ctx.centre_id)
            if request.isdigit()
            else None
        )
        if found is None or found.client_id != person.user_id:
            return ctx.render("monitoring_request_unknown", given=request, client=person.name)
        request_id, facts = found.id, _facts(ctx, found)
    else:
        found = await rows_of(ctx).CounsellingRequest.open_for_client(person.user_id)
        if found is not None and found.centre_id == ctx.centre_id:
            request_id, facts = found.id, _facts(ctx, found)
    form, today = _form(ctx), _today(ctx)
    prefilled = prefill_values(form, facts, today)
    if options:
        line = parse_line(form, options.items(), today, prefilled=prefilled)
        if not line.ok:
            return _line_problems(ctx, form, line.problems, line.unknown)
        values = {k: v for k, v in line.values.items() if v is not None}
        return await _save(ctx, form, person, request_id, values)
    step = start(form, prefilled)
    sealed = _sealer(services_of(ctx)).seal(step.state.to_json(), _dialogue_context(ctx.user_id))
    if not await rows_of(ctx).MonitoringDialogue.begin(
        ctx.user_id, ctx.centre_id, person.user_id, request_id, sealed, step.field.key
    ):
        return ctx.render("monitoring_running", client=person.name)  # a race: that one runs
    await offer_poll(ctx, step, _yes_no(ctx))
    return _ask_text(ctx, form, step, first=True, client=person.name)


def _facts(ctx: CommandContext, request: CounsellingRequest) -> RequestFacts:
    created = datetime.fromtimestamp(request.created_at / 1000, _zone(ctx)).date()
    return RequestFacts(request.channel, request.topic, created)


async def _state(ctx: CommandContext, row: MonitoringDialogue) -> DialogueState | None:
    try:
        text = _sealer(services_of(ctx)).open(row.sealed_state, _dialogue_context(ctx.user_id))
        return DialogueState.from_json(text)
    except (SealError, ValueError):
        log.warning("dropped an unreadable monitoring dialogue in %s", ctx.centre_id)
        await rows_of(ctx).MonitoringDialogue.finish(ctx.user_id)
        return None


async def _repeat(ctx: CommandContext, row: MonitoringDialogue) -> str:
    """`monitoring new` while one is open: ask its current question again."""
    state = await _state(ctx, row)
    if state is None:
        return ctx.render("monitoring_cancelled")
    form = _form(ctx)
    person = await rows_of(ctx).Person.get(row.client_id)
    name = person.name if person is not None else ""
    step = resume(form, state)
    if row.poll_event_id is None and row.step == step.field.key:
        await offer_poll(ctx, step, _yes_no(ctx))  # only if none is out (or it failed)
    return ctx.render("monitoring_running", client=name) + "\n\n" + _ask_text(ctx, form, step)


async def monitoring_answer(ctx: CommandContext, parsed: ParsedCommand) -> str | None:
    """The answer to the open question; None when no form is open or a command was typed.

    The dialogue's own words (weiter, zurück, abbrechen …) are answers even where a command
    of that name exists. "" (no reply) when a simultaneous answer moved the form on.
    """
    if ctx.shared_room:
        return None  # the form is filled in the asker's own room, never the control room
    row = await rows_of(ctx).MonitoringDialogue.get(ctx.user_id)
    if row is None:
        return None
    text = parsed.raw[1:].strip() if parsed.raw.startswith("!") else parsed.raw
    word = " ".join(text.split()).casefold().rstrip(".!")
    own = word in SKIP_WORDS | BACK_WORDS | CANCEL_WORDS | CLEAR_WORDS
    if not own:
        usable, _, _ = ctx.registry.find(parsed.name, parsed.words, ctx.role)
        if usable is not None:
            return None
    return await _advance(ctx, row, text)


async def _advance(ctx: CommandContext, row: MonitoringDialogue, text: str) -> str:
    """What ``text`` typed (or voted) for the field asked does: the next question, the
    saved monitoring, or the cancellation; the answered field's poll is ended."""
    state = await _state(ctx, row)
    if state is None:
        return ctx.render("monitoring_cancelled")
    form = _form(ctx)
    step = answer(form, state, text, _today(ctx))
    if isinstance(step, Cancelled):
        await rows_of(ctx).MonitoringDialogue.finish(ctx.user_id)
        await end_poll(ctx, row.poll_event_id)
        return ctx.render("monitoring_cancelled")
    if isinstance(step, Ask):
        sealed = _sealer(services_of(ctx)).seal(
            step.state.to_json(), _dialogue_context(ctx.user_id)
        )
        if not await rows_of(ctx).MonitoringDialogue.save(
            ctx.user_id, row.sealed_state, sealed, step.field.key
        ):
            return ""
        if step.field.key == row.step and row.poll_event_id is not None:
            # The same field asked again (a bad answer): its poll stays current.
            await rows_of(ctx).MonitoringDialogue.set_poll(
                ctx.user_id, step.field.key, row.poll_event_id
            )
        else:
            await end_poll(ctx, row.poll_event_id)
            await offer_poll(ctx, step, _yes_no(ctx))
        return _ask_text(ctx, form, step)
    if not await rows_of(ctx).MonitoringDialogue.finish(ctx.user_id):
        return ""
    await end_poll(ctx, row.poll_event_id)
    person = await rows_of(ctx).Person.get(row.client_id)
    if person is None or person.centre_id != ctx.centre_id:
        return ctx.render("client_unknown_here", given=row.client_id)
    return await _save(ctx, form, person, row.request_id, step.values)


async def monitoring_vote(
    ctx: CommandContext, content: dict[str, Any]
) -> tuple[str, EventID | None]:
    """A vote on a monitoring poll in the asker's service room: the reply and its poll.

    A vote on the poll of the field being asked answers exactly as typing the option's
    number would; a vote on any other poll, or with no valid answer, changes nothing.
    """
    vote = parse_vote(content)
    if vote is None:
        log.info("ignored a malformed poll response %s", ctx.event_id)
        return "", None
    poll = EventID(vote.poll_event_id)
    row = await rows_of(ctx).MonitoringDialogue.get(ctx.user_id)
    if row is None or row.poll_event_id != vote.poll_event_id:
        log.info("vote %s on poll %s: not the field being asked", ctx.event_id, poll)
        return ctx.render("monitoring_poll_stale", running=row is not None), poll
    f = _form(ctx).field(row.step)
    labels = option_labels(f, ctx.lang, _yes_no(ctx)) if f is not None else []
    options = tuple(Option(str(i), label) for i, label in enumerate(labels, 1))
    picked = chosen(Question(row.step, options), vote.answers)
    if picked is None:
        log.info("vote %s on poll %s: no such answer", ctx.event_id, poll)
        return ctx.render("triage_poll_unknown", count=len(options)), poll
    return await _advance(ctx, row, picked.id), poll


registry.on_dialogue(Role.COUNSELLOR)(monitoring_answer)
registry.on_dialogue(Role.ADMIN)(monitoring_answer)


# ------------------------------------------------------------------ list, show, edit, delete


def _split_filters(
    words: list[str], today: date
) -> tuple[str | None, Period | PeriodProblem | None]:
    """``[CLIENT] [FROM] [TO]``: words that read as a period are one; the first that does
    not is the client. No period words: no period (every date)."""
    if not words:
        return None, None
    whole = parse_period(words, today)
    if isinstance(whole, Period):
        return None, whole
    return words[0], parse_period(words[1:], today) if words[1:] else None


@registry.command(
    "monitorings",
    aliases=("monitoring", "monitoring list", "monitoring liste"),
    roles=STAFF,
    section="monitoring",
    args=(FILTER_ARG, Argument(paging.OPTION, required=False, keyword=True)),
    help={
        "de": "Listet Monitorings, das neueste zuerst (Berater:innen ihre eigenen, Admins die "
        "der Beratungsstelle), wahlweise einer:eines Ratsuchenden und eines Zeitraums, 50 je "
        "Seite (`page=2` …)",
        "en": "Lists monitorings, newest first (counsellors their own, admins the centre's), "
        "optionally of one client and a period, 50 a page (`page=2` …)",
    },
)
async def monitoring_list(
    ctx: CommandContext, filters: str | None = None, page: str | None = None
) -> str:
    number = paging.page_number(page)
    if number is None:
        return ctx.render("page_problem", problem="bad_page", given=page or "", maximum=0)
    today = _today(ctx)
    words = filters.split() if filters else []
    client_word, period = _split_filters(words, today)
    if isinstance(period, PeriodProblem):
        return ctx.render(
            "monitoring_period_problem", code=period.code, given=period.given, command="monitorings"
        )
    person = None
    if client_word is not None:
        person = await _client(ctx, client_word)
        if person is None:
            return ctx.render("client_unknown_here", given=client_word)
    form, services, names = _form(ctx), services_of(ctx), Names(ctx)
    rows, total = await services.rows.Monitoring.find_page(
        ctx.centre_id,
        _scope(ctx),
        person.user_id if person else None,
        period.first.isoformat() if period else None,
        period.last.isoformat() if period else None,
        MAX_LISTED,
        (number - 1) * MAX_LISTED,
    )
    shown = paging.Page(number, MAX_LISTED, total)
    if paging.beyond(shown) and total:
        return ctx.render("page_problem", problem="page_beyond", given=number, maximum=shown.pages)
    listed = []
    for row in rows:
        values = _open_values(services, row)
        listed.append(
            {
                "id": row.id,
                "date": _day(row.contact_date),
                "client": await names.of(row.client_id),
                "counsellor": await names.of(row.counsellor_id),
                "summary": _summary(ctx, form, values) if values is not None else None,
            }
        )
    return ctx.render(
        "monitoring_list",
        rows=listed,
        **paging.shown(shown, " ".join(["monitorings", *words])),
        scope="own" if _scope(ctx) else "centre",
        client=person.name if person else "",
        first=period.first.strftime("%d.%m.%Y") if period else "",
        last=period.last.strftime("%d.%m.%Y") if period else "",
    )


def _day(iso: str) -> str:
    day = to_date(iso)
    return day.strftime("%d.%m.%Y") if day else iso


def _summary(ctx: CommandContext, form: Form, values: Mapping[str, Answer]) -> str:
    """The required fields besides the date, as the list line shows them."""
    shown = [f for f in form.fields if f.required and f.key != DATE_KEY]
    return ", ".join(display(f, values.get(f.key), ctx.lang, _yes_no(ctx)) for f in shown)


async def _visible(ctx: CommandContext, id: str) -> Monitoring | str:
    """The monitoring with this number if the asker may see it, else the "not found" reply
    (someone else's and another centre's alike: their existence is not the asker's)."""
    row = (
        await rows_of(ctx).Monitoring.get(int(id), ctx.centre_id, _scope(ctx))
        if id.isdigit()
        else None
    )
    return row if row is not None else ctx.render("monitoring_not_found", id=id)


@registry.command(
    "monitoring show",
    aliases=("monitoring zeigen", "monitoring anzeigen"),
    roles=STAFF,
    section="monitoring",
    args=(ID_ARG,),
    help={"de": "Zeigt ein Monitoring mit allen Feldern", "en": "Shows a monitoring in full"},
)
async def monitoring_show(ctx: CommandContext, id: str) -> str:
    row = await _visible(ctx, id)
    if isinstance(row, str):
        return row
    values = _open_values(services_of(ctx), row)
    form, names = _form(ctx), Names(ctx)
    fields = []
    if values is not None:
        for f in form.fields:
            shown = display(f, values.get(f.key), ctx.lang, _yes_no(ctx))
            fields.append({"key": f.key, "label": f.label(ctx.lang), "value": shown})
    return ctx.render(
        "monitoring_show",
        id=row.id,
        client=await names.of(row.client_id),
        counsellor=await names.of(row.counsellor_id),
        request=row.request_id or "",
        fields=fields,
        unreadable=values is None,
    )


@registry.command(
    "monitoring edit",
    aliases=("monitoring bearbeiten", "monitoring ändern"),
    roles=STAFF,
    section="monitoring",
    args=(ID_ARG,),
    free_options=True,
    help={
        "de": "Ändert Felder eines Monitorings: feld=wert (leer lässt ein freiwilliges Feld leer)",
        "en": "Changes fields of a monitoring: key=value (empty empties an optional field)",
    },
)
async def monitoring_edit(ctx: CommandContext, id: str, **options: str) -> str:
    row = await _visible(ctx, id)
    if isinstance(row, str):
        return row
    form = _form(ctx)
    if not options:
        return ctx.render("monitoring_edit_nothing", id=row.id, fields=_fields_view(ctx, form))
    line = parse_line(form, options.items(), _today(ctx), partial=True)
    if not line.ok:
        return _line_problems(ctx, form, line.problems, line.unknown)
    services = services_of(ctx)
    values = _open_values(services, row)
    if values is None:
        return ctx.render("monitoring_unreadable", id=row.id)
    for key, value in line.values.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    sealed = _seal_values(services, row.centre_id, row.client_id, values)
    if not await services.rows.Monitoring.edit(
        row.id, ctx.centre_id, str(values[DATE_KEY]), sealed
    ):
        return ctx.render("monitoring_not_found", id=id)
    changed = ",".join(sorted(line.values))
    await services.audit(
        ctx.centre_id, ctx.user_id, "monitoring.edit", row.client_id, f"#{row.id} {changed}"
    )
    return ctx.render("monitoring_edited", id=row.id)


@registry.command(
    "monitoring delete",
    aliases=("monitoring löschen", "monitoring loeschen"),
    roles=STAFF,
    section="monitoring",
    args=(ID_ARG,),
    help={"de": "Löscht ein Monitoring", "en": "Deletes a monitoring"},
)
async def monitoring_delete(ctx: CommandContext, id: str) -> str:
    row = await _visible(ctx, id)
    if isinstance(row, str):
        return row
    if not await rows_of(ctx).Monitoring.delete(row.id, ctx.centre_id):
        return ctx.render("monitoring_not_found", id=id)
    await services_of(ctx).audit(
        ctx.centre_id, ctx.user_id, "monitoring.delete", row.client_id, f"#{row.id}"
    )
    return ctx.render("monitoring_deleted", id=row.id)


# ----------------------------------------------------------------- export and statistics


async def _records(ctx: CommandContext, period: Period) -> list[Record]:
    """The monitorings the asker may see in ``period``, names resolved."""
    rows = await rows_of(ctx).Monitoring.find(
        ctx.centre_id, _scope(ctx), None, period.first.isoformat(), period.last.isoformat()
    )
    services, names = services_of(ctx), Names(ctx)
    records = []
    for row in rows:
        values = _open_values(services, row)
        if values is None:
            continue
        client, counsellor = await names.of(row.client_id), await names.of(row.counsellor_id)
        records.append(Record(row.id, client, counsellor, values))
    return records


def _period(ctx: CommandContext, words: list[str], command: str) -> Period | str:
    period = parse_period(words, _today(ctx))
    if isinstance(period, PeriodProblem):
        return ctx.render(
            "monitoring_period_problem", code=period.code, given=period.given, command=command
        )
    return period


async def _send_file(
    ctx: CommandContext, data: bytes, name: str, mimetype: str, image: tuple[int, int] | None
) -> None:
    """Encrypt ``data``, upload it and post it into the asker's room as a file or image."""
    services = services_of(ctx)
    assert services.upload_media is not None and services.send_content is not None
    ciphertext, encrypted = encrypt_attachment(data)
    encrypted.url = await services.upload_media(ciphertext, "application/octet-stream", name)
    if image is not None:
        info: FileInfo = ImageInfo(
            mimetype=mimetype, size=len(data), width=image[0], height=image[1]
        )
        msgtype = MessageType.IMAGE
    else:
        info, msgtype = FileInfo(mimetype=mimetype, size=len(data)), MessageType.FILE
    content = MediaMessageEventContent(
        msgtype=msgtype, body=name, filename=name, file=encrypted, info=info
    )
    await services.send_content(RoomID(ctx.room_id), content, f"monitoring-{ctx.event_id}")


@registry.command(
    "monitoring export",
    aliases=("monitoring exportieren",),
    roles=STAFF,
    section="monitoring",
    args=PERIOD_ARGS,
    private=True,
    help={
        "de": "Schickt die Monitorings eines Zeitraums als CSV-Datei (für Excel) hierher, "
        "verschlüsselt: Berater:innen ihre eigenen, Admins die der Beratungsstelle",
        "en": "Sends the monitorings of a period here as a CSV file (for Excel), encrypted: "
        "counsellors their own, admins the centre's",
    },
)
async def monitoring_export(
    ctx: CommandContext, first: str | None = None, last: str | None = None
) -> str:
    words = [w for w in (first, last) if w is not None]
    period = _period(ctx, words, "monitoring export")
    if isinstance(period, str):
        return period
    form, records = _form(ctx), await _records(ctx, period)
    columns = cast(
        tuple[str, str, str],
        tuple(
            ctx.render("monitoring_csv_column", column=c) for c in ("id", "client", "counsellor")
        ),
    )
    data = export_csv(form, records, ctx.lang, _yes_no(ctx), columns)
    name = csv_filename(period.first, period.last)
    await _send_file(ctx, data, name, "text/csv", None)
    scope = "own" if _scope(ctx) else "centre"
    await services_of(ctx).audit(
        ctx.centre_id, ctx.user_id, "monitoring.export", "", f"{scope} {len(records)}"
    )
    return ctx.render(
        "monitoring_exported",
        count=len(records),
        filename=name,
        first=period.first.strftime("%d.%m.%Y"),
        last=period.last.strftime("%d.%m.%Y"),
        scope=scope,
    )


@registry.command(
    "statistik",
    aliases=("statistics", "monitoring statistik", "monitoring statistics"),
    roles=STAFF,
    section="monitoring",
    args=PERIOD_ARGS,
    private=True,
    help={
        "de": "Statistik eines Zeitraums (Standard: 1. Januar bis Ende des Monats) als Text "
        "und Diagramm: Kontakte, Personen, Minuten nach Kanal, Thema, Berater:in; Anfragen",
        "en": "Statistics for a period (default: 1 January to the end of this month) as text "
        "and chart: contacts, persons, minutes by channel, topic, counsellor; requests",
    },
)
async def statistics_command(
    ctx: CommandContext, first: str | None = None, last: str | None = None
) -> str:
    words = [w for w in (first, last) if w is not None]
    command = "statistik" if ctx.lang == "de" else "statistics"
    period = _period(ctx, words, command)
    if isinstance(period, str):
        return period
    form, records = _form(ctx), await _records(ctx, period)
    zone = _zone(ctx)
    start_ms, end_ms = period.bounds_ms(zone)
    requests = [
        RequestTimes(r["status"], r["created_at"], r["answered_at"])
        for r in await rows_of(ctx).Monitoring.request_times(
            ctx.centre_id, _scope(ctx), start_ms, end_ms
        )
    ]
    found = monitoring_stats(form, records, period)
    asked = request_stats(requests, period, zone)
    # Anonymous chats leave only counts (issue 14): the centre's, so not in one's own view.
    anonymous = None
    if not _scope(ctx):
        held, came = await rows_of(ctx).TopicChat.counted(ctx.centre_id, start_ms, end_ms)
        live = await rows_of(ctx).LiveChatCount.between(ctx.centre_id, start_ms, end_ms)
        anonymous = {"live": live, "topics": held, "participants": came}
    not_given = ctx.render("monitoring_chart_label", part="not_given", subject="")
    shown = tables(form, found, ctx.lang, _yes_no(ctx), not_given)
    dates = f"{period.first.strftime('%d.%m.%Y')} – {period.last.strftime('%d.%m.%Y')}"

    def label(part: str, subject: str) -> str:
        return ctx.render("monitoring_chart_label", part=part, subject=subject)

    panels = charts.chart_panels(shown, asked, label)
    png = await asyncio.to_thread(
        charts.render_chart,
        panels,
        title=label("title", dates),
        empty=label("empty", ""),
        decimal="," if ctx.lang == "de" else ".",
    )
    await _send_file(
        ctx,
        png,
        f"statistik_{period.first}_{period.last}.png",
        "image/png",
        (charts.WIDTH, charts.HEIGHT),
    )
    return ctx.render(
        "monitoring_stats",
        first=period.first.strftime("%d.%m.%Y"),
        last=period.last.strftime("%d.%m.%Y"),
        scope="own" if _scope(ctx) else "centre",
        total=found.total,
        tables=shown,
        requests=request_view(asked, lambda s: label("status", s)),
        anonymous=anonymous,
        command=command,
    )
