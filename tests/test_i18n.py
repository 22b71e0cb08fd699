"""Rendering bot texts from templates: languages, fallback, strictness, operator overrides."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any

import jinja2
import pytest

from appservice.i18n import LANGUAGES, Renderer
from appservice.resources import data_path
from bots.booking.model import BookingWindow, Service
from bots.framework.formatting import markdown_to_html

SHIPPED = data_path("templates")

_CMD = {"name": "help", "usage": "help [TOPIC…]", "description": "Hilfe", "aliases": ["hilfe"]}

#: Every shipped template with the variables its caller passes.
_BOOK_SERVICE = Service(3, "Erstgespräch", 30, 10, "video", None, "Kennenlernen")
_BOOK_WINDOW = BookingWindow(4, "@c:x", 0, time(9), time(12), 3, 4)

_TOPIC_START = {"weekday": 1, "day": "08.12.2026", "clock": "18:00", "zone": ""}
_TOPIC_END = {"weekday": 1, "day": "08.12.2026", "clock": "19:30", "zone": ""}

SAMPLES: dict[str, dict[str, Any]] = {
    "help": {
        "sections": [{"key": "general", "commands": [_CMD]}],
        "role": "client",
        "identity": "kuiI B6qd t7Eq",
    },
    "help_topic": {
        **_CMD,
        "arguments": [{"placeholder": "TOPIC", "description": "", "required": False}],
    },
    "unknown_command": {"name": "hlep", "suggestions": ["help", "hilfe"]},
    "livechat_new": {"id": 12, "client": "Gast-7K3Q"},
    "livechat_none": {},
    "livechat_state": {
        "on": True,
        "staff": 2,
        "running": 1,
        "capacity": 2,
        "status": "open",
        "begun": 31,
        "year": 2026,
    },
    "livechat_staffing": {"on": True, "changed": True},
    "livechat_bad": {"given": "pause"},
    "livechat_bad_id": {"given": "x", "action": "end"},
    "livechat_not_found": {"id": 12},
    "livechat_not_yours": {"id": 12},
    "livechat_ended": {"id": 12, "block": True, "already": False},
    "permission_denied": {"name": "settings", "usage": "settings", "roles": ["admin"]},
    "missing_argument": {
        "name": "status",
        "usage": "status STATE",
        "argument": "STATE",
        "argument_help": "",
    },
    "too_many_arguments": {"name": "status", "usage": "status STATE"},
    "unknown_option": {"name": "x", "usage": "x [email=]", "option": "emial", "options": ["email"]},
    "parse_error": {"problem": "unbalanced_quote"},
    "welcome": {"centre_name": "Beratung Nord", "display_name": "Anna", "role": "client"},
    "not_a_member": {},
    "anonymous_not_served": {},
    "internal_error": {"reference": "a1b2c3"},
    "could_not_decrypt": {},
    "dm_refused": {"room_name": "Lotse"},
    "service_room_moved": {"reason": "others"},
    "private_command": {"name": "doc get"},
    "request_created": {"id": 7},
    "request_exists": {"id": 7, "status": "new"},
    "new_request_for_staff": {"id": 7},
    "requests_list": {
        "requests": [
            {
                "id": 7,
                "client": "@wolke:x",
                "since": "01.02. 10:00",
                "topic": "family",
                "language": "de",
                "channel": "chat",
                "overdue": True,
            }
        ],
        "page": 1,
        "pages": 2,
        "total": 21,
        "next": "requests page=2",
    },
    "page_problem": {"problem": "page_beyond", "given": 4, "maximum": 3},
    "request_bad_id": {"given": "sieben"},
    "request_not_found": {"id": 7},
    "request_taken": {"id": 7},
    "request_accepted": {"id": 7},
    "request_accepted_client": {"id": 7},
    "counselling_room_name": {"id": 7, "pseudonym": "Wolke", "centre_name": "Nord"},
    "counselling_room_topic": {"id": 7, "pseudonym": "Wolke", "centre_name": "Nord"},
    "service_room_name": {"centre_name": "Nord", "role": "client"},
    "service_room_topic": {"centre_name": "Nord", "role": "client"},
    "group_room_topic": {"centre_name": "Nord", "group": "Eltern"},
    "status_is": {"status": "away", "capacity": 3},
    "status_set": {"status": "home-only"},
    "status_unknown": {"given": "busy"},
    "capacity_set": {"capacity": None},
    "capacity_unknown": {"given": "lots"},
    "request_assigned_client": {"id": 7, "counsellor": "@berater:x"},
    "request_assigned_staff": {"id": 7, "client": "@wolke:x", "reason": "home"},
    "request_closed": {"id": 7},
    "request_close_refused": {"id": 7},
    "absence_bad_range": {"problem": "end_before_start", "first": "5.3.", "last": "1.3."},
    "calendar_view": {
        "view": "day",
        "first": "08.06.2026",
        "last": "08.06.2026",
        "who": "all",
        "rows": [
            {
                "day": date(2026, 6, 8),
                "starts": "10:00",
                "ends": "10:30",
                "kind": "appointment",
                "counsellor": "@berater:x",
                "title": "Chat 30",
                "state": "requested",
                "ref": 12,
                "client": "Wolke",
            }
        ],
    },
    # Booking (bots/booking/shell/commands.py).
    "booking_problem": {
        "problems": ["slot_taken", "bad_horizon"],
        "given": "7",
        "first": "9",
        "last": "8",
    },
    "services_list": {"services": [_BOOK_SERVICE]},
    "group_appointment_saved": {
        "id": 2,
        "title": "Elternabend",
        "when": "Mo 18:00",
        "places": 8,
        "bookable": True,
    },
    "group_appointments_list": {
        "groups": [
            {
                "id": 2,
                "title": "Elternabend",
                "when": "Mo",
                "left": 3,
                "places": 8,
                "remarks": "Bitte pünktlich",
            }
        ],
        "client": True,
    },
    "group_appointment_added": {
        "id": 4,
        "title": "Elternabend",
        "remarks": "Bitte pünktlich",
        "channel": "video",
        "when": "Mo 18:00",
    },
    "group_appointment_members": {
        "id": 4,
        "title": "Elternabend",
        "added": ["Wolke"],
        "skipped": 1,
    },
    "group_appointment_cancelled": {
        "id": 4,
        "title": "Elternabend",
        "when": "Mo 18:00",
        "reason": "krank",
        "mine": True,
        "told": 2,
    },
    "group_appointment_joined": {
        "id": 2,
        "title": "Elternabend",
        "when": "Mo 18:00",
        "client": "Wolke",
        "mine": False,
    },
    "group_appointment_left": {
        "id": 2,
        "title": "Elternabend",
        "when": "Mo 18:00",
        "client": "Wolke",
        "mine": False,
    },
    "videolink": {"state": "shown", "url": "https://zoom.example/j/1", "problem": ""},
    "slots_poll_question": {},
    "slots_poll_label": {"number": 1, "when": "Mo 09:00", "channel": "phone", "counsellor": "B"},
    "appointment_cancelled": {"id": 5, "when": "Mo 09:00", "reason": "krank", "mine": False},
    "appointment_reminder": {"id": 5, "when": "Mo 09:00", "channel": "video", "group": True},
    "appointment_video_link": {
        "id": 5,
        "when": "Mo 09:00",
        "url": "https://meet.example/x",
        "group": False,
    },
    "ical_link": {"url": "https://lotse.example/calendar/T.ics", "replaced": False, "fresh": True},
    "booking_when": {"weekday": 6, "day": "31.10.2027", "clock": "02:30", "zone": "CET"},
    "service_saved": {"action": "created", "id": 3, "service": _BOOK_SERVICE},
    "hours_list": {"hours": [{"window": _BOOK_WINDOW, "service": _BOOK_SERVICE}]},
    "hours_saved": {"action": "added", "id": 4, "window": _BOOK_WINDOW, "service": _BOOK_SERVICE},
    "slots_list": {
        "slots": [
            {
                "number": 1,
                "when": "Mo 01.06.2026 09:00",
                "minutes": 30,
                "channel": "video",
                "description": "Kennenlernen",
                "counsellor": "Berta",
                "home": True,
            }
        ],
        "tz": "Europe/Berlin",
    },
    "blocker_saved": {"action": "added", "id": 3, "when": "Mo 08.06.2026 12:00", "until": "13:30"},
    "slots_poll_closed": {},
    "appointment_held": {
        "id": 5,
        "when": "Mo 09:00",
        "counsellor": "Berta",
        "channel": "chat",
        "until": "08:40",
        "minutes": 10,
    },
    "appointment_requested": {
        "id": 5,
        "when": "Mo 09:00",
        "counsellor": "Berta",
        "channel": "chat",
    },
    "appointment_requested_staff": {
        "id": 5,
        "when": "Mo 09:00",
        "client": "Wolke",
        "title": "Erstgespräch",
    },
    "appointment_decided_client": {
        "id": 5,
        "confirmed": False,
        "when": "Mo 09:00",
        "reason": "krank",
    },
    "appointment_decided_staff": {
        "id": 5,
        "confirmed": True,
        "when": "Mo 09:00",
        "client": "Wolke",
    },
    "appointments_list": {
        "appointments": [
            {
                "id": 5,
                "when": "Mo 09:00",
                "state": "requested",
                "channel": "chat",
                "title": "",
                "other": "Berta",
            }
        ]
    },
    "absence_added": {"id": 3, "first": "24.12.2026", "last": "02.01.2027", "label": "Urlaub"},
    "absences_list": {"absences": [{"id": 3, "first": "a", "last": "b", "label": "Urlaub"}]},
    "absence_deleted": {"id": 3},
    "absence_not_found": {"id": 3},
    "free_text_note": {},
    "audit_bad_count": {"given": "x", "maximum": 200},
    "audit_list": {
        "entries": [{"when": "1.1.", "actor": "@a:x", "action": "a", "target": "t", "detail": ""}]
    },
    # notes, documents, groups
    "client_unknown_here": {"given": "Anna"},
    "note_too_long": {"length": 5000, "maximum": 4000},
    "note_added": {"id": 4, "client": "Anna"},
    "notes_list": {
        "client": "Anna",
        "notes": [
            {"id": 4, "author": "B", "mine": True, "when": "1.1.", "edited": "", "text": "x"},
            {"id": 3, "author": "C", "mine": False, "when": "1.1.", "edited": "2.1.", "text": None},
        ],
    },
    "note_not_found": {"id": 4},
    "note_not_yours": {"id": 4},
    "note_edited": {"id": 4},
    "note_deleted": {"id": 4},
    "doc_waiting": {"client": "Anna", "minutes": 5, "types": "pdf, png", "max_mb": 10},
    "doc_not_here": {},
    "doc_not_announced": {},
    "doc_not_encrypted": {},
    "doc_too_large": {"max_mb": 10, "client": "Anna"},
    "doc_unreadable": {},
    "doc_wrong_type": {"found": "gif", "types": "pdf, png"},
    "doc_attached": {"id": 2, "filename": "a.pdf", "client": "Anna", "size": "3 KB"},
    "docs_list": {
        "client": "Anna",
        "docs": [{"id": 2, "name": None, "kind": "pdf", "size": "3 KB", "when": "1.1."}],
    },
    "doc_not_found": {"id": 2},
    "doc_sent": {"id": 2, "filename": "a.pdf"},
    "doc_deleted": {"id": 2},
    "group_not_found": {"given": "Eltern"},
    "group_not_allowed": {"group": "Eltern", "creator": "B"},
    "group_bad_name": {"problem": "number", "maximum": 80},
    "group_bad_description": {"maximum": 500},
    "group_exists": {"title": "Eltern"},
    "group_room_failed": {},
    "group_created": {"id": 1, "title": "Eltern"},
    "groups_list": {
        "groups": [
            {
                "id": 1,
                "name": "Eltern",
                "description": "d",
                "members": 2,
                "creator": "B",
                "mine": True,
            },
            {
                "id": 2,
                "name": "Jugend",
                "description": "",
                "members": 0,
                "creator": "C",
                "mine": False,
            },
        ]
    },
    "group_already_member": {"group": "Eltern", "client": "Anna"},
    "group_member_added": {"group": "Eltern", "client": "Anna"},
    "group_not_member": {"group": "Eltern", "client": "Anna"},
    "group_member_removed": {"group": "Eltern", "client": "Anna"},
    "group_edit_nothing": {"group": "Eltern"},
    "group_edited": {"id": 1, "title": "Eltern"},
    "group_deleted": {"title": "Eltern"},
    "invite_unknown_person": {"given": "Wolke", "kind": "client"},
    "invite_refused": {"who": "Wolke", "reason": "locked"},
    "invite_no_account": {"who": "Wolke"},
    "invite_sent": {"who": "Wolke", "email": "wolke@example.org", "days": 7},
    "invite_link": {"who": "Wolke", "link": "https://x/invite/T", "days": 7, "reason": "no_email"},
    "invite_in_use": {"who": "Wolke", "outcome": "queued", "reset_url": "https://x/reset"},
    "password_reset_done": {"at": "01.02.2027 10:00"},
    "email_changed_by_staff": {"address": "neu@example.org"},
    # Clients (bots/records/clients.py, bots/records/client_admin.py,
    # bots/accounts/deletion_routine.py).
    "client_problem": {
        "problem": "unknown_keys",
        "given": "x",
        "client": "Wolke",
        "keys": ["alter"],
        "fields": ["age_group"],
        "until": "01.02.2027",
        "maximum": 64,
    },
    "client_created": {"pseudonym": "Wolke", "login": "@wolke:x", "room": True, "fields": ["a"]},
    "clients_list": {
        "clients": [
            {
                "name": "Wolke",
                "login": "@wolke:x",
                "deleted": True,
                "status": "deleted",
                "last_login": "01.02.2026 10:00",
                "home": "Berta",
            }
        ],
        "page": 1,
        "pages": 3,
        "total": 120,
        "next": "clients mine wol sort=login page=2",
        "scope": "mine",
        "text": "wol",
        "sort": "login",
        "timezone": "Europe/Vienna",
    },
    "client_profile": {
        "client": "Wolke",
        "login": "@wolke:x",
        "home": "Berta",
        "status": "deleted",
        "locked": True,
        "last_login": "",
        "invited": "01.02.2026 10:00",
        "until": "01.03.2026",
        "fields": [{"label": "Altersgruppe", "value": "20-29", "key": "age_group"}],
        "show_contact": True,
        "email": "w@example.org",
        "phone": "",
        "bookmarked": True,
        "timezone": "Europe/Vienna",
    },
    "client_updated": {
        "client": "Wolke",
        "changed": ["email", "age_group"],
        "email_state": "queued",
        "address": "neu@example.org",
    },
    "client_home_set": {"client": "Wolke", "home": "Berta"},
    "bookmark_toggled": {"client": "Wolke", "added": True},
    "bookmarks_list": {
        "clients": [{"name": "Wolke", "login": "@w:x", "deleted": False, "status": "invited"}]
    },
    "client_lock_changed": {"client": "Wolke", "locked": True},
    "client_deleted": {"client": "Wolke", "until": "01.03.2026", "days": 30, "request": 7},
    "client_restored": {"client": "Wolke", "locked": False, "withdrawn": 7},
    "request_withdrawn_staff": {"id": 7, "client": "Wolke"},
    "deletion_routine_done": {"people": [{"user_id": "@wolke:x", "role": "client"}]},
    "triage_question": {"field": "topic", "options": ["Familie", "Sucht"], "first": True},
    "triage_cancelled": {},
    "triage_running": {},
    "triage_poll_question": {"field": "channel"},
    "triage_poll_closed": {},
    "triage_poll_stale": {"running": True},
    "triage_poll_unknown": {"count": 2},
    "request_assigned_admin": {"id": 7, "counsellor": "Anna"},
    "request_counsellor_not_found": {"given": "nobody"},
    "request_counsellor_unavailable": {"name": "Anna", "reason": "deleted", "id": 7},
    "request_client_not_found": {"given": "nobody"},
    "settings_list": {
        "rows": [("overdue_hours", "48")],
        "changed": True,
        "fallback": "Anna",
        "fallback_problem": "locked",
    },
    "settings_bad_value": {
        "key": "overdue_hours",
        "given": "x",
        "code": "bad_value",
        "expected": "1..2160",
    },
    "settings_bad_fallback": {"given": "Anna", "reason": "deleted"},
    "transfer_proposed": {"id": 4, "client": "Wolke", "counsellor": "Anna"},
    "transfer_proposed_client": {"id": 4, "counsellor": "Anna"},
    "transfer_no_counsellor": {"client": "Wolke"},
    "transfer_not_yours": {"client": "Wolke"},
    "transfer_same": {"client": "Wolke", "counsellor": "Anna"},
    "transfer_bad_id": {"given": "x"},
    "transfer_not_found": {"id": 4},
    "transfer_decided": {"id": 4},
    "transfer_consented": {"id": 4, "counsellor": "Anna"},
    "transfer_declined": {"id": 4},
    "transfer_declined_staff": {"id": 4, "client": "Wolke"},
    "transfer_done_new": {"id": 4, "client": "Wolke"},
    "transfer_done_old": {"id": 4, "client": "Wolke"},
    "transfer_void": {"id": 4, "reason": "home_changed"},
    "transfer_void_staff": {"id": 4, "client": "Wolke", "reason": "counsellor_gone"},
    "transfer_failed": {"id": 4},
    "absence_message_arrived": {"counsellor": "Anna", "client": "Wolke"},
    "request_overdue_staff": {"id": 7, "client": "Wolke", "hours": 48},
    "request_overdue_admins": {"id": 7, "client": "Wolke", "hours": 48, "counsellor": ""},
    "email_status": {
        "address": "a@example.org",
        "state": "bouncing",
        "pending": "b@example.org",
        "notifications": True,
        "delay": 15,
        "mail_enabled": True,
    },
    "email_confirmation_sent": {"address": "a@example.org", "hours": 48},
    "email_invalid": {"given": "a@"},
    "email_removed": {},
    "email_unavailable": {},
    "email_too_many": {"limit": 5},
    "notifications_set": {"on": True, "has_address": False},
    "notifications_delay_set": {"minutes": 30},
    "notifications_bad": {"given": "later", "low": 0, "high": 1440},
    # self-service: deleting one's own access, the data export
    "self_delete_refused": {"last_admin": True},
    "self_delete_confirm": {"code": "ABC234", "minutes": 10, "until": "01.01.2027", "days": 30},
    "self_delete_code": {"problem": "wrong"},
    "self_deleted": {"until": "01.01.2027", "days": 30, "request": 4},
    "self_deleted_admin": {"client": "Anna", "until": "01.01.2027"},
    "export_own_only": {},
    "inactive_notice": {"months": 3, "day": "01.03.2027"},
    "inactive_deleted_admin": {"client": "Anna", "months": 3, "until": "01.04.2027"},
    "inactive_staff_admin": {
        "months": 3,
        "people": [{"name": "Berta", "user_id": "@berta:x", "seen": "01.12.2026"}],
    },
    "export_sent": {"filename": "lotse-daten-anna.json", "tables": 4},
    "mail_failed_admin": {"who": "Anna", "kind": "new_message"},
    "mail_bouncing_admin": {"who": "Anna"},
    # accounts: centre rooms, counsellors, profiles, team, messages from the centre
    "centre_room_name": {"kind": "admin", "centre_name": "Nord"},
    "centre_room_topic": {"kind": "staff", "centre_name": "Nord", "identity": "kuiI B6qd t7Eq"},
    "control_room_welcome": {"centre_name": "Nord", "display_name": "Anna"},
    "counsellor_bad_login": {
        "problem": "upper_case",
        "login": "Anna",
        "suggestion": "anna",
        "prefix": "lotse",
    },
    "counsellor_bad_name": {"limit": 80},
    "counsellor_bad_email": {"given": "anna@"},
    "counsellor_bad_role": {"given": "boss"},
    "counsellor_login_taken": {"login": "anna"},
    "counsellor_synapse_failed": {"errcode": "M_FORBIDDEN"},
    "counsellor_created": {
        "name": "Anna",
        "login": "anna",
        "user_id": "@anna:x",
        "role": "counsellor",
        "email": "a@x.org",
    },
    "counsellors_list": {
        "counsellors": [
            {
                "name": "Anna",
                "user_id": "@anna:x",
                "role": "admin",
                "email": "anna@x.org",
                "status": "deleted",
                "last_login": "",
            }
        ],
        "timezone": "Europe/Vienna",
    },
    "counsellor_not_found": {"given": "bert"},
    "counsellor_unchanged": {"what": "role", "name": "Anna", "role": "admin"},
    "counsellor_refused": {"reason": "last_admin", "name": "Anna"},
    "counsellor_role_set": {"name": "Anna", "role": "admin"},
    "counsellor_locked": {"name": "Anna", "locked": True, "fallback": True},
    "counsellor_deleted": {
        "name": "Anna",
        "home_clients": 2,
        "handed": 1,
        "grace_days": 30,
        "fallback": True,
    },
    "request_handed_back_client": {"id": 7, "counsellor": "Berta"},
    "requests_handed_back": {
        "counsellor": "Anna",
        "requests": [{"id": 7, "counsellor": "Berta"}, {"id": 8, "counsellor": None}],
    },
    "erased_person": {"role": "counsellor", "number": 3},
    "profile_show": {
        "name": "Anna",
        "description": "",
        "languages": ["de"],
        "email": "",
        "team_page": True,
        "crisis_contact": False,
    },
    "profile_set": {
        "changed": ["languages"],
        "name": "Anna",
        "description": "Hi",
        "languages": [],
        "email": "",
        "team_page": False,
        "crisis_contact": True,
    },
    "profile_problem": {
        "code": "unknown_key",
        "key": "foo",
        "value": "",
        "limit": 0,
        "keys": ["name", "team"],
    },
    "profile_synapse_failed": {"errcode": "M_FORBIDDEN"},
    "home_counsellor": {"name": "Anna", "description": "Hi", "languages": ["de", "en"]},
    "home_counsellor_none": {},
    "team_list": {
        "counsellors": [{"name": "Anna", "description": "", "languages": []}],
        "centre_name": "Nord",
    },
    "centre_message": {"centre_name": "Nord", "subject": "Termin", "text": "Hallo"},
    "message_refused": {"reason": "no_room", "given": "Wolke", "limit": 0},
    "message_sent": {"id": 3, "client": "Wolke", "mailed": True, "locked": False},
    # monitoring (bots/monitoring/)
    "monitoring_question": {
        "field": "Kanal",
        "kind": "choice",
        "options": ["Chat", "Telefon"],
        "proposed": "Chat",
        "required": False,
        "number": 4,
        "total": 7,
        "problem": "„Kanal“: …",
        "first": True,
        "client": "Wolke",
    },
    "monitoring_value_problem": {
        "field": "Dauer",
        "code": "out_of_range",
        "params": {"kind": "minutes", "low": 1, "high": 1440, "given": 0},
    },
    "monitoring_line_problems": {
        "problems": ["„Dauer“ …"],
        "unknown": ["wetter"],
        "fields": [{"key": "duration", "label": "Dauer", "required": True}],
    },
    "monitoring_cancelled": {},
    "monitoring_yes_no": {"value": True},
    "monitoring_csv_column": {"column": "client"},
    "monitoring_period_problem": {
        "code": "from_after_to",
        "given": "2.1. 1.1.",
        "command": "stats",
    },
    "monitoring_chart_label": {"part": "count", "subject": ""},
    "monitoring_stats": {
        "first": "01.01.2026",
        "last": "31.05.2026",
        "scope": "own",
        "total": {"count": 2, "persons": 3, "minutes": 75},
        "tables": [
            {
                "key": "channel",
                "label": "Kanal",
                "rows": [{"label": "Chat", "count": 1, "persons": 1, "minutes": 30}],
            },
            {"key": "counsellor", "label": "", "rows": []},
        ],
        "requests": {
            "total": 1,
            "answered": 1,
            "statuses": [("beantwortet", 1)],
            "median_hours": 2.5,
            "mean_hours": 2.5,
        },
        "anonymous": {"live": 2, "topics": 1, "participants": 7},
        "command": "stats",
    },
    "monitoring_saved": {"id": 4, "client": "Anna"},
    "monitoring_running": {"client": "Anna"},
    "monitoring_request_unknown": {"given": "9", "client": "Anna"},
    "monitoring_not_found": {"id": "9"},
    "monitoring_list": {
        "rows": [
            {
                "id": 4,
                "date": "01.03.2026",
                "client": "Anna",
                "counsellor": "Berta",
                "summary": "45, Erstgespräch",
            }
        ],
        "page": 1,
        "pages": 2,
        "total": 53,
        "next": "monitorings Anna 1.2026 3.2026 page=2",
        "scope": "centre",
        "client": "Anna",
        "first": "01.01.2026",
        "last": "31.03.2026",
    },
    "monitoring_show": {
        "id": 4,
        "client": "Anna",
        "counsellor": "Berta",
        "request": 2,
        "fields": [{"key": "duration", "label": "Dauer", "value": "45"}],
        "unreadable": False,
    },
    "monitoring_edit_nothing": {"id": 4, "fields": [{"key": "duration", "label": "Dauer"}]},
    "monitoring_unreadable": {"id": 4},
    "monitoring_poll_stale": {"running": True},
    "monitoring_edited": {"id": 4},
    "monitoring_deleted": {"id": 4},
    "monitoring_exported": {
        "count": 2,
        "filename": "monitoring_2026-01-01_2026-03-31.csv",
        "first": "01.01.2026",
        "last": "31.03.2026",
        "scope": "own",
    },
    "messages_list": {
        "messages": [
            {"id": 3, "when": "a", "client": "Wolke", "sender": "Anna", "subject": "Termin"}
        ]
    },
    # Topic chats and the registration offer (bots/topicchats, bots/accounts).
    "topicchat_problem": {
        "problems": [
            "no_title",
            "title_too_long",
            "text_too_long",
            "bad_start",
            "bad_end",
            "end_before_start",
            "too_long",
            "in_past",
            "too_far",
        ],
        "max_hours": 8,
    },
    "topicchat_created": {
        "id": 4,
        "title": "Trennung",
        "page": "https://lotse.example/c/nord",
        "start": _TOPIC_START,
        "end": _TOPIC_END,
        "same_day": True,
    },
    "topicchat_room_failed": {},
    "topicchat_list": {
        "chats": [
            {
                "id": 4,
                "title": "Trennung",
                "counsellor": "Anna",
                "participants": 3,
                "start": _TOPIC_START,
                "end": _TOPIC_END,
                "same_day": True,
            },
            {
                "id": 5,
                "title": "Nachtcafé",
                "counsellor": "Ben",
                "participants": 0,
                "start": _TOPIC_START,
                "end": _TOPIC_END,
                "same_day": False,
            },
        ],
        "page": "https://lotse.example/c/nord",
        "year": 2026,
        "held": 3,
        "came": 17,
    },
    "topicchat_not_found": {"given": "9"},
    "topicchat_not_yours": {"title": "Trennung"},
    "topicchat_cancelled": {"id": 4, "title": "Trennung"},
    "topicchat_no_participant": {"given": "Wolke", "title": "Trennung"},
    "topicchat_blocked": {"name": "Gast-7K3Q", "title": "Trennung"},
    "keep_not_anonymous": {"given": "Wolke"},
    "keep_already": {"name": "Gast-7K3Q"},
    "keep_too_late": {"name": "Gast-7K3Q"},
    "keep_offered": {
        "name": "Gast-7K3Q",
        "link": "https://lotse.example/keep/abc",
        "hours": 24,
        "group": True,
    },
}


def _write(folder: Path, name: str, text: str) -> None:
    path = folder / "bot" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def renderer() -> Renderer:
    return Renderer.default()


def test_samples_cover_every_template() -> None:
    """The sample table lists every shipped template, so none goes untested."""
    shipped = {p.stem for lang in LANGUAGES for p in (SHIPPED / "bot" / lang).glob("*.j2")}
    assert shipped == set(SAMPLES)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "variables"), SAMPLES.items())
def test_every_template_renders(
    renderer: Renderer, lang: str, name: str, variables: dict[str, Any]
) -> None:
    """Each shipped template exists in both languages and renders with its variables."""
    assert (SHIPPED / "bot" / lang / f"{name}.j2").is_file()
    text = renderer.render(lang, name, **variables)
    assert text and text == text.rstrip()
    assert "{{" not in text and "{%" not in text


@pytest.mark.parametrize(("name", "variables"), SAMPLES.items())
def test_languages_differ(renderer: Renderer, name: str, variables: dict[str, Any]) -> None:
    """The English texts are translations, not copies of the German ones."""
    assert renderer.render("de", name, **variables) != renderer.render("en", name, **variables)


# Lists a template writes into one sentence on purpose (``a, b, c``), not one item a line.
INLINE_LISTS = {("monitoring_line_problems", "fields"), ("monitoring_edit_nothing", "fields")}


def _item_lists() -> list[tuple[str, str]]:
    """(template, variable) for every sample variable that is a list of items (rows)."""
    return [
        (name, key)
        for name, variables in SAMPLES.items()
        for key, value in variables.items()
        if isinstance(value, list)
        and value
        and all(isinstance(v, dict | tuple) for v in value)
        and (name, key) not in INLINE_LISTS
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "key"), _item_lists())
def test_each_list_item_keeps_its_own_line(
    renderer: Renderer, lang: str, name: str, key: str
) -> None:
    """A second item adds a line and a list item (HTML), instead of running on in the first
    item's line: with ``trim_blocks`` a tag ending a line swallows its newline."""
    variables = SAMPLES[name]
    item = variables[key][0]
    one = renderer.render(lang, name, **{**variables, key: [item]})
    two = renderer.render(lang, name, **{**variables, key: [item, item]})
    assert two.count("\n") > one.count("\n"), two
    if "```" in two:
        # A table in a code block: each row is a line of the block, kept as it is in HTML.
        assert markdown_to_html(two).count("\n") > markdown_to_html(one).count("\n"), two
    else:
        assert markdown_to_html(two).count("<li>") > markdown_to_html(one).count("<li>"), two


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("name", "key"), [("notes_list", "notes"), ("groups_list", "groups")])
def test_notes_and_groups_list_one_item_per_line(
    renderer: Renderer, lang: str, name: str, key: str
) -> None:
    """Two notes (two groups) are two lines of text and two list items in the HTML."""
    text = renderer.render(lang, name, **SAMPLES[name])
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(items) == 2 == len(SAMPLES[name][key]), text
    assert markdown_to_html(text).count("<li>") == 2


