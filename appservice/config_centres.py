"""The ``centres:`` section: each centre's id, name, language, admins and what it declares
(settings, document policy, master-data fields, triage topics)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appservice.centre_settings import CentreSettings, SettingError, parse_setting
from appservice.document_policy import DocumentPolicy, PolicyError, parse_policy
from appservice.master_data import MasterDataError, MasterDataField, parse_master_data
from appservice.resources import data_path

from .config_live_chat import LiveChatConfig, parse_live_chat
from .config_values import DOMAIN_RE, MXID_RE, ConfigError, as_str

CENTRE_KEYS = (
    "id",
    "name",
    "language",
    "timezone",
    "admins",
    "settings",
    "documents",
    "master_data",
    "topics",
    "avatar",
    "monitoring_form",
    "live_chat",
)
LANGUAGES = ("de", "en")
DEFAULT_TIMEZONE = "Europe/Berlin"
DEFAULT_MONITORING_FORM = "default"
_FORM_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CENTRE_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
# The picture rooms carry when a centre names none (a Matrix avatar must be a bitmap).
DEFAULT_AVATAR = "avatar.png"
AVATAR_MAX_BYTES = 1024 * 1024
_MXC_RE = re.compile(r"mxc://[A-Za-z0-9.:-]+/[A-Za-z0-9_-]+")
# Element shows PNG and JPEG avatars everywhere; their first bytes say which a file is.
_AVATAR_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class Topic:
    """A topic clients choose in triage; counsellors list the ids they cover."""

    id: str
    labels: dict[str, str]

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or next(iter(self.labels.values()), self.id)


@dataclass(frozen=True)
class CentreConfig:
    id: str
    name: str
    language: str
    admins: tuple[str, ...]
    # Defaults from the config file; admins override them with `settings k=v`.
    settings: CentreSettings = field(default_factory=CentreSettings)
    # Which files counsellors may attach to clients (`doc CLIENT`), and how large.
    documents: DocumentPolicy = field(default_factory=DocumentPolicy)
    # Fields counsellors record about clients (Stammdaten), e.g. age group, postcode.
    master_data: tuple[MasterDataField, ...] = ()
    # Triage topics, asked in this order; none = no topic question.
    topics: tuple[Topic, ...] = ()
    # IANA time zone in which times are shown to the centre's people.
    timezone: str = DEFAULT_TIMEZONE
    # The rooms' picture: an absolute PNG/JPEG file (uploaded once) or an mxc:// URI.
    avatar: str = ""
    # The monitoring form counsellors fill in: templates/forms/<name>.yaml (checked at start).
    monitoring_form: str = DEFAULT_MONITORING_FORM
    # The anonymous live chat (appservice/config_live_chat.py); None: the centre has none.
    live_chat: LiveChatConfig | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_centres(raw: Any, domain: str, base: Path) -> tuple[CentreConfig, ...]:
    """The centres; relative file names (``avatar``) are read from ``base``, the config's folder."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError("centres", "expected a list with at least one centre")
    centres: list[CentreConfig] = []
    admin_of: dict[str, str] = {}
    for index, entry in enumerate(raw):
        prefix = f"centres[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(prefix, "expected a mapping with id, name, language, admins")
        for key in entry:
            if key not in CENTRE_KEYS:
                raise ConfigError(f"{prefix}.{key}", "unknown option; see config.example.yaml")
        if "id" not in entry:
            raise ConfigError(f"{prefix}.id", "missing; every centre needs an id")
        centre_id = as_str(entry["id"], f"{prefix}.id")
        if not _CENTRE_ID_RE.fullmatch(centre_id):
            raise ConfigError(
                f"{prefix}.id",
                f"'{centre_id}' is not valid: lower-case letters, digits and dashes, "
                "starting with a letter or digit",
            )
        if any(c.id == centre_id for c in centres):
            raise ConfigError(f"{prefix}.id", f"duplicate centre id '{centre_id}'")
        name = as_str(entry.get("name", centre_id), f"{prefix}.name")
        language = as_str(entry.get("language", LANGUAGES[0]), f"{prefix}.language").lower()
        if language not in LANGUAGES:
            raise ConfigError(
                f"{prefix}.language", f"expected one of {', '.join(LANGUAGES)}, got '{language}'"
            )
        timezone = _timezone(entry.get("timezone", DEFAULT_TIMEZONE), f"{prefix}.timezone")
        admins_raw = entry.get("admins") or []
        if not isinstance(admins_raw, list):
            raise ConfigError(f"{prefix}.admins", "expected a list of Matrix user ids")
        admins: list[str] = []
        for admin_index, admin_value in enumerate(admins_raw):
            key = f"{prefix}.admins[{admin_index}]"
            admin = as_str(admin_value, key)
            match = MXID_RE.fullmatch(admin)
            if not match or not DOMAIN_RE.fullmatch(match.group(2)):
                raise ConfigError(key, f"expected a Matrix user id (@name:{domain}), got '{admin}'")
            if admin in admin_of:
                raise ConfigError(
                    key, f"{admin} is already admin of centre '{admin_of[admin]}'; one centre each"
                )
            admin_of[admin] = centre_id
            admins.append(admin)
        settings = _centre_settings(entry.get("settings"), f"{prefix}.settings")
        try:
            documents = parse_policy(entry.get("documents"))
        except PolicyError as err:
            key = f"{prefix}.documents" + (f".{err.key}" if err.key else "")
            raise ConfigError(key, err.message) from None
        try:
            master_data = parse_master_data(entry.get("master_data"))
        except MasterDataError as err:
            raise ConfigError(f"{prefix}.master_data{err.where}", err.message) from None
        topics = _topics(entry.get("topics"), f"{prefix}.topics")
        avatar = parse_avatar(entry.get("avatar"), f"{prefix}.avatar", base)
        form = as_str(
            entry.get("monitoring_form", DEFAULT_MONITORING_FORM), f"{prefix}.monitoring_form"
        )
        if not _FORM_NAME_RE.fullmatch(form):
            raise ConfigError(
                f"{prefix}.monitoring_form",
                f"'{form}' is not a form name: lower-case letters, digits, - and _",
            )
        centres.append(
            CentreConfig(
                centre_id,
                name,
                language,
                tuple(admins),
                settings,
                documents=documents,
                master_data=master_data,
                topics=topics,
                timezone=timezone,
                avatar=avatar,
                monitoring_form=form,
                live_chat=parse_live_chat(entry.get("live_chat"), f"{prefix}.live_chat"),
            )
        )
    return tuple(centres)


