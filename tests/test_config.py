"""Configuration loading: defaults from the example, env overrides, errors naming the key."""

from __future__ import annotations

import copy
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from appservice.config import ConfigError, load_config, load_config_text
from appservice.registration import registration_dict
from appservice.resources import data_path

SECRETS: dict[str, Any] = {
    "appservice": {"as_token": "as-secret", "hs_token": "hs-secret"},
    "encryption": {"pickle_key": "pickle-secret"},
}
TWO_CENTRES: list[dict[str, Any]] = [
    {"id": "demo", "name": "Demo", "language": "de", "admins": ["@alice:example.org"]},
    {"id": "north", "name": "North", "language": "en", "admins": []},
]


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge dicts left to right."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def dump(data: dict[str, Any]) -> str:
    yaml = YAML(typ="safe", pure=True)
    out = StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


IMAP_ON = {"enabled": True, "username": "lotse", "password": "pw"}

BAD_CONFIGS: list[tuple[str, str, str]] = [
    # (id, YAML text, expected key path)
    ("broken-yaml", "homeserver:\n  address: [unclosed\n  domain: x\n", "(file)"),
    ("as-token-placeholder", dump({"encryption": {"pickle_key": "p"}}), "appservice.as_token"),
    (
        "hs-token-placeholder",
        dump(merged(SECRETS, {"appservice": {"hs_token": "generate"}})),
        "appservice.hs_token",
    ),
    (
        "pickle-key-empty",
        dump(merged(SECRETS, {"encryption": {"pickle_key": ""}})),
        "encryption.pickle_key",
    ),
    (
        "same-tokens",
        dump(merged(SECRETS, {"appservice": {"hs_token": "as-secret"}})),
        "appservice.hs_token",
    ),
    (
        "homeserver-url-no-scheme",
        dump(merged(SECRETS, {"homeserver": {"address": "synapse:8008"}})),
        "homeserver.address",
    ),
    (
        "homeserver-url-no-host",
        dump(merged(SECRETS, {"homeserver": {"address": "https://"}})),
        "homeserver.address",
    ),
    (
        "public-url-ftp",
        dump(merged(SECRETS, {"web": {"public_url": "ftp://x.org"}})),
        "web.public_url",
    ),
    (
        "domain-with-scheme",
        dump(merged(SECRETS, {"homeserver": {"domain": "https://x.org"}})),
        "homeserver.domain",
    ),
    (
        "verify-ssl-not-bool",
        dump(merged(SECRETS, {"homeserver": {"verify_ssl": "yes"}})),
        "homeserver.verify_ssl",
    ),
    (
        "port-out-of-range",
        dump(merged(SECRETS, {"appservice": {"port": 70000}})),
        "appservice.port",
    ),
    ("port-not-int", dump(merged(SECRETS, {"appservice": {"port": "http"}})), "appservice.port"),
    (
        "self-registration-unknown-centre",
        dump(merged(SECRETS, {"self_registration": {"centre": "south"}, "centres": TWO_CENTRES})),
        "self_registration.centre",
    ),
    (
        "duplicate-centre-id",
        dump(merged(SECRETS, {"centres": [TWO_CENTRES[0], {**TWO_CENTRES[1], "id": "demo"}]})),
        "centres[1].id",
    ),
    (
        "bad-centre-id",
        dump(merged(SECRETS, {"centres": [{"id": "Demo Centre", "name": "x"}]})),
        "centres[0].id",
    ),
    (
        "bad-language",
        dump(merged(SECRETS, {"centres": [TWO_CENTRES[0], {**TWO_CENTRES[1], "language": "fr"}]})),
        "centres[1].language",
    ),
    ("no-centres", dump(merged(SECRETS, {"centres": []})), "centres"),
    (
        "bad-admin-id",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "admins": ["alice"]}]})),
        "centres[0].admins[0]",
    ),
    (
        "admin-of-two-centres",
        dump(
            merged(
                SECRETS,
                {"centres": [TWO_CENTRES[0], {**TWO_CENTRES[1], "admins": ["@alice:example.org"]}]},
            )
        ),
        "centres[1].admins[0]",
    ),
    ("unknown-top-level-option", dump(merged(SECRETS, {"colour": "blue"})), "colour"),
    (
        "unknown-nested-option",
        dump(merged(SECRETS, {"homeserver": {"adress": "http://x"}})),
        "homeserver.adress",
    ),
    (
        "unknown-centre-option",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "colour": "blue"}]})),
        "centres[0].colour",
    ),
    ("section-not-mapping", dump(merged(SECRETS, {"bots": "lotse"})), "bots"),
    (
        "bot-localpart-outside-prefix",
        dump(merged(SECRETS, {"bots": {"steward": {"localpart": "steward"}}})),
        "bots.steward.localpart",
    ),
    (
        "sender-localpart-outside-prefix",
        dump(merged(SECRETS, {"appservice": {"sender_localpart": "as_sender"}})),
        "appservice.sender_localpart",
    ),
    (
        "bots-share-localpart",
        dump(merged(SECRETS, {"bots": {"steward": {"localpart": "lotse"}}})),
        "bots.steward.localpart",
    ),
    (
        "localpart-upper-case",
        dump(merged(SECRETS, {"bots": {"assistant": {"localpart": "Lotse"}}})),
        "bots.assistant.localpart",
    ),
    (
        "database-url-mysql",
        dump(merged(SECRETS, {"database": {"url": "mysql://db/lotse"}})),
        "database.url",
    ),
    ("log-level", dump(merged(SECRETS, {"logging": {"level": "VERBOSE"}})), "logging.level"),
    (
        "unknown-time-zone",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "timezone": "Mars/Olympus"}]})),
        "centres[0].timezone",
    ),
    (
        "transaction-limit-zero",
        dump(merged(SECRETS, {"appservice": {"max_transaction_mb": 0}})),
        "appservice.max_transaction_mb",
    ),
    (
        "session-wait-zero",
        dump(merged(SECRETS, {"encryption": {"session_wait_seconds": 0}})),
        "encryption.session_wait_seconds",
    ),
    (
        "mail-security",
        dump(merged(SECRETS, {"mail": {"smtp": {"security": "ssl3"}}})),
        "mail.smtp.security",
    ),
    (
        "mail-from-address",
        dump(merged(SECRETS, {"mail": {"from_address": "not-an-address"}})),
        "mail.from_address",
    ),
    (
        "mail-enabled-not-bool",
        dump(merged(SECRETS, {"mail": {"enabled": "yes please"}})),
        "mail.enabled",
    ),
    (
        "mail-retry-attempts",
        dump(merged(SECRETS, {"mail": {"retry": {"max_attempts": 0}}})),
        "mail.retry.max_attempts",
    ),
    (
        "mail-ca-file-missing",
        dump(merged(SECRETS, {"mail": {"smtp": {"ca_file": "no/such/ca.pem"}}})),
        "mail.smtp.ca_file",
    ),
    (
        "mail-app-url",
        dump(merged(SECRETS, {"mail": {"app_url": "element"}})),
        "mail.app_url",
    ),
    (
        "mail-digest-window-negative",
        dump(merged(SECRETS, {"mail": {"digest_window_minutes": -5}})),
        "mail.digest_window_minutes",
    ),
    (
        "mail-confirmation-hours-zero",
        dump(merged(SECRETS, {"mail": {"confirmation_hours": 0}})),
        "mail.confirmation_hours",
    ),
    (
        "imap-without-mail",
        dump(merged(SECRETS, {"imap": IMAP_ON})),
        "imap.enabled",
    ),
    (
        "imap-no-password",
        dump(merged(SECRETS, {"mail": {"enabled": True}, "imap": {**IMAP_ON, "password": ""}})),
        "imap.password",
    ),
    (
        "imap-no-username",
        dump(merged(SECRETS, {"mail": {"enabled": True}, "imap": {**IMAP_ON, "username": ""}})),
        "imap.username",
    ),
    (
        "imap-starttls",
        dump(merged(SECRETS, {"imap": {"security": "starttls"}})),
        "imap.security",
    ),
    (
        "imap-bounce-threshold",
        dump(merged(SECRETS, {"imap": {"bounce_threshold": 0}})),
        "imap.bounce_threshold",
    ),
    (
        "imap-same-folder",
        dump(merged(SECRETS, {"imap": {"processed_folder": "INBOX"}})),
        "imap.processed_folder",
    ),
    (
        "imap-poll-interval",
        dump(merged(SECRETS, {"imap": {"poll_interval": 0}})),
        "imap.poll_interval",
    ),
    (
        "centre-setting-unknown",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "settings": {"colour": 1}}]})),
        "centres[0].settings.colour",
    ),
    (
        "centre-setting-bad-hours",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "settings": {"overdue_hours": 0}}]})),
        "centres[0].settings.overdue_hours",
    ),
    (
        "centre-setting-bad-fallback",
        dump(
            merged(
                SECRETS,
                {"centres": [{**TWO_CENTRES[0], "settings": {"fallback_counsellor": "anna"}}]},
            )
        ),
        "centres[0].settings.fallback_counsellor",
    ),
    (
        "centre-settings-not-mapping",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "settings": "on"}]})),
        "centres[0].settings",
    ),
    (
        "documents-not-mapping",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "documents": ["pdf"]}]})),
        "centres[0].documents",
    ),
    (
        "documents-unknown-type",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "documents": {"types": ["exe"]}}]})),
        "centres[0].documents.types",
    ),
    (
        "documents-max-mb-zero",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "documents": {"max_mb": 0}}]})),
        "centres[0].documents.max_mb",
    ),
    (
        "documents-unknown-option",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "documents": {"size": 3}}]})),
        "centres[0].documents.size",
    ),
    (
        "invitation-days-zero",
        dump(merged(SECRETS, {"invitations": {"valid_days": 0}})),
        "invitations.valid_days",
    ),
    (
        "invitation-days-text",
        dump(merged(SECRETS, {"invitations": {"valid_days": "a week"}})),
        "invitations.valid_days",
    ),
    (
        "password-length-huge",
        dump(merged(SECRETS, {"password_policy": {"min_length": 513}})),
        "password_policy.min_length",
    ),
    (
        "password-switch-not-bool",
        dump(merged(SECRETS, {"password_policy": {"require_digit": "yes"}})),
        "password_policy.require_digit",
    ),
    (
        "password-policy-unknown",
        dump(merged(SECRETS, {"password_policy": {"require_emoji": True}})),
        "password_policy.require_emoji",
    ),
    *(
        (
            f"master-data-{name}",
            dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "master_data": fields}]})),
            f"centres[0].master_data{where}",
        )
        for name, fields, where in [
            ("not-list", {"key": "age"}, ""),
            ("entry-not-mapping", ["age"], "[0]"),
            ("bad-key", [{"key": "Alter!", "label": "Alter"}], "[0].key"),
            ("missing-key", [{"label": "Alter"}], "[0].key"),
            ("reserved-key", [{"key": "email", "label": "Mail"}], "[0].key"),
            (
                "duplicate-key",
                [{"key": "age", "label": "Alter"}, {"key": "age", "label": "Age"}],
                "[1].key",
            ),
            ("unknown-option", [{"key": "age", "label": "A", "type": "int"}], "[0].type"),
            ("label-lang", [{"key": "age", "label": {"de": "Alter", "fr": "Âge"}}], "[0].label.fr"),
            ("label-missing-en", [{"key": "age", "label": {"de": "Alter"}}], "[0].label.en"),
            ("label-not-text", [{"key": "age", "label": 3}], "[0].label"),
        ]
    ),
    (
        "topics-not-list",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "topics": "family"}]})),
        "centres[0].topics",
    ),
    (
        "topic-not-mapping",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "topics": ["family"]}]})),
        "centres[0].topics[0]",
    ),
    (
        "topic-bad-id",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "topics": [{"id": "Family!"}]}]})),
        "centres[0].topics[0].id",
    ),
    (
        "topic-duplicate-id",
        dump(
            merged(
                SECRETS,
                {
                    "centres": [
                        {
                            **TWO_CENTRES[0],
                            "topics": [{"id": "a", "de": "A"}, {"id": "a", "de": "B"}],
                        }
                    ]
                },
            )
        ),
        "centres[0].topics[1].id",
    ),
    (
        "topic-no-label",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "topics": [{"id": "a"}]}]})),
        "centres[0].topics[0].de",
    ),
    (
        "topic-unknown-key",
        dump(
            merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "topics": [{"id": "a", "fr": "A"}]}]})
        ),
        "centres[0].topics[0].fr",
    ),
    (
        "avatar-missing-file",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "avatar": "no-logo.png"}]})),
        "centres[0].avatar",
    ),
    (
        # The config file itself: there, but no picture.
        "avatar-not-a-picture",
        dump(
            merged(
                SECRETS, {"centres": [TWO_CENTRES[0], {**TWO_CENTRES[1], "avatar": "config.yaml"}]}
            )
        ),
        "centres[1].avatar",
    ),
    (
        "avatar-bad-mxc",
        dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "avatar": "mxc://only-server"}]})),
        "centres[0].avatar",
    ),
]


