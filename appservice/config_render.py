"""Writing config text: the example config with fresh secrets (``lotse init``, ``lotse dev``).

Beside the config, not in the CLI: the dev stack renders configs too, and the runtime must not
import the dev stack nor the dev stack the CLI (that was an import cycle).
"""

from __future__ import annotations

import json
import re
import secrets

from appservice.config import example_path

# Keys whose "generate" placeholder `lotse init` replaces with a fresh secret.
SECRET_KEYS = (
    ("appservice", "as_token"),
    ("appservice", "hs_token"),
    ("encryption", "pickle_key"),
    ("encryption", "sealing_key"),
)


def set_scalar(text: str, section: str, key: str, value: str | int | bool) -> str:
    """Replace ``key``'s value inside top-level ``section`` of YAML text, keeping comments."""
    lines = text.splitlines(keepends=True)
    in_section = False
    for index, line in enumerate(lines):
        if re.match(r"[A-Za-z_]", line):
            in_section = line.startswith(f"{section}:")
            continue
        match = re.match(rf"(\s+{re.escape(key)}:)[ \t]*[^#\n]*?([ \t]+#.*)?(\r?\n)?$", line)
        if in_section and match:
            ending = match.group(3) or ""
            lines[index] = f"{match.group(1)} {json.dumps(value)}{match.group(2) or ''}{ending}"
            return "".join(lines)
    raise ValueError(f"{section}.{key} not found in the example config")


def render_initial_config(domain: str | None = None, homeserver: str | None = None) -> str:
    """The example config with fresh secrets (and optionally domain and homeserver URL)."""
    text = example_path().read_text(encoding="utf-8")
    for section, key in SECRET_KEYS:
        text = set_scalar(text, section, key, secrets.token_urlsafe(32))
    if domain is not None:
        text = set_scalar(text, "homeserver", "domain", domain)
    if homeserver is not None:
        text = set_scalar(text, "homeserver", "address", homeserver)
    return text
