"""YouTube and Vimeo links, recognised by their shape alone (no network call): which video a
link names, its canonical page (what oEmbed is asked about) and its player."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

Provider = Literal["YouTube", "Vimeo"]

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_VIMEO_ID = re.compile(r"[0-9]{1,20}")
# An unlisted Vimeo video's privacy hash: its page is vimeo.com/ID/HASH, its player ?h=HASH.
_VIMEO_HASH = re.compile(r"[0-9a-f]{10}")
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
_YOUTUBE_PATHS = re.compile(r"/(?:shorts|embed)/([^/]+)/?")
_NOCOOKIE_HOSTS = frozenset({"youtube-nocookie.com", "www.youtube-nocookie.com"})
_VIMEO_HOSTS = frozenset({"vimeo.com", "www.vimeo.com"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class ProviderLink:
    provider: Provider
    video_id: str
    # Vimeo's privacy hash of an unlisted video, without which its page and player refuse.
    unlisted_hash: str | None = None

    @property
    def page_url(self) -> str:
        """The canonical page of the video, as oEmbed is asked about it."""
        if self.provider == "YouTube":
            return f"https://www.youtube.com/watch?v={self.video_id}"
        if self.unlisted_hash is not None:
            return f"https://vimeo.com/{self.video_id}/{self.unlisted_hash}"
        return f"https://vimeo.com/{self.video_id}"

    @property
    def player_url(self) -> str:
        """The embedded player; YouTube's on its privacy-enhanced domain."""
        if self.provider == "YouTube":
            return f"https://www.youtube-nocookie.com/embed/{self.video_id}"
        if self.unlisted_hash is not None:
            return f"https://player.vimeo.com/video/{self.video_id}?h={self.unlisted_hash}"
        return f"https://player.vimeo.com/video/{self.video_id}"


def _youtube(host: str, path: str, query: str) -> str | None:
    """The video id a YouTube link names, if it is one."""
    if host == "youtu.be":
        candidate = path.strip("/")
    elif host in _YOUTUBE_HOSTS and path.rstrip("/") == "/watch":
        candidate = parse_qs(query).get("v", [""])[0]
    elif host in _YOUTUBE_HOSTS | _NOCOOKIE_HOSTS and (match := _YOUTUBE_PATHS.fullmatch(path)):
        if host in _NOCOOKIE_HOSTS and not path.startswith("/embed/"):
            return None
        candidate = match.group(1)
    else:
        return None
    return candidate if _YOUTUBE_ID.fullmatch(candidate) else None


def _vimeo(host: str, path: str, query: str) -> ProviderLink | None:
    """The video a Vimeo link names (an unlisted one with its hash), if it is one."""
    if host in _VIMEO_HOSTS:
        video_id, _, unlisted = path.strip("/").partition("/")
    elif host == "player.vimeo.com" and path.startswith("/video/"):
        video_id = path.removeprefix("/video/").rstrip("/")
        unlisted = parse_qs(query).get("h", [""])[0]
    else:
        return None
    if not _VIMEO_ID.fullmatch(video_id):
        return None
    if not unlisted:
        return ProviderLink("Vimeo", video_id)
    if not _VIMEO_HASH.fullmatch(unlisted):
        return None
    return ProviderLink("Vimeo", video_id, unlisted)


def recognise(url: str) -> ProviderLink | None:
    """The YouTube or Vimeo video `url` links to, or None when it is no such link."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or port not in (None, _DEFAULT_PORTS[scheme]):
        return None
    if parts.username is not None or parts.password is not None:
        return None
    host = (parts.hostname or "").removesuffix(".")
    if (video_id := _youtube(host, parts.path, parts.query)) is not None:
        return ProviderLink("YouTube", video_id)
    return _vimeo(host, parts.path, parts.query)
