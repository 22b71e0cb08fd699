"""Mail templates: start-up check, operator overrides, languages, escaping, headers."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from mailgateway.render import (
    KINDS,
    SAMPLE_VARIABLES,
    MailTemplates,
    TemplateProblem,
    build_message,
    check_mail_templates,
)


def test_shipped_templates_pass_the_start_check() -> None:
    """Every shipped kind renders in German and English from its sample variables."""
    check_mail_templates(MailTemplates())
    assert set(KINDS) == {
        "invitation",
        "new_message",
        "address_confirmation",
        "new_request",
        "request_overdue",
        "transfer_request",
        "inactive_account",
        "centre_message",
        "auto_answer",
        "password_reset",
        "appointment_requested",
        "appointment_decided",
        "appointment_cancelled",
        "appointment_reminder",
        "appointment_invited",
    }


def test_unknown_variable_is_caught_at_start(tmp_path: Path) -> None:
    """An override template using a variable its kind does not have fails the start check."""
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "new_message.txt.j2").write_text("{{ message_body }}\n")
    with pytest.raises(TemplateProblem, match="message_body"):
        check_mail_templates(MailTemplates(override_dir=tmp_path))


def test_unknown_variable_in_untaken_branch_is_caught(tmp_path: Path) -> None:
    """A variable hidden in an if-branch the samples never take is still found at start."""
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "invitation.subject.j2").write_text("{% if false %}{{ secret }}{% endif %}")
    with pytest.raises(TemplateProblem, match="secret"):
        check_mail_templates(MailTemplates(override_dir=tmp_path))


def test_missing_template_or_kind_is_caught(tmp_path: Path) -> None:
    """A kind without templates or without sample variables fails the start check."""
    with pytest.raises(TemplateProblem):
        check_mail_templates(MailTemplates(), {"booking": {"centre_name": "X"}})
    with pytest.raises(TemplateProblem, match="no sample variables"):
        check_mail_templates(MailTemplates(), kinds=["booking"])


def test_operator_override_wins_per_file(tmp_path: Path) -> None:
    """A file in the override folder replaces just that part; the others stay shipped."""
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "new_message.subject.j2").write_text("Post von {{ centre_name }}\n")
    rendered = MailTemplates(override_dir=tmp_path).render(
        "new_message", "de", SAMPLE_VARIABLES["new_message"]
    )
    assert rendered.subject == "Post von Beratungsstelle Nord"
    assert "Matrix-App" in rendered.text


def test_unknown_language_falls_back_to_german() -> None:
    """A language without templates gets the German default; English is its own."""
    t = MailTemplates()
    sample = SAMPLE_VARIABLES["address_confirmation"]
    assert "bestätigen" in t.render("address_confirmation", "fr", sample).subject
    assert "confirm" in t.render("address_confirmation", "en", sample).subject


def test_html_is_escaped_text_is_not_and_subject_is_one_line(tmp_path: Path) -> None:
    """HTML escapes variables, text keeps them, and a subject never spans header lines."""
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "invitation.subject.j2").write_text("Hi\n{{ display_name }}\n")
    sample = {**SAMPLE_VARIABLES["invitation"], "display_name": "<i>Ben</i>"}
    rendered = MailTemplates(override_dir=tmp_path).render("invitation", "en", sample)
    assert rendered.subject == "Hi <i>Ben</i>"
    assert "<i>Ben</i>" in rendered.text
    assert "&lt;i&gt;Ben&lt;/i&gt;" in rendered.html


def test_new_message_says_only_that_there_is_a_message() -> None:
    """The new-message mail names the room label and the app, and nothing passed beyond that."""
    sample = SAMPLE_VARIABLES["new_message"]
    for lang in ("de", "en"):
        rendered = MailTemplates().render("new_message", lang, {**sample, "body": "SECRET"})
        assert "SECRET" not in rendered.subject + rendered.text + rendered.html
        assert sample["app_url"] in rendered.text and sample["room_label"] in rendered.html


def test_build_message_headers() -> None:
    """The message is multipart/alternative with the automation headers and an umlaut sender."""
    rendered = MailTemplates().render("invitation", "de", SAMPLE_VARIABLES["invitation"])
    msg = build_message(
        rendered,
        from_address="noreply@lotse.test",
        sender_name="Beratungsstelle Süd",
        recipient="anna@beratung.de",
        message_id="<1@lotse.test>",
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["List-Unsubscribe"] is None
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == "Beratungsstelle Süd"
    assert parsed["Message-ID"] == "<1@lotse.test>"
    assert "Beratungsstelle Nord" in parsed["Subject"]
    text = parsed.get_body(("plain",))
    assert text is not None and "Einladung" not in str(parsed["To"])
    assert "lädt Sie zur Online-Beratung ein" in text.get_content()


def test_list_unsubscribe_only_for_a_safe_url() -> None:
    """List-Unsubscribe is set for a plain https URL and dropped for one with a line break."""
    rendered = MailTemplates().render("invitation", "en", SAMPLE_VARIABLES["invitation"])
    common = {
        "from_address": "noreply@lotse.test",
        "sender_name": "Centre",
        "recipient": "anna@beratung.de",
        "message_id": "<1@lotse.test>",
    }
    good = build_message(rendered, unsubscribe_url="https://lotse.test/u/1", **common)
    assert good["List-Unsubscribe"] == "<https://lotse.test/u/1>"
    bad = build_message(rendered, unsubscribe_url="https://x\r\nBcc: e@evil.example", **common)
    assert bad["List-Unsubscribe"] is None
