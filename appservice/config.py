"""Load and validate Lotse's configuration.

The shipped ``config.example.yaml`` is the source of truth: it supplies every default, and
any key it does not have is refused. The user's file is merged onto it key by key, then the
secret environment variables are applied, then the result is checked and frozen into
dataclasses. Every failure is a :class:`ConfigError` naming the dotted key path.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from appservice.centre_settings import CentreSettings, SettingError, parse_setting
from appservice.document_policy import DocumentPolicy, PolicyError, parse_policy
from appservice.master_data import MasterDataError, MasterDataField, parse_master_data
from appservice.resources import data_path

FILE_KEY = "(file)"
PLACEHOLDER = "generate"

# Environment variable -> dotted key it overrides. An environment variable wins over the file.
ENV_OVERRIDES: dict[str, str] = {
    "LOTSE_AS_TOKEN": "appservice.as_token",
    "LOTSE_HS_TOKEN": "appservice.hs_token",
    "LOTSE_DATABASE_URL": "database.url",
    "LOTSE_PICKLE_KEY": "encryption.pickle_key",
    "LOTSE_SMTP_PASSWORD": "mail.smtp.password",
    "LOTSE_IMAP_PASSWORD": "imap.password",
}
_ENV_FOR_KEY = {key: env for env, key in ENV_OVERRIDES.items()}

CENTRE_KEYS = (
    "id",
    "name",
    "language",
    "admins",
    "settings",
    "documents",
    "master_data",
    "topics",
)
LANGUAGES = ("de", "en")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_LOCALPART_RE = re.compile(r"[a-z0-9._=\-/]+")
_CENTRE_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_DOMAIN_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)
_MXID_RE = re.compile(r"@([a-z0-9._=\-/+]+):(.+)")


class ConfigError(Exception):
    """A configuration problem, located by its dotted key path (``centres[1].language``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class HomeserverConfig:
    address: str
    domain: str
    public_address: str
    verify_ssl: bool


@dataclass(frozen=True)
class AppserviceConfig:
    address: str
    hostname: str
    port: int
    id: str
    as_token: str = field(repr=False)
    hs_token: str = field(repr=False)
    sender_localpart: str
    namespace_prefix: str


@dataclass(frozen=True)
class BotConfig:
    localpart: str
    displayname: str


@dataclass(frozen=True)
class BotsConfig:
    assistant: BotConfig
    steward: BotConfig


@dataclass(frozen=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True)
class EncryptionConfig:
    pickle_key: str = field(repr=False)
    device_name: str
    session_wait_seconds: float


@dataclass(frozen=True)
class MailConfig:
    enabled: bool
    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    timeout: float
    from_address: str
    templates_dir: str
    retry_base_delay: float
    retry_max_delay: float
    retry_max_attempts: int
    ca_file: str = ""
    app_url: str = ""
    digest_window_minutes: int = 60
    notice_interval: float = 60.0
    confirmation_hours: int = 48


@dataclass(frozen=True)
class ImapConfig:
    enabled: bool
    host: str
    port: int
    security: str
    ca_file: str
    username: str
    password: str = field(repr=False)
    mailbox: str
    processed_folder: str
    skipped_folder: str
    poll_interval: float
    bounce_threshold: int
    max_message_bytes: int


@dataclass(frozen=True)
class WebConfig:
    public_url: str


@dataclass(frozen=True)
class InvitationsConfig:
    valid_days: int


@dataclass(frozen=True)
class PasswordPolicyConfig:
    """The ``password_policy`` section; bots.password_policy applies it."""

    min_length: int = 8
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True
    require_special: bool = True


@dataclass(frozen=True)
class LoggingConfig:
    level: str


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


@dataclass(frozen=True)
class Config:
    homeserver: HomeserverConfig
    appservice: AppserviceConfig
    bots: BotsConfig
    database: DatabaseConfig
    encryption: EncryptionConfig
    mail: MailConfig
    imap: ImapConfig
    web: WebConfig
    logging: LoggingConfig
    self_registration_centre: str | None
    centres: tuple[CentreConfig, ...]
    path: Path
    invitations: InvitationsConfig = InvitationsConfig(valid_days=7)
    password_policy: PasswordPolicyConfig = PasswordPolicyConfig()

    def _mxid(self, localpart: str) -> str:
        return f"@{localpart}:{self.homeserver.domain}"

    @property
    def assistant_mxid(self) -> str:
        """Matrix id of the E2EE assistant bot."""
        return self._mxid(self.bots.assistant.localpart)

    @property
    def steward_mxid(self) -> str:
        """Matrix id of the device-less room-owning bot."""
        return self._mxid(self.bots.steward.localpart)

    @property
    def sender_mxid(self) -> str:
        """Matrix id of the registration's sender user."""
        return self._mxid(self.appservice.sender_localpart)

    @property
    def public_homeserver_url(self) -> str:
        """URL people log in to: ``homeserver.public_address`` or else ``homeserver.address``."""
        return self.homeserver.public_address or self.homeserver.address

    @property
    def public_web_url(self) -> str:
        """Base URL of the web listener: ``web.public_url`` or else ``appservice.address``."""
        return self.web.public_url or self.appservice.address

    def centre(self, centre_id: str) -> CentreConfig | None:
        """The declared centre with this id, or None."""
        for centre in self.centres:
            if centre.id == centre_id:
                return centre
        return None


# --------------------------------------------------------------------------- loading


def example_path() -> Path:
    """Path of the shipped, fully commented example config."""
    return data_path("config.example.yaml")


def _parse(text: str) -> Any:
    yaml = YAML(typ="safe", pure=True)
    try:
        return yaml.load(StringIO(text))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = err.problem or err.context or "invalid YAML"
        raise ConfigError(FILE_KEY, f"invalid YAML at {where}{problem}") from None
    except YAMLError as err:
        raise ConfigError(FILE_KEY, f"invalid YAML: {err}") from None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _merge(defaults: Any, user: Any, prefix: str) -> Any:
    """Merge ``user`` onto ``defaults`` key by key; refuse keys the example does not have."""
    if not isinstance(defaults, dict):
        # Scalars and lists (``centres``, ``admins``) are taken whole from the user file.
        return copy.deepcopy(user)
    if user is None:
        return copy.deepcopy(defaults)
    if not isinstance(user, dict):
        raise ConfigError(prefix or FILE_KEY, "expected a mapping of options")
    merged = copy.deepcopy(defaults)
    for key, value in user.items():
        path = _join(prefix, str(key))
        if not isinstance(key, str) or key not in defaults:
            raise ConfigError(path, "unknown option; see config.example.yaml")
        merged[key] = _merge(defaults[key], value, path)
    return merged


def _set_path(data: dict[str, Any], dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[last] = value


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> Config:
    """Read, merge, override from ``env`` (default ``os.environ``) and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(FILE_KEY, f"config file {path} not found; run `lotse init`") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(FILE_KEY, f"cannot read {path}: {err}") from None
    return load_config_text(text, path, env)


def load_config_text(text: str, path: Path | str, env: Mapping[str, str] | None = None) -> Config:
    """Like :func:`load_config` for text already in memory; ``path`` locates relative paths."""
    path = Path(path).absolute()
    defaults = _parse(example_path().read_text(encoding="utf-8"))
    raw = _merge(defaults, _parse(text), "")
    environ = os.environ if env is None else env
    for var, dotted in ENV_OVERRIDES.items():
        value = environ.get(var)
        if value:
            _set_path(raw, dotted, value)
    return _validate(raw, path)


# --------------------------------------------------------------------------- validation


class _Reader:
    """Typed access to the merged raw config by dotted path; every failure names the path."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def get(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            node = node[part]
        return node

    def text(self, dotted: str, *, empty: bool = False) -> str:
        return _as_str(self.get(dotted), dotted, empty=empty)

    def url(self, dotted: str, *, empty: bool = False) -> str:
        value = self.text(dotted, empty=empty)
        if value:
            _check_url(value, dotted)
        return value.rstrip("/")

    def secret(self, dotted: str) -> str:
        value = self.get(dotted)
        if value is None or value == "" or value == PLACEHOLDER:
            hint = f"run `lotse init` or set {_ENV_FOR_KEY[dotted]}"
            raise ConfigError(dotted, f"placeholder; {hint}")
        return _as_str(value, dotted)

    def localpart(self, dotted: str) -> str:
        value = self.text(dotted)
        if not _LOCALPART_RE.fullmatch(value):
            raise ConfigError(
                dotted, f"'{value}' is not a valid localpart (lower-case letters, digits, ._=-/)"
            )
        return value

    def choice(self, dotted: str, choices: tuple[str, ...], normalise: Callable[[str], str]) -> str:
        value = normalise(self.text(dotted))
        if value not in choices:
            raise ConfigError(dotted, f"expected one of {', '.join(choices)}, got '{value}'")
        return value


def _as_str(value: Any, key: str, *, empty: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(key, "expected a string")
    text = str(value).strip()
    if not text and not empty:
        raise ConfigError(key, "must not be empty")
    return text


def _check_url(value: str, key: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(key, f"expected an http(s) URL with a host (https://host), got '{value}'")


def _check_domain(value: str, key: str) -> None:
    if "://" in value or not _DOMAIN_RE.fullmatch(value):
        raise ConfigError(
            key, f"expected a server name like matrix.example.net, no scheme or path, got '{value}'"
        )


def _port(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(key, f"expected a port number 1..65535, got '{value}'")
    return value


def _positive_number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(key, f"expected a number greater than 0, got '{value}'")
    return float(value)


def _database_url(value: str, key: str, base: Path) -> str:
    if value.startswith(("postgres://", "postgresql://")):
        if not urlsplit(value).hostname:
            raise ConfigError(key, "expected postgres://user:password@host/database")
        return value
    if value.startswith("sqlite:"):
        target = value[len("sqlite:") :]
        if target.startswith("///"):
            target = target[2:]
        elif target.startswith("//"):
            target = target[2:]
        if not target:
            raise ConfigError(key, "expected sqlite:PATH with a file path")
        if target == ":memory:":
            return "sqlite::memory:"
        file = Path(target).expanduser()
        if not file.is_absolute():
            file = base / file
        return f"sqlite:{file.resolve()}"
    raise ConfigError(key, "expected sqlite:PATH or postgres://user:password@host/database")


def _centres(raw: Any, domain: str) -> tuple[CentreConfig, ...]:
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
        centre_id = _as_str(entry["id"], f"{prefix}.id")
        if not _CENTRE_ID_RE.fullmatch(centre_id):
            raise ConfigError(
                f"{prefix}.id",
                f"'{centre_id}' is not valid: lower-case letters, digits and dashes, "
                "starting with a letter or digit",
            )
        if any(c.id == centre_id for c in centres):
            raise ConfigError(f"{prefix}.id", f"duplicate centre id '{centre_id}'")
        name = _as_str(entry.get("name", centre_id), f"{prefix}.name")
        language = _as_str(entry.get("language", LANGUAGES[0]), f"{prefix}.language").lower()
        if language not in LANGUAGES:
            raise ConfigError(
                f"{prefix}.language", f"expected one of {', '.join(LANGUAGES)}, got '{language}'"
            )
        admins_raw = entry.get("admins") or []
        if not isinstance(admins_raw, list):
            raise ConfigError(f"{prefix}.admins", "expected a list of Matrix user ids")
        admins: list[str] = []
        for admin_index, admin_value in enumerate(admins_raw):
            key = f"{prefix}.admins[{admin_index}]"
            admin = _as_str(admin_value, key)
            match = _MXID_RE.fullmatch(admin)
            if not match or not _DOMAIN_RE.fullmatch(match.group(2)):
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
            )
        )
    return tuple(centres)


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
        topic_id = _as_str(entry.get("id", ""), f"{key}.id").strip()
        if not _TOPIC_ID_RE.fullmatch(topic_id):
            raise ConfigError(
                f"{key}.id", f"'{topic_id}' is not valid: lower-case letters, digits, - and _"
            )
        if any(t.id == topic_id for t in topics):
            raise ConfigError(f"{key}.id", f"duplicate topic id '{topic_id}'")
        labels = {
            lang: _as_str(entry[lang], f"{key}.{lang}").strip()
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


_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def _mail(r: _Reader, base: Path) -> MailConfig:
    enabled = r.get("mail.enabled")
    if not isinstance(enabled, bool):
        raise ConfigError("mail.enabled", "expected true or false")
    from_address = r.text("mail.from_address")
    if not _ADDRESS.match(from_address):
        raise ConfigError("mail.from_address", f"'{from_address}' is not an e-mail address")
    attempts = r.get("mail.retry.max_attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ConfigError("mail.retry.max_attempts", "expected a whole number of at least 1")
    return MailConfig(
        enabled=enabled,
        host=r.text("mail.smtp.host"),
        port=_port(r.get("mail.smtp.port"), "mail.smtp.port"),
        security=r.choice("mail.smtp.security", ("none", "starttls", "tls"), str.lower),
        username=r.text("mail.smtp.username", empty=True),
        password=r.text("mail.smtp.password", empty=True),
        timeout=_positive_number(r.get("mail.smtp.timeout"), "mail.smtp.timeout"),
        from_address=from_address,
        templates_dir=r.text("mail.templates_dir", empty=True),
        retry_base_delay=_positive_number(r.get("mail.retry.base_delay"), "mail.retry.base_delay"),
        retry_max_delay=_positive_number(r.get("mail.retry.max_delay"), "mail.retry.max_delay"),
        retry_max_attempts=attempts,
        ca_file=_ca_file(r, "mail.smtp.ca_file", base),
        app_url=r.url("mail.app_url", empty=True),
        digest_window_minutes=_whole(r, "mail.digest_window_minutes", 0, 7 * 24 * 60),
        notice_interval=_positive_number(r.get("mail.notice_interval"), "mail.notice_interval"),
        confirmation_hours=_whole(r, "mail.confirmation_hours", 1, 24 * 30),
    )


def _invitations(r: _Reader) -> tuple[InvitationsConfig, PasswordPolicyConfig]:
    days = r.get("invitations.valid_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise ConfigError("invitations.valid_days", f"expected whole days 1..365, got '{days}'")
    length = r.get("password_policy.min_length")
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 512:
        raise ConfigError(
            "password_policy.min_length", f"expected a whole number 1..512, got '{length}'"
        )
    switches: dict[str, bool] = {}
    for name in ("require_upper", "require_lower", "require_digit", "require_special"):
        value = r.get(f"password_policy.{name}")
        if not isinstance(value, bool):
            raise ConfigError(f"password_policy.{name}", "expected true or false")
        switches[name] = value
    return InvitationsConfig(valid_days=days), PasswordPolicyConfig(min_length=length, **switches)


def _whole(r: _Reader, key: str, low: int, high: int) -> int:
    value = r.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(key, f"expected a whole number {low}..{high}, got '{value}'")
    return value


def _ca_file(r: _Reader, key: str, base: Path) -> str:
    """A PEM file relative to the config file's folder; returned as an absolute path."""
    value = r.text(key, empty=True)
    if not value:
        return ""
    file = Path(value).expanduser()
    file = file if file.is_absolute() else base / file
    if not file.is_file():
        raise ConfigError(key, f"no such file: '{value}'")
    return str(file.resolve())


def _imap(r: _Reader, mail: MailConfig, base: Path) -> ImapConfig:
    enabled = r.get("imap.enabled")
    if not isinstance(enabled, bool):
        raise ConfigError("imap.enabled", "expected true or false")
    if enabled and not mail.enabled:
        raise ConfigError("imap.enabled", "needs mail.enabled (answers and notices are mail)")
    folders = {}
    for name in ("mailbox", "processed_folder", "skipped_folder"):
        folders[name] = r.text(f"imap.{name}")
    if len(set(folders.values())) < 3:
        raise ConfigError("imap.processed_folder", "mailbox and both folders must differ")
    config = ImapConfig(
        enabled=enabled,
        host=r.text("imap.host"),
        port=_port(r.get("imap.port"), "imap.port"),
        security=r.choice("imap.security", ("none", "tls"), str.lower),
        ca_file=_ca_file(r, "imap.ca_file", base),
        username=r.text("imap.username", empty=not enabled),
        password=r.text("imap.password", empty=True),
        poll_interval=_positive_number(r.get("imap.poll_interval"), "imap.poll_interval"),
        bounce_threshold=_whole(r, "imap.bounce_threshold", 1, 100),
        max_message_bytes=_whole(r, "imap.max_message_bytes", 10_000, 100_000_000),
        **folders,
    )
    if enabled and not config.password:
        raise ConfigError("imap.password", "must not be empty (or set LOTSE_IMAP_PASSWORD)")
    return config


def _validate(raw: dict[str, Any], path: Path) -> Config:
    r = _Reader(raw)

    domain = r.text("homeserver.domain")
    _check_domain(domain, "homeserver.domain")
    verify_ssl = r.get("homeserver.verify_ssl")
    if not isinstance(verify_ssl, bool):
        raise ConfigError("homeserver.verify_ssl", "expected true or false")
    homeserver = HomeserverConfig(
        address=r.url("homeserver.address"),
        domain=domain,
        public_address=r.url("homeserver.public_address", empty=True),
        verify_ssl=verify_ssl,
    )

    as_token = r.secret("appservice.as_token")
    hs_token = r.secret("appservice.hs_token")
    if as_token == hs_token:
        raise ConfigError("appservice.hs_token", "must differ from appservice.as_token")
    prefix = r.localpart("appservice.namespace_prefix")
    appservice = AppserviceConfig(
        address=r.url("appservice.address"),
        hostname=r.text("appservice.hostname"),
        port=_port(r.get("appservice.port"), "appservice.port"),
        id=r.text("appservice.id"),
        as_token=as_token,
        hs_token=hs_token,
        sender_localpart=r.localpart("appservice.sender_localpart"),
        namespace_prefix=prefix,
    )

    bots = BotsConfig(
        assistant=BotConfig(
            r.localpart("bots.assistant.localpart"), r.text("bots.assistant.displayname")
        ),
        steward=BotConfig(
            r.localpart("bots.steward.localpart"), r.text("bots.steward.displayname")
        ),
    )
    seen: dict[str, str] = {}
    for key, localpart in (
        ("appservice.sender_localpart", appservice.sender_localpart),
        ("bots.assistant.localpart", bots.assistant.localpart),
        ("bots.steward.localpart", bots.steward.localpart),
    ):
        if not localpart.startswith(prefix):
            raise ConfigError(
                key,
                f"'{localpart}' must start with appservice.namespace_prefix '{prefix}' "
                "so that Synapse gives it to Lotse",
            )
        if localpart in seen:
            raise ConfigError(key, f"'{localpart}' is already used by {seen[localpart]}")
        seen[localpart] = key

    database = DatabaseConfig(_database_url(r.text("database.url"), "database.url", path.parent))

    encryption = EncryptionConfig(
        pickle_key=r.secret("encryption.pickle_key"),
        device_name=r.text("encryption.device_name"),
        session_wait_seconds=_positive_number(
            r.get("encryption.session_wait_seconds"), "encryption.session_wait_seconds"
        ),
    )

    mail = _mail(r, path.parent)
    imap = _imap(r, mail, path.parent)
    web = WebConfig(public_url=r.url("web.public_url", empty=True))
    logging = LoggingConfig(level=r.choice("logging.level", LOG_LEVELS, str.upper))
    invitations, password_policy = _invitations(r)

    centres = _centres(r.get("centres"), domain)
    self_registration = r.text("self_registration.centre", empty=True) or None
    if self_registration is not None and not any(c.id == self_registration for c in centres):
        declared = ", ".join(c.id for c in centres)
        raise ConfigError(
            "self_registration.centre",
            f"unknown centre '{self_registration}'; declared: {declared}",
        )

    return Config(
        homeserver=homeserver,
        appservice=appservice,
        bots=bots,
        database=database,
        encryption=encryption,
        mail=mail,
        imap=imap,
        web=web,
        logging=logging,
        self_registration_centre=self_registration,
        centres=centres,
        path=path,
        invitations=invitations,
        password_policy=password_policy,
    )
