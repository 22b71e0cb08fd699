"""The booking core stays a functional core: importing it loads no Matrix, web or database code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bots.booking

FORBIDDEN = ("mautrix", "aiohttp", "asyncpg", "aiosqlite", "appservice", "bridge", "mailgateway")


def test_booking_core_imports_no_io() -> None:
    """A fresh interpreter importing every booking module has none of the I/O packages loaded."""
    folder = Path(bots.booking.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    assert "slots" in modules and "feed" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('bots.booking.' + m)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=folder.parent.parent,
    )
    assert result.stdout.strip() == "[]"