@pytest.mark.parametrize(
    ("text", "key"),
    [(text, key) for _, text, key in BAD_CONFIGS],
    ids=[i for i, _, _ in BAD_CONFIGS],
)
def test_bad_config_names_key(tmp_path: Path, text: str, key: str) -> None:
    """Each broken config is refused with a ConfigError naming the offending key path."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert info.value.key == key
    assert info.value.message
    assert str(info.value) == f"{key}: {info.value.message}"


def test_broken_yaml_reports_line(tmp_path: Path) -> None:
    """A YAML syntax error reports the line number the parser found."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "homeserver:\n  domain: x\n  address: [unclosed\n"), env={})
    assert info.value.key == "(file)"
    assert "line " in info.value.message


def test_missing_file(tmp_path: Path) -> None:
    """A missing config file is a ConfigError on (file), not an OSError."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    assert info.value.key == "(file)"


@pytest.mark.parametrize(
    ("key", "env_var"),
    [
        ("appservice.as_token", "LOTSE_AS_TOKEN"),
        ("appservice.hs_token", "LOTSE_HS_TOKEN"),
        ("encryption.pickle_key", "LOTSE_PICKLE_KEY"),
    ],
)
def test_placeholder_error_names_env_var(tmp_path: Path, key: str, env_var: str) -> None:
    """A placeholder secret's error tells which environment variable would supply it."""
    section, name = key.split(".")
    text = dump(merged(SECRETS, {section: {name: "generate"}}))
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert info.value.key == key
    assert "placeholder" in info.value.message and env_var in info.value.message


def test_env_overrides_win(tmp_path: Path) -> None:
    """Environment variables replace file values and clear placeholder errors."""
    path = write(tmp_path, dump({"database": {"url": "sqlite:file.db"}}))
    env = {
        "LOTSE_AS_TOKEN": "env-as",
        "LOTSE_HS_TOKEN": "env-hs",
        "LOTSE_PICKLE_KEY": "env-pickle",
        "LOTSE_DATABASE_URL": "postgres://lotse:pw@db/lotse",
    }
    cfg = load_config(path, env=env)
    assert cfg.appservice.as_token == "env-as"
    assert cfg.appservice.hs_token == "env-hs"
    assert cfg.encryption.pickle_key == "env-pickle"
    assert cfg.database.url == "postgres://lotse:pw@db/lotse"


def test_imap_section(tmp_path: Path) -> None:
    """The poller's settings: password from the environment, CA file beside the config."""
    (tmp_path / "ca.pem").write_text("not checked here")
    text = dump(
        merged(
            SECRETS,
            {
                "mail": {"enabled": True, "smtp": {"ca_file": "ca.pem"}},
                "imap": {**IMAP_ON, "password": "", "ca_file": "ca.pem"},
            },
        )
    )
    cfg = load_config(write(tmp_path, text), env={"LOTSE_IMAP_PASSWORD": "from-env"})
    assert cfg.imap.enabled and cfg.imap.password == "from-env"
    assert cfg.imap.ca_file == str(tmp_path / "ca.pem") == cfg.mail.ca_file
    assert cfg.imap.security == "tls" and cfg.imap.bounce_threshold == 3
    assert cfg.mail.digest_window_minutes == 60 and cfg.mail.app_url == ""
    assert "from-env" not in repr(cfg.imap)


def test_env_override_beats_file_secret(tmp_path: Path) -> None:
    """A secret set in both the file and the environment takes the environment's value."""
    cfg = load_config(write(tmp_path, dump(SECRETS)), env={"LOTSE_AS_TOKEN": "from-env"})
    assert cfg.appservice.as_token == "from-env"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:lotse.db", "data/lotse.db"),
        ("sqlite:sub/x.db", "data/sub/x.db"),
        ("sqlite:../up.db", "up.db"),
    ],
)
def test_relative_sqlite_path_resolved(tmp_path: Path, url: str, expected: str) -> None:
    """A relative sqlite path is resolved against the config file's folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "config.yaml"
    path.write_text(dump(merged(SECRETS, {"database": {"url": url}})), encoding="utf-8")
    cfg = load_config(path, env={})
    assert cfg.database.url == f"sqlite:{(tmp_path / expected).resolve()}"


def test_absolute_sqlite_path_kept(tmp_path: Path) -> None:
    """An absolute sqlite path is kept as it is."""
    url = f"sqlite:{tmp_path / 'abs.db'}"
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, {"database": {"url": url}}))), env={})
    assert cfg.database.url == f"sqlite:{(tmp_path / 'abs.db').resolve()}"


def test_example_with_tokens_loads(tmp_path: Path) -> None:
    """The shipped example, with its placeholders filled in, is a valid config with defaults."""
    text = data_path("config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("as_token: generate", "as_token: a1").replace(
        "hs_token: generate", "hs_token: h1"
    )
    text = text.replace("pickle_key: generate", "pickle_key: p1")
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.homeserver.domain == "example.org"
    assert cfg.appservice.port == 29350
    assert cfg.appservice.max_transaction_bytes == 32 * 1024 * 1024
    assert cfg.self_registration_centre is None
    assert [c.id for c in cfg.centres] == ["demo"]
    assert cfg.centre("demo") is not None and cfg.centre("nope") is None
    assert cfg.encryption.session_wait_seconds == 10
    assert cfg.invitations.valid_days == 7
    assert cfg.password_policy.min_length == 8 and cfg.password_policy.require_special


def test_password_policy_from_file(tmp_path: Path) -> None:
    """An operator's password rules and invitation lifetime replace the defaults."""
    changes = {
        "invitations": {"valid_days": 3},
        "password_policy": {"min_length": 12, "require_special": False},
    }
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, changes))), env={})
    assert cfg.invitations.valid_days == 3
    policy = cfg.password_policy
    assert (policy.min_length, policy.require_special, policy.require_upper) == (12, False, True)


