"""URLs as they may be shown in logs and on pages: without the credentials and the query string
that may carry someone's secrets."""

from __future__ import annotations

from urllib.parse import urlsplit


def without_secrets(url: str) -> str:
    """`url` without user info, query string and fragment; raises ValueError as urlsplit does."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()
