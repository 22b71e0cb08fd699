"""Which files a centre accepts as client documents: pure rules, no I/O.

The declared mimetype and file name come from the sender and may lie, so the type is read
from the file's first bytes (its "magic number") after decryption; the size is checked
before downloading (declared) and again on the real bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_MB",
    "DEFAULT_TYPES",
    "KNOWN_TYPES",
    "DocumentPolicy",
    "PolicyError",
    "check_document",
    "parse_policy",
    "sniff",
]

# type name (as written in the config) -> the mimetype Lotse declares when sending it back
KNOWN_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}
DEFAULT_TYPES: tuple[str, ...] = ("pdf", "png", "jpeg", "gif", "webp")
DEFAULT_MAX_MB = 10
# Synapse's own default upload limit is 50 MB; more makes no sense for a document.
MAX_MB_LIMIT = 100
ALIASES = {"jpg": "jpeg"}


def sniff(data: bytes) -> str | None:
    """The type name the bytes really are, or None when Lotse does not know it."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class DocumentPolicy:
    """What a centre accepts: ``types`` (names from KNOWN_TYPES) up to ``max_mb`` megabytes."""

    types: tuple[str, ...] = DEFAULT_TYPES
    max_mb: int = DEFAULT_MAX_MB

    @property
    def max_bytes(self) -> int:
        return self.max_mb * 1024 * 1024


class PolicyError(ValueError):
    """A config value that is not a policy; ``key`` is relative (``types``, ``max_mb``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def parse_policy(raw: object) -> DocumentPolicy:
    """Read ``centres[].documents`` from the config (None: the defaults)."""
    if raw is None:
        return DocumentPolicy()
    if not isinstance(raw, dict):
        raise PolicyError("", "expected a mapping with types and max_mb")
    for key in raw:
        if key not in ("types", "max_mb"):
            raise PolicyError(str(key), "unknown option; one of types, max_mb")
    types = DEFAULT_TYPES
    if "types" in raw:
        value = raw["types"]
        if not isinstance(value, list) or not value:
            raise PolicyError("types", "expected a non-empty list, e.g. [pdf, png, jpeg]")
        names: list[str] = []
        for item in value:
            name = ALIASES.get(str(item).strip().lower(), str(item).strip().lower())
            if name not in KNOWN_TYPES:
                known = ", ".join(KNOWN_TYPES)
                raise PolicyError("types", f"unknown type '{item}'; known: {known}")
            if name not in names:
                names.append(name)
        types = tuple(names)
    max_mb = DEFAULT_MAX_MB
    if "max_mb" in raw:
        value = raw["max_mb"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MB_LIMIT:
            raise PolicyError("max_mb", f"expected a whole number from 1 to {MAX_MB_LIMIT}")
        max_mb = value
    return DocumentPolicy(types, max_mb)


def check_document(policy: DocumentPolicy, data: bytes) -> tuple[str, str | None]:
    """("ok", type) or a refusal: ("too_large", None) or ("wrong_type", sniffed type)."""
    if len(data) > policy.max_bytes:
        return "too_large", None
    found = sniff(data)
    if found is None or found not in policy.types:
        return "wrong_type", found
    return "ok", found
