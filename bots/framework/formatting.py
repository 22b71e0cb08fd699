"""Bot texts are written in Markdown; Matrix clients get both plain and HTML bodies."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt

# Raw HTML in a template or in a person's input is shown as text, never interpreted;
# single line breaks stay line breaks, as people expect in chat.
# Strikethrough (``~~name~~``) marks deleted clients in lists, as the reference does.
_MD = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("strikethrough")

# Rendered texts kept for a text sent again (`help` per language and role, the same notices):
# rendering the `help` text took half of an encrypted command's CPU time
# (benchmarks/decrypt_commands.py). Only texts the assistant sends anyway, in memory only,
# the oldest dropped first; never written anywhere.
RENDERED_KEPT = 64


@lru_cache(maxsize=RENDERED_KEPT)
def markdown_to_html(text: str) -> str:
    return _MD.render(text).strip()
