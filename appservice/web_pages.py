"""HTML pages on the web listener (the invitation page): templates, headers, the stylesheet.

Pages are jinja2 templates in ``templates/web/<lang>/`` with autoescape on, so nothing a
person typed can become markup. Every page carries headers that keep its secret link out of
caches and referrers and forbid scripts, frames and foreign assets; the only asset is the
stylesheet served here, so the pages work without JavaScript or anything from elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2
from aiohttp import web

from .i18n import Renderer
from .resources import data_path

STYLESHEET_PATH = "/web/style.css"

SECURITY_HEADERS = {
    # The link carries a one-time secret: no cache may keep the page, no referrer may leak it.
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


# The assistant's master-key fingerprint as the pages show it ("" while unknown: not shown).
IdentityOf = Callable[[], str]


def _unknown() -> str:
    return ""


class WebPages:
    """Renders ``web/<lang>/<name>.html.j2`` (German fallback) into complete responses.

    Every page names the assistant's identity (``identity``, asked at each request: it is
    known only once the device started), so a person can compare it with `help` and Element.
    """

    def __init__(self, identity: IdentityOf = _unknown) -> None:
        self.identity = identity
        root = data_path("templates")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(root)),
            undefined=jinja2.StrictUndefined,
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._css = (root / "web" / "style.css").read_bytes()

    def render(self, lang: str, name: str, /, **variables: Any) -> str:
        lang = Renderer.language(lang)
        template = self.env.get_template(f"web/{lang}/{name}.html.j2")
        variables.setdefault("identity", self.identity())
        return template.render(lang=lang, stylesheet=STYLESHEET_PATH, **variables)

    def response(
        self, lang: str, name: str, /, status: int = 200, **variables: Any
    ) -> web.Response:
        return web.Response(
            text=self.render(lang, name, **variables),
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=SECURITY_HEADERS,
        )

    def add_stylesheet_route(self, app: web.Application) -> None:
        async def stylesheet(_: web.Request) -> web.Response:
            headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Pragma"}
            headers["Cache-Control"] = "public, max-age=3600"
            return web.Response(body=self._css, content_type="text/css", headers=headers)

        app.router.add_get(STYLESHEET_PATH, stylesheet)
