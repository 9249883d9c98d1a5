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
# Recognised to be refused by name: WebM is the Matroska profile browsers play.
MATROSKA = Format("video/x-matroska", "mkv", "video")

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
        # One that does not say is broken, and the WebM demuxer says so.
        return MATROSKA if _ebml_doc_type(head) not in (b"webm", None) else WEBM
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return MOV if head[8:12] in _QUICKTIME_BRANDS else MP4
    return None


def _ebml_doc_type(head: bytes) -> bytes | None:
    """The DocType of an EBML header (element 0x4282, its size a one-byte number as every
    muxer writes it): b"webm" or b"matroska"."""
    at = head.find(b"\x42\x82", 4, 64)
    if at < 0 or at + 3 > len(head) or not head[at + 2] & 0x80:
        return None
    return head[at + 3 : at + 3 + (head[at + 2] & 0x7F)]


def by_extension(extension: str) -> Format | None:
    return _BY_EXTENSION.get(extension)