def test_retention_periods(tmp_path: Path) -> None:
    """Twelve months by default; the operator's months replace them; 0 is refused by key."""
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, {}))), env={})
    assert (cfg.retention.audit_months, cfg.retention.mail_log_months) == (12, 12)
    changes = {"retention": {"audit_months": 24, "mail_log_months": 3}}
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, changes))), env={})
    assert (cfg.retention.audit_months, cfg.retention.mail_log_months) == (24, 3)
    with pytest.raises(ConfigError) as info:
        bad = {"retention": {"audit_months": 0}}
        load_config(write(tmp_path, dump(merged(SECRETS, bad))), env={})
    assert info.value.key == "retention.audit_months"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"topic_chats": {"join_early_minutes": -1}}, "topic_chats.join_early_minutes"),
        ({"topic_chats": {"max_hours": 0}}, "topic_chats.max_hours"),
        ({"topic_chats": {"max_hours": "acht"}}, "topic_chats.max_hours"),
        ({"invitations": {"keep_valid_hours": 0}}, "invitations.keep_valid_hours"),
    ],
)
def test_topic_chat_options(tmp_path: Path, changes: dict[str, Any], key: str) -> None:
    """Topic chats: 10 minutes early, 8 hours at most, offers valid 24 hours by default; a bad
    value is refused naming its key."""
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, {}))), env={})
    assert (cfg.topic_chats.join_early_minutes, cfg.topic_chats.max_hours) == (10, 8)
    assert cfg.invitations.keep_valid_hours == 24
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, dump(merged(SECRETS, changes))), env={})
    assert info.value.key == key


