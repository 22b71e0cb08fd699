"""Build the Synapse appservice registration file from the config."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from appservice.config import Config


def registration_dict(cfg: Config) -> dict[str, Any]:
    """The registration Synapse loads through ``app_service_config_files``."""
    prefix = re.escape(cfg.appservice.namespace_prefix)
    domain = re.escape(cfg.homeserver.domain)
    return {
        "id": cfg.appservice.id,
        "url": cfg.appservice.address,
        "as_token": cfg.appservice.as_token,
        "hs_token": cfg.appservice.hs_token,
        "sender_localpart": cfg.appservice.sender_localpart,
        "namespaces": {
            "users": [{"exclusive": True, "regex": f"@{prefix}.*:{domain}"}],
            "aliases": [{"exclusive": True, "regex": f"#{prefix}.*:{domain}"}],
            "rooms": [],
        },
        "rate_limited": False,
        "receive_ephemeral": True,
        "de.sorunome.msc2409.push_ephemeral": True,
    }


def registration_yaml(cfg: Config) -> str:
    """The registration as YAML text."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    out = StringIO()
    yaml.dump(registration_dict(cfg), out)
    return out.getvalue()


def write_registration(cfg: Config, path: Path | str) -> None:
    """Write the registration file; Synapse must be able to read it."""
    Path(path).write_text(registration_yaml(cfg), encoding="utf-8")