@pytest.mark.parametrize(
    ("lang", "snippet"),
    [
        ("de", "Willkommen, Anna"),
        ("en", "Welcome, Anna"),
        ("de-AT", "Willkommen"),
        ("fr", "Willkommen"),
    ],
)
def test_render_language(renderer: Renderer, lang: str, snippet: str) -> None:
    """Supported languages render their own text; others get German."""
    assert snippet in renderer.render(lang, "welcome", **SAMPLES["welcome"])


@pytest.mark.parametrize(
    ("role", "snippet"),
    [("client", "Beratung anfragen"), ("counsellor", "Anfragen"), ("admin", "Admins")],
)
def test_welcome_per_role(renderer: Renderer, role: str, snippet: str) -> None:
    """The welcome says what this room is for, depending on the role."""
    text = renderer.render("de", "welcome", centre_name="X", display_name="", role=role)
    assert snippet in text and "`hilfe`" in text and "Willkommen!" in text


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", ["clients_list", "counsellors_list", "client_profile"])
def test_times_say_their_time_zone(renderer: Renderer, lang: str, name: str) -> None:
    """Lists and profiles with times say in which time zone they are (the centre's)."""
    text = renderer.render(lang, name, **SAMPLES[name])
    assert "Europe/Vienna" in text and "UTC" not in text


