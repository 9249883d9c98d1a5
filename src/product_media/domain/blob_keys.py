"""Blob keys: the SHA-256 of a blob's bytes plus its extension, so a key names one content."""

from __future__ import annotations

import hashlib
import re

_KEY = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]{2,5}$")


def blob_key(content: bytes, extension: str) -> str:
    return digest_key(hashlib.sha256(content).hexdigest(), extension)


def digest_key(sha256: str, extension: str) -> str:
    """The key of a blob whose SHA-256 (hex) is known already, e.g. hashed while streamed."""
    return f"{sha256}.{extension}"


def is_blob_key(key: str) -> bool:
    return bool(_KEY.match(key))