def test_defaults_fill_partial_file_and_properties(tmp_path: Path) -> None:
    """Missing keys come from the example; derived ids and URLs follow the config."""
    text = dump(
        merged(
            SECRETS,
            {
                "homeserver": {"domain": "beratung.example.net"},
                "web": {"public_url": "https://lotse.example.net/"},
                "self_registration": {"centre": "north"},
                "centres": TWO_CENTRES,
            },
        )
    )
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.assistant_mxid == "@lotse:beratung.example.net"
    assert cfg.steward_mxid == "@lotse_steward:beratung.example.net"
    assert cfg.sender_mxid == "@lotse_as:beratung.example.net"
    assert cfg.public_homeserver_url == "http://127.0.0.1:8008"
    assert cfg.public_web_url == "https://lotse.example.net"
    assert cfg.self_registration_centre == "north"
    assert cfg.centre("demo") is not None
    assert cfg.centre("demo").admins == ("@alice:example.org",)  # type: ignore[union-attr]
    assert cfg.path == (tmp_path / "config.yaml").absolute()


def test_secrets_not_in_repr(tmp_path: Path) -> None:
    """Printing or logging the config does not reveal the tokens or the pickle key."""
    cfg = load_config(write(tmp_path, dump(SECRETS)), env={})
    assert "as-secret" not in repr(cfg)
    assert "pickle-secret" not in repr(cfg)


