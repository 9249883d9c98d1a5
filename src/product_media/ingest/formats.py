"""The media formats the service accepts, recognised by their bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["image", "video"]


@dataclass(frozen=True)
class Format:
    mime: str
    extension: str
    kind: MediaKind


JPEG = Format("image/jpeg", "jpg", "image")
PNG = Format("image/png", "png", "image")
GIF = Format("image/gif", "gif", "image")
WEBP = Format("image/webp", "webp", "image")
MP4 = Format("video/mp4", "mp4", "video")
MOV = Format("video/quicktime", "mov", "video")
WEBM = Format("video/webm", "webm", "video")

ALL_FORMATS = (JPEG, PNG, GIF, WEBP, MP4, MOV, WEBM)
_BY_EXTENSION = {f.extension: f for f in ALL_FORMATS}

# ISO base media brands that mark a QuickTime file rather than an MP4.
_QUICKTIME_BRANDS = {b"qt  "}


def sniff(head: bytes) -> Format | None:
    """The format of a file judged by its first bytes only (never by name or header)."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return MOV if head[8:12] in _QUICKTIME_BRANDS else MP4
    return None


def by_extension(extension: str) -> Format | None:
    return _BY_EXTENSION.get(extension)
