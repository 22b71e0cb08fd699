"""Which form each centre fills in: found once at start, checked like the config.

Forms are looked up in ``forms/`` beside the config file (the operator's own) before the
shipped ``templates/forms``. The composition root calls :func:`check_forms` right after the
config is read, so a missing or broken form stops ``lotse run`` and ``lotse check-config``
with the one config-error line and exit 2, before anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from appservice.config import Config
from appservice.resources import data_path

from .forms import Form, find_forms, form_for_centre

__all__ = ["check_forms", "form_folders", "forms_of"]


def form_folders(cfg: Config) -> list[Path]:
    """The operator's folder (beside the config file) first, then the shipped templates."""
    return [cfg.path.parent, data_path("templates")]


def forms_of(cfg: Config, folders: Sequence[Path] | None = None) -> dict[str, Form]:
    """Centre id → its form, filled with its topics; FormError/ConfigError if one is bad."""
    found = find_forms(folders if folders is not None else form_folders(cfg))
    forms: dict[str, Form] = {}
    for index, centre in enumerate(cfg.centres):
        key = f"centres[{index}].monitoring_form"
        forms[centre.id] = form_for_centre(found, centre.monitoring_form, centre.topics, key)
    return forms


def check_forms(cfg: Config) -> None:
    """Raise the config error of the first centre whose form is missing or broken."""
    forms_of(cfg)