def test_registration_namespaces() -> None:
    """The registration claims the prefix exclusively on this domain, with escaped dots."""
    cfg = load_config_text(dump(SECRETS), "/srv/lotse/config.yaml", env={})
    reg = registration_dict(cfg)
    assert reg["url"] == "http://127.0.0.1:29350"
    assert reg["as_token"] == "as-secret" and reg["hs_token"] == "hs-secret"
    assert reg["sender_localpart"] == "lotse_as"
    assert reg["namespaces"]["users"] == [{"exclusive": True, "regex": r"@lotse.*:example\.org"}]
    assert reg["namespaces"]["rooms"] == []
    assert reg["receive_ephemeral"] is True and reg["rate_limited"] is False


def test_centre_documents_policy(tmp_path: Path) -> None:
    """Each centre's accepted document types and size: defaults, or what the file says."""
    custom = {**TWO_CENTRES[1], "documents": {"types": ["pdf", "JPG"], "max_mb": 2}}
    cfg = load_config(
        write(tmp_path, dump(merged(SECRETS, {"centres": [TWO_CENTRES[0], custom]}))), env={}
    )
    first, second = cfg.centres
    assert first.documents.types == ("pdf", "png", "jpeg", "gif", "webp")
    assert first.documents.max_mb == 10
    assert second.documents.types == ("pdf", "jpeg") and second.documents.max_bytes == 2 << 20


