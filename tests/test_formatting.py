"""Markdown of bot texts becomes safe HTML for Matrix clients."""

from __future__ import annotations

import pytest

from bots.framework.formatting import markdown_to_html


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Befehle**", "<p><strong>Befehle</strong></p>"),
        ("`help`", "<p><code>help</code></p>"),
        ("eins\nzwei", "<p>eins<br />\nzwei</p>"),
        ("<script>x</script>", "<p>&lt;script&gt;x&lt;/script&gt;</p>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("~~Wolke~~", "<p><s>Wolke</s></p>"),
    ],
    ids=["bold", "code", "line-break", "html-escaped", "list", "strikethrough"],
)
def test_markdown_to_html(text: str, expected: str) -> None:
    """Bold, code, line breaks and lists render; raw HTML is escaped, never interpreted."""
    assert markdown_to_html(text) == expected


def test_a_text_sent_again_is_not_rendered_again() -> None:
    """The same text (`help` per language and role) is rendered once and then taken from the
    kept ones; another text is rendered on its own; only the newest few are kept."""
    from bots.framework.formatting import RENDERED_KEPT

    markdown_to_html.cache_clear()
    first = markdown_to_html("**Befehle**\n- `help`")
    assert markdown_to_html("**Befehle**\n- `help`") is first
    assert markdown_to_html("**Commands**") == "<p><strong>Commands</strong></p>"
    info = markdown_to_html.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 2, RENDERED_KEPT)
    for i in range(RENDERED_KEPT + 10):
        markdown_to_html(f"text {i}")
    assert markdown_to_html.cache_info().currsize == RENDERED_KEPT
