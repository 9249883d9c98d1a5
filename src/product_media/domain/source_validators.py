"""What a source says about a body that lets a later fetch of it be conditional."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Validators:
    """A source's `ETag` and `Last-Modified` for one body, as sent (either may be missing)."""

    etag: str | None
    last_modified: str | None