def test_master_data_fields(tmp_path: Path) -> None:
    """Master-data fields keep their order; a plain label serves both languages."""
    fields = [
        {"key": "age_group", "label": {"de": "Altersgruppe", "en": "Age group"}},
        {"key": "postcode", "label": "PLZ"},
    ]
    centres = [{**TWO_CENTRES[0], "master_data": fields}, TWO_CENTRES[1]]
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, {"centres": centres}))), env={})
    demo, north = cfg.centres
    assert [f.key for f in demo.master_data] == ["age_group", "postcode"]
    assert demo.master_data[0].label("en") == "Age group"
    assert demo.master_data[0].label("de") == "Altersgruppe"
    assert demo.master_data[1].label("en") == demo.master_data[1].label("de") == "PLZ"
    assert north.master_data == ()


def test_centre_time_zone(tmp_path: Path) -> None:
    """Each centre's time zone: Europe/Berlin unless the file names another IANA zone."""
    centres = [TWO_CENTRES[0], {**TWO_CENTRES[1], "timezone": "Europe/Vienna"}]
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, {"centres": centres}))), env={})
    first, second = cfg.centres
    assert first.timezone == "Europe/Berlin" and second.timezone == "Europe/Vienna"
    assert str(second.zone) == "Europe/Vienna"


