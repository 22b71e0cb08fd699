"""Splitting typed messages into command, arguments and options."""

from __future__ import annotations

import pytest

from bots.framework.parsing import ParseError, parse


@pytest.mark.parametrize(
    ("text", "name", "args", "kwargs"),
    [
        ("!help", "help", (), {}),
        ("help", "help", (), {}),
        ("  hilfe  ", "hilfe", (), {}),
        ("! HELP", "help", (), {}),
        ("HILFE Client", "hilfe", ("Client",), {}),
        ('note 12 "long text here"', "note", ("12", "long text here"), {}),
        ("note 12 „Zitat mit Leerzeichen“", "note", ("12", "Zitat mit Leerzeichen"), {}),
        ("note 1 it's fine", "note", ("1", "it's", "fine"), {}),
        ("note 1 C:\\temp", "note", ("1", "C:\\temp"), {}),
        ('client set 3 email="a b"', "client", ("set", "3"), {"email": "a b"}),
        (
            "client new Anna Email=a@b.de phone=",
            "client",
            ("new", "Anna"),
            {"email": "a@b.de", "phone": ""},
        ),
        ("settings fallback-counsellor=@x:y", "settings", (), {"fallback-counsellor": "@x:y"}),
        ("note 1 =x 1=y", "note", ("1", "=x", "1=y"), {}),
    ],
)
def test_parse(text: str, name: str, args: tuple[str, ...], kwargs: dict[str, str]) -> None:
    """Prefix, case, quotes (also typographic ones) and key=value split as people expect."""
    parsed = parse(text)
    assert parsed is not None
    assert (parsed.name, parsed.args, dict(parsed.kwargs)) == (name, args, kwargs)
    assert parsed.raw == text.strip()


@pytest.mark.parametrize("text", ["", "   ", "!", " ! ", '""'])
def test_parse_empty(text: str) -> None:
    """Nothing to run gives None rather than an error reply."""
    assert parse(text) is None


@pytest.mark.parametrize("text", ['note 12 "open end', 'client set 3 email="a b', "note „nie zu"])
def test_parse_unbalanced_quote(text: str) -> None:
    """An open quote is reported with its own message key instead of guessing."""
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.message_key == "unbalanced_quote"


def test_parse_keeps_word_order() -> None:
    """``words`` keeps options in place so free text may contain ``x=y``."""
    parsed = parse("note 3 a=b and more")
    assert parsed is not None
    assert parsed.words == ("3", "a=b", "and", "more")
