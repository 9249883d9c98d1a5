"""A media update request, checked before anything is fetched or changed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048

# What /openapi.json publishes as a valid URL (JSON Schema `pattern`, the same in ECMA and
# Python syntax). Every URL it matches passes `wrong_url`; `wrong_url` also passes a few it
# leaves out (IDNA names, IPv6 literals), which a schema-driven client never needs to send.
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9_.~%-]+"
    r"(?::0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]"
    r"|6553[0-5]))?"
    r"(?:[/?#][^\s\u0000-\u001f\u007f]*)?$"
)

# A host as it may appear in a URL: a DNS name (possibly IDNA-encoded or with a trailing dot),
# an IPv4 spelling, or a bracketed IPv6 literal; anything else is not a URL we can fetch.
_HOST = re.compile(r"^(?:[A-Za-z0-9_\-.~%]+|\[[0-9A-Fa-f:.]+\])$")


WRONG_URL = "WRONG_URL"
WRONG_PARAMETER = "WRONG_PARAMETER"


class InvalidUpdate(Exception):
    """The request cannot be applied; nothing has been changed. `code` is WRONG_URL (a URL
    that cannot be fetched) or WRONG_PARAMETER (a request that makes no sense)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class MediaSource:
    """One requested item: an image, a video, or a video with that image as its cover."""

    image_url: str | None = None
    video_url: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.image_url is None and self.video_url is None


@dataclass(frozen=True)
class MediaUpdate:
    """`main` is None when the main media stays as it is."""

    main: MediaSource | None
    gallery: tuple[MediaSource, ...]


def wrong_url(field: str, url: str) -> str | None:
    """Why `url` cannot be fetched, or None when it is a usable absolute http(s) URL."""
    if len(url) > MAX_URL_LENGTH:
        return f"{field} is longer than {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return f"{field} contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{field} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{field} must be an absolute http or https URL"
    host = parts.netloc.rpartition("@")[2]
    if port is not None:
        host = host.rsplit(":", 1)[0]
    if not host.isascii() and not host.startswith("["):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return f"{field} has no valid host"
    if not host or not _HOST.match(host) or not parts.hostname:
        return f"{field} has no valid host"
    if parts.username is not None or parts.password is not None:
        return f"{field} must not carry credentials"
    if port == 0:
        return f"{field} has an invalid port"
    return None


def _source(field: str, image_url: str | None, video_url: str | None) -> MediaSource:
    urls: dict[str, str | None] = {"imageUrl": image_url or None, "videoUrl": video_url or None}
    for name, url in urls.items():
        if url is not None and (reason := wrong_url(f"{field}.{name}", url)) is not None:
            raise InvalidUpdate(WRONG_URL, reason)
    return MediaSource(urls["imageUrl"], urls["videoUrl"])


def build_update(
    main: tuple[str | None, str | None] | None,
    gallery: Sequence[tuple[str | None, str | None]] | None,
    *,
    max_gallery_items: int,
) -> MediaUpdate:
    """Check a request given as (imageUrl, videoUrl) pairs; raises InvalidUpdate."""
    gallery = gallery or ()
    if len(gallery) > max_gallery_items:
        raise InvalidUpdate(
            WRONG_PARAMETER,
            f"galleryMedia has {len(gallery)} items; at most {max_gallery_items} are allowed",
        )
    main_source = None if main is None else _source("mainMedia", *main)
    items = []
    for index, (image_url, video_url) in enumerate(gallery):
        item = _source(f"galleryMedia[{index}]", image_url, video_url)
        if item.is_empty:
            raise InvalidUpdate(
                WRONG_PARAMETER, f"galleryMedia[{index}] has neither imageUrl nor videoUrl"
            )
        items.append(item)
    if main_source is not None and main_source.is_empty:
        main_source = None
    return MediaUpdate(main=main_source, gallery=tuple(items))
