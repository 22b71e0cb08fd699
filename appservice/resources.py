"""Find the files shipped beside the code (templates, example config), installed or not."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """Return the path of a shipped file or folder such as ``templates`` or ``config.example.yaml``.

    A wheel carries them in ``appservice/_data`` (see pyproject's force-include); a source
    checkout or editable install has them at the repository root.
    """
    packaged = _PACKAGE_DIR / "_data" / name
    if packaged.exists():
        return packaged
    return _PACKAGE_DIR.parent / name
