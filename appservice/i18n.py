"""Render every text a person reads from jinja2 templates, per language.

Templates live in ``bot/<lang>/<name>.j2`` inside each template folder; the operator's
override folder comes first, so a centre can reword any text without touching the code.
German is the default and the fallback: a template missing in English is shown in German.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from appservice.resources import data_path

__all__ = ["DEFAULT_LANG", "LANGUAGES", "Renderer"]

DEFAULT_LANG = "de"
LANGUAGES: tuple[str, ...] = ("de", "en")


class Renderer:
    """A jinja2 environment over the template folders, strict about missing variables."""

    def __init__(self, folders: Sequence[str | Path]) -> None:
        self.folders = [Path(f) for f in folders]
        # Bot text is plain text/markdown for Matrix notices, so no HTML escaping;
        # StrictUndefined turns a forgotten variable into an error instead of a blank.
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in self.folders]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    @classmethod
    def default(cls, override: str | Path | None = None) -> Renderer:
        """The operator's folder (if configured) before the shipped templates."""
        folders: list[str | Path] = [override] if override else []
        folders.append(data_path("templates"))
        return cls(folders)

    @staticmethod
    def language(lang: str | None) -> str:
        """Map any requested language to a supported one (``de-AT`` → ``de``)."""
        short = (lang or DEFAULT_LANG).lower().replace("_", "-").split("-")[0]
        return short if short in LANGUAGES else DEFAULT_LANG

    def render(self, lang: str, name: str, /, **variables: Any) -> str:
        """Render ``bot/<lang>/<name>.j2``, falling back to German; trailing space stripped."""
        lang = self.language(lang)
        try:
            template = self.env.get_template(f"bot/{lang}/{name}.j2")
        except jinja2.TemplateNotFound:
            if lang == DEFAULT_LANG:
                raise
            template = self.env.get_template(f"bot/{DEFAULT_LANG}/{name}.j2")
        return template.render(lang=lang, **variables).rstrip()

    def template_names(self) -> list[str]:
        """Every ``bot/<lang>/<name>.j2`` in any folder, override or shipped."""
        names: set[str] = set()
        for folder in self.folders:
            for path in folder.glob("bot/*/*.j2"):
                names.add(path.relative_to(folder).as_posix())
        return sorted(names)

    def check_templates(self) -> list[str]:
        """Load every bot template; return problems so start-up can refuse broken ones."""
        problems: list[str] = []
        names = self.template_names()
        for name in names:
            try:
                self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(f"{exc.filename or name}:{exc.lineno}: {exc.message}")
            lang, base = name.split("/")[1:3]
            if lang not in LANGUAGES:
                problems.append(f"{name}: unsupported language {lang!r} ({', '.join(LANGUAGES)})")
            elif f"bot/{DEFAULT_LANG}/{base}" not in names:
                problems.append(f"{name}: no {DEFAULT_LANG} version to fall back to")
        return problems