def test_fallback_to_german(tmp_path: Path) -> None:
    """A template missing in English is shown in German rather than failing."""
    _write(tmp_path, "de/only_de.j2", "Nur deutsch {{ x }}\n\n")
    renderer = Renderer([tmp_path])
    assert renderer.render("en", "only_de", x=1) == "Nur deutsch 1"


def test_missing_template_raises(renderer: Renderer) -> None:
    """A template missing in German too is a programming error, not an empty reply."""
    with pytest.raises(jinja2.TemplateNotFound):
        renderer.render("en", "no_such_template")


def test_strict_undefined(renderer: Renderer) -> None:
    """A forgotten variable raises instead of silently rendering a blank."""
    with pytest.raises(jinja2.UndefinedError):
        renderer.render("de", "internal_error")


def test_no_html_escaping(renderer: Renderer) -> None:
    """Bot text is plain text/markdown, so <, > and & are kept as typed."""
    text = renderer.render(
        "en", "welcome", centre_name="A & B <Nord>", display_name="", role="client"
    )
    assert "A & B <Nord>" in text


def test_override_folder_wins(tmp_path: Path) -> None:
    """An operator's template replaces the shipped one; the rest still come from the package."""
    _write(tmp_path, "de/could_not_decrypt.j2", "Eigener Text")
    renderer = Renderer.default(tmp_path)
    assert renderer.render("de", "could_not_decrypt") == "Eigener Text"
    assert "could not read" in renderer.render("en", "could_not_decrypt")
    assert "a1b2c3" in renderer.render("de", "internal_error", reference="a1b2c3")


def test_shipped_templates_are_clean(renderer: Renderer) -> None:
    """The shipped templates pass the start-up check."""
    assert renderer.check_templates() == []


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("de/welcome.j2", "Hallo {% if role %}", "de/welcome.j2"),
        ("en/broken.j2", "{{ oops", "no de version"),
        ("de/bad.j2", "{% for x in %}{% endfor %}", "de/bad.j2:1"),
        ("fr/welcome.j2", "Bonjour", "unsupported language"),
    ],
)
def test_check_templates_finds_problems(tmp_path: Path, name: str, text: str, problem: str) -> None:
    """Broken or misplaced templates in the override folder are reported before start."""
    _write(tmp_path, name, text)
    problems = Renderer.default(tmp_path).check_templates()
    assert any(problem in p for p in problems), problems