def avatar_type(data: bytes) -> str | None:
    """The MIME type of a PNG or JPEG picture, else None."""
    return next((kind for magic, kind in _AVATAR_TYPES.items() if data.startswith(magic)), None)


def parse_avatar(raw: Any, key: str, base: Path) -> str:
    """An ``mxc://`` URI as given, or a PNG/JPEG file (checked now, so a start never fails on
    it) as an absolute path; empty or missing: the picture shipped in ``templates/``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return str(data_path("templates") / DEFAULT_AVATAR)
    value = as_str(raw, key).strip()
    if value.startswith("mxc://"):
        if not _MXC_RE.fullmatch(value):
            raise ConfigError(key, f"'{value}' is not a media URI like mxc://server/id")
        return value
    file = Path(value).expanduser()
    file = file if file.is_absolute() else base / file
    try:
        with file.open("rb") as handle:
            data = handle.read(AVATAR_MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError(key, f"cannot read '{value}': {err.strerror or err}") from None
    if len(data) > AVATAR_MAX_BYTES:
        raise ConfigError(key, f"'{value}' is larger than 1 MB; a room picture needs far less")
    if avatar_type(data) is None:
        raise ConfigError(key, f"'{value}' is no PNG or JPEG picture (SVG is not shown by Matrix)")
    return str(file.resolve())


def _timezone(raw: Any, key: str) -> str:
    name = as_str(raw, key)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            key, f"unknown time zone '{name}'; expected an IANA name such as Europe/Berlin"
        ) from None
    return name


_TOPIC_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _topics(raw: Any, prefix: str) -> tuple[Topic, ...]:
    """``[{id: family, de: Familie, en: Family}, …]``: unique ids, a label in some language."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(prefix, "expected a list of topics with id, de and en")
    topics: list[Topic] = []
    for index, entry in enumerate(raw):
        key = f"{prefix}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(key, "expected a mapping with id, de and en")
        for name in entry:
            if name not in ("id", *LANGUAGES):
                raise ConfigError(
                    f"{key}.{name}", f"unknown option; expected id, {', '.join(LANGUAGES)}"
                )
        topic_id = as_str(entry.get("id", ""), f"{key}.id").strip()
        if not _TOPIC_ID_RE.fullmatch(topic_id):
            raise ConfigError(
                f"{key}.id", f"'{topic_id}' is not valid: lower-case letters, digits, - and _"
            )
        if any(t.id == topic_id for t in topics):
            raise ConfigError(f"{key}.id", f"duplicate topic id '{topic_id}'")
        labels = {
            lang: as_str(entry[lang], f"{key}.{lang}").strip()
            for lang in LANGUAGES
            if lang in entry
        }
        labels = {lang: text for lang, text in labels.items() if text}
        if not labels:
            raise ConfigError(f"{key}.{LANGUAGES[0]}", "a topic needs a label (de and/or en)")
        topics.append(Topic(topic_id, labels))
    return tuple(topics)


def _centre_settings(raw: Any, prefix: str) -> CentreSettings:
    if raw is None:
        return CentreSettings()
    if not isinstance(raw, dict):
        raise ConfigError(prefix, "expected a mapping of settings")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            values[str(key)] = parse_setting(str(key), value)
        except SettingError as err:
            if err.code == "unknown_key":
                raise ConfigError(
                    f"{prefix}.{key}", f"unknown setting; one of {err.expected}"
                ) from None
            raise ConfigError(
                f"{prefix}.{key}", f"expected {err.expected}, got '{value}'"
            ) from None
    return CentreSettings(**values)
