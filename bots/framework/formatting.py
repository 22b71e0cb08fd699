"""Bot texts are written in Markdown; Matrix clients get both plain and HTML bodies."""

from __future__ import annotations

from markdown_it import MarkdownIt

# Raw HTML in a template or in a person's input is shown as text, never interpreted;
# single line breaks stay line breaks, as people expect in chat.
# Strikethrough (``~~name~~``) marks deleted clients in lists, as the reference does.
_MD = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("strikethrough")


def markdown_to_html(text: str) -> str:
    return _MD.render(text).strip()