def test_topics_are_read_with_labels(tmp_path: Path) -> None:
    """Topics keep their order; a missing label falls back to the one given."""
    topics = [{"id": "family", "de": "Familie", "en": "Family"}, {"id": "addiction", "de": "Sucht"}]
    text = dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "topics": topics}]}))
    cfg = load_config(write(tmp_path, text), env={})
    read = cfg.centres[0].topics
    assert [t.id for t in read] == ["family", "addiction"]
    assert read[0].label("en") == "Family" and read[1].label("en") == "Sucht"


PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "default"),
        ("", "default"),
        ("logo.png", "file"),
        ("sub/../logo.png", "file"),
        ("mxc://example.org/AbC_12-x", "mxc://example.org/AbC_12-x"),
    ],
)
def test_avatar_option(tmp_path: Path, given: str | None, expected: str) -> None:
    """A centre's avatar: the shipped compass by default, a picture beside the config as an
    absolute path, an mxc:// URI as given."""
    (tmp_path / "logo.png").write_bytes(PNG)
    (tmp_path / "sub").mkdir()
    centre = dict(TWO_CENTRES[0]) if given is None else {**TWO_CENTRES[0], "avatar": given}
    cfg = load_config(write(tmp_path, dump(merged(SECRETS, {"centres": [centre]}))), env={})
    wanted = {
        "default": str(data_path("templates") / "avatar.png"),
        "file": str((tmp_path / "logo.png").resolve()),
    }.get(expected, expected)
    assert cfg.centres[0].avatar == wanted


def test_avatar_too_large_is_refused(tmp_path: Path) -> None:
    """A picture over 1 MB is refused with the key named (Matrix clients show a tiny icon)."""
    (tmp_path / "big.png").write_bytes(PNG + bytes(1024 * 1024))
    text = dump(merged(SECRETS, {"centres": [{**TWO_CENTRES[0], "avatar": "big.png"}]}))
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert info.value.key == "centres[0].avatar" and "1 MB" in info.value.message


def test_shipped_avatar_is_a_png() -> None:
    """The default picture is a bitmap Element shows (Matrix avatars cannot be SVG)."""
    assert (data_path("templates") / "avatar.png").read_bytes().startswith(PNG[:8])
