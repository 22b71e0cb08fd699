"""The `lotse` command run as a real process: init, check-config, run, --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML


def lotse(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m appservice ARGS` in ``cwd`` without any LOTSE_* environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    return subprocess.run(
        [sys.executable, "-m", "appservice", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def read_yaml(path: Path) -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def test_init_writes_config_and_registration(tmp_path: Path) -> None:
    """`init` writes a valid config with distinct fresh secrets and a matching registration."""
    result = lotse(tmp_path, "init", "--domain", "beratung.example.net")
    assert result.returncode == 0, result.stderr
    assert "app_service_config_files" in result.stdout
    config = read_yaml(tmp_path / "config.yaml")
    registration = read_yaml(tmp_path / "registration.yaml")
    secrets = [
        config["appservice"]["as_token"],
        config["appservice"]["hs_token"],
        config["encryption"]["pickle_key"],
        config["encryption"]["sealing_key"],
    ]
    assert "generate" not in secrets and len(set(secrets)) == 4
    assert all(len(s) >= 32 for s in secrets)
    assert config["homeserver"]["domain"] == "beratung.example.net"
    assert registration["as_token"] == secrets[0] and registration["hs_token"] == secrets[1]
    assert "# The registration's sender user" in (tmp_path / "config.yaml").read_text()

    check = lotse(tmp_path, "check-config", "-c", "config.yaml")
    assert check.returncode == 0, check.stderr
    assert "config OK: 1 centre(s)" in check.stdout


def test_two_inits_give_different_secrets(tmp_path: Path) -> None:
    """Each `init` generates new secrets rather than fixed ones."""
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        assert lotse(tmp_path, "init", "--dir", str(folder)).returncode == 0
    assert (
        read_yaml(first / "config.yaml")["appservice"]["as_token"]
        != read_yaml(second / "config.yaml")["appservice"]["as_token"]
    )


def test_second_init_refuses_without_force(tmp_path: Path) -> None:
    """A second `init` without --force fails and leaves both files unchanged."""
    assert lotse(tmp_path, "init").returncode == 0
    before = {p: (tmp_path / p).read_text() for p in ("config.yaml", "registration.yaml")}
    again = lotse(tmp_path, "init")
    assert again.returncode != 0
    assert "--force" in again.stderr
    assert {p: (tmp_path / p).read_text() for p in before} == before

    forced = lotse(tmp_path, "init", "--force")
    assert forced.returncode == 0
    assert (tmp_path / "config.yaml").read_text() != before["config.yaml"]


def _break_language(tmp_path: Path) -> None:
    assert lotse(tmp_path, "init").returncode == 0
    path = tmp_path / "config.yaml"
    path.write_text(path.read_text().replace("language: de", "language: fr"))


def test_check_config_error_is_one_line(tmp_path: Path) -> None:
    """`check-config` on a broken config exits 2 with one stderr line naming the key."""
    _break_language(tmp_path)
    result = lotse(tmp_path, "check-config", "-c", "config.yaml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("config error: centres[0].language: ")


def test_check_config_missing_file(tmp_path: Path) -> None:
    """`check-config` without a config file exits 2 with a one-line error."""
    result = lotse(tmp_path, "check-config")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("config error: (file): ")


def test_run_with_broken_config_exits_2(tmp_path: Path) -> None:
    """`run` refuses a broken config before starting anything: exit 2, one line, no traceback."""
    _break_language(tmp_path)
    result = lotse(tmp_path, "run", "-c", "config.yaml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "centres[0].language" in lines[0]


def test_registration_regenerated_from_config(tmp_path: Path) -> None:
    """`registration` rewrites the registration from the config's current values."""
    assert lotse(tmp_path, "init").returncode == 0
    path = tmp_path / "config.yaml"
    path.write_text(path.read_text().replace("namespace_prefix: lotse", "namespace_prefix: lot"))
    result = lotse(tmp_path, "registration", "-c", "config.yaml", "-o", "reg2.yaml")
    assert result.returncode == 0, result.stderr
    reg = read_yaml(tmp_path / "reg2.yaml")
    assert reg["namespaces"]["users"][0]["regex"] == r"@lot.*:example\.org"


def test_help_lists_subcommands(tmp_path: Path) -> None:
    """`--help` lists the init, run, check-config and dev subcommands."""
    result = lotse(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("init", "run", "check-config", "dev", "registration"):
        assert command in result.stdout


def test_check_config_bad_avatar_is_one_line(tmp_path: Path) -> None:
    """A centre logo that is not there: exit 2 and one line naming the key and the file."""
    assert lotse(tmp_path, "init").returncode == 0
    path = tmp_path / "config.yaml"
    path.write_text(path.read_text().replace('avatar: ""', "avatar: logos/missing.png", 1))
    result = lotse(tmp_path, "check-config", "-c", "config.yaml")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("config error: centres[0].avatar: ")
    assert "logos/missing.png" in lines[0]


def test_broken_monitoring_form_stops_start_with_one_line(tmp_path: Path) -> None:
    """A form file beside the config with a bad field: `check-config` and `run` exit 2 with
    one line naming the file, the field and the problem; an unknown form name names the key."""
    assert lotse(tmp_path, "init").returncode == 0
    path = tmp_path / "config.yaml"
    path.write_text(path.read_text().replace("monitoring_form: default", "monitoring_form: mine"))
    (tmp_path / "forms").mkdir()
    form = tmp_path / "forms" / "mine.yaml"
    form.write_text(
        "fields:\n"
        "  - {key: date, label: Datum, type: date, required: true}\n"
        "  - {key: duration, label: Dauer, type: minuten}\n"
    )
    for command in ("check-config", "run"):
        result = lotse(tmp_path, command, "-c", "config.yaml")
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert str(form) in lines[0] and "fields[1].type" in lines[0] and "'duration'" in lines[0]
        assert "minuten" in lines[0]
    form.unlink()
    result = lotse(tmp_path, "check-config", "-c", "config.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("config error: centres[0].monitoring_form: no form 'mine'")
    form.write_text((Path(__file__).parent.parent / "templates/forms/default.yaml").read_text())
    assert lotse(tmp_path, "check-config", "-c", "config.yaml").returncode == 0


def test_check_config_bad_live_chat_hours_is_one_line(tmp_path: Path) -> None:
    """The example's live chat section is checked: bad hours exit 2 with one line naming them."""
    assert lotse(tmp_path, "init").returncode == 0
    path = tmp_path / "config.yaml"
    text = path.read_text()
    assert 'mon: "09:00-12:00, 14:00-17:00"' in text
    path.write_text(text.replace('mon: "09:00-12:00, 14:00-17:00"', 'mon: "9 to 5"', 1))
    result = lotse(tmp_path, "check-config", "-c", "config.yaml")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("config error: centres[0].live_chat.hours.mon: ")
