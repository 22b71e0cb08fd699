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
