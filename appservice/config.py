"""Load and validate Lotse's configuration.

The shipped ``config.example.yaml`` is the source of truth: it supplies every default, and
any key it does not have is refused. The user's file is merged onto it key by key, then the
secret environment variables are applied, then the result is checked and frozen into
dataclasses. Every failure is a :class:`ConfigError` naming the dotted key path.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from appservice.resources import data_path

from .config_centres import LANGUAGES, CentreConfig, Topic, parse_centres
from .config_mail import ImapConfig, MailConfig, parse_imap, parse_mail
from .config_values import (
    ENV_OVERRIDES,
    FILE_KEY,
    PLACEHOLDER,
    ConfigError,
    Reader,
    check_domain,
    port_number,
    positive_number,
    whole_number,
)

__all__ = [
    "ENV_OVERRIDES",
    "FILE_KEY",
    "LANGUAGES",
    "PLACEHOLDER",
    "CentreConfig",
    "Config",
    "ConfigError",
    "ImapConfig",
    "MailConfig",
    "Topic",
    "load_config",
    "load_config_text",
]


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MIB = 1024 * 1024


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
    # The largest transaction body Synapse may send (appservice.max_transaction_mb).
    max_transaction_bytes: int


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
    # PostgreSQL pool size: above the rooms handled at once (each command holds a connection
    # for its transaction while its library calls take others).
    max_connections: int = 40


@dataclass(frozen=True)
class EncryptionConfig:
    pickle_key: str = field(repr=False)
    device_name: str
    session_wait_seconds: float
    # Seals notes, documents, contact data … (appservice/sealing.py). Installs from before this
    # setting have none: they keep sealing with the pickle key until `lotse rotate-key`.
    sealing_key: str = field(default="", repr=False)
    # Keys values may still be sealed under while `lotse rotate-key` runs: opened, never used
    # to seal (README, "Key rotation").
    previous_sealing_keys: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.sealing_key:
            object.__setattr__(self, "sealing_key", self.pickle_key)


@dataclass(frozen=True)
class WebConfig:
    public_url: str


@dataclass(frozen=True)
class InvitationsConfig:
    valid_days: int
    # The "forgot password" link (/reset): its lifetime, and how many forms the public page
    # takes per hour from everyone together.
    reset_valid_hours: int = 2
    resets_per_hour: int = 30
    # The registration offer to an anonymous person (/keep): its lifetime.
    keep_valid_hours: int = 24


@dataclass(frozen=True)
class SelfRegistrationConfig:
    """Limits of the public ``/register`` form (its centre is ``self_registration_centre``)."""

    mails_per_address_per_day: int = 3
    forms_per_hour: int = 30


@dataclass(frozen=True)
class PasswordPolicyConfig:
    """The ``password_policy`` section; bots.accounts.password_policy applies it."""

    min_length: int = 8
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True
    require_special: bool = True


@dataclass(frozen=True)
class RetentionConfig:
    """How long the audit log and the mail log keep an entry (bots/records/retention.py)."""

    audit_months: int = 12
    mail_log_months: int = 12


@dataclass(frozen=True)
class TopicChatsConfig:
    """Topic chats (bots/topicchats/): when people may enter, how long one may last. Their
    anonymous participants are erased after the centre's ``live_chat.erase_after_hours``."""

    join_early_minutes: int = 10
    max_hours: int = 8


@dataclass(frozen=True)
class LoggingConfig:
    level: str


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
    self_registration: SelfRegistrationConfig = SelfRegistrationConfig()
    retention: RetentionConfig = RetentionConfig()
    topic_chats: TopicChatsConfig = TopicChatsConfig()

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


def _optional_secret(r: Reader, dotted: str) -> str:
    """A secret that may be left out ("" or the placeholder): then a fallback applies."""
    value = r.get(dotted)
    if value is None or value == "" or value == PLACEHOLDER:
        return ""
    return r.secret(dotted)


def _secret_list(r: Reader, dotted: str) -> tuple[str, ...]:
    """A list of secrets; from the environment a comma-separated string."""
    value = r.get(dotted)
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(dotted, "expected a list of keys")
    keys = tuple(i.strip() for i in items if i.strip())
    if PLACEHOLDER in keys:
        raise ConfigError(dotted, f"'{PLACEHOLDER}' is no key: give the previous key itself")
    return keys


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


def _invitations(r: Reader) -> tuple[InvitationsConfig, PasswordPolicyConfig]:
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
    invitations = InvitationsConfig(
        valid_days=days,
        reset_valid_hours=whole_number(r, "invitations.reset_valid_hours", 1, 72),
        resets_per_hour=whole_number(r, "invitations.resets_per_hour", 1, 100_000),
        keep_valid_hours=whole_number(r, "invitations.keep_valid_hours", 1, 720),
    )
    return invitations, PasswordPolicyConfig(min_length=length, **switches)


def _self_registration(r: Reader) -> SelfRegistrationConfig:
    return SelfRegistrationConfig(
        mails_per_address_per_day=whole_number(
            r, "self_registration.mails_per_address_per_day", 1, 100
        ),
        forms_per_hour=whole_number(r, "self_registration.forms_per_hour", 1, 100_000),
    )


def _topic_chats(r: Reader) -> TopicChatsConfig:
    return TopicChatsConfig(
        join_early_minutes=whole_number(r, "topic_chats.join_early_minutes", 0, 120),
        max_hours=whole_number(r, "topic_chats.max_hours", 1, 24),
    )


def _validate(raw: dict[str, Any], path: Path) -> Config:
    r = Reader(raw)

    domain = r.text("homeserver.domain")
    check_domain(domain, "homeserver.domain")
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
        port=port_number(r.get("appservice.port"), "appservice.port"),
        id=r.text("appservice.id"),
        as_token=as_token,
        hs_token=hs_token,
        sender_localpart=r.localpart("appservice.sender_localpart"),
        namespace_prefix=prefix,
        max_transaction_bytes=whole_number(r, "appservice.max_transaction_mb", 1, 1024) * MIB,
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

    database = DatabaseConfig(
        _database_url(r.text("database.url"), "database.url", path.parent),
        max_connections=whole_number(r, "database.max_connections", 24, 1000),
    )

    encryption = EncryptionConfig(
        pickle_key=r.secret("encryption.pickle_key"),
        sealing_key=_optional_secret(r, "encryption.sealing_key"),
        previous_sealing_keys=_secret_list(r, "encryption.previous_sealing_keys"),
        device_name=r.text("encryption.device_name"),
        session_wait_seconds=positive_number(
            r.get("encryption.session_wait_seconds"), "encryption.session_wait_seconds"
        ),
    )

    mail = parse_mail(r, path.parent)
    imap = parse_imap(r, mail, path.parent)
    web = WebConfig(public_url=r.url("web.public_url", empty=True))
    logging = LoggingConfig(level=r.choice("logging.level", LOG_LEVELS, str.upper))
    invitations, password_policy = _invitations(r)

    centres = parse_centres(r.get("centres"), domain, path.parent)
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
        self_registration=_self_registration(r),
        retention=RetentionConfig(
            audit_months=whole_number(r, "retention.audit_months", 1, 1200),
            mail_log_months=whole_number(r, "retention.mail_log_months", 1, 1200),
        ),
        topic_chats=_topic_chats(r),
    )
