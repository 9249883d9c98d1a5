"""What a source said about a body that lets a later fetch of it be conditional, and what a
store remembers of a source it fetched."""

from __future__ import annotations

from dataclasses import dataclass

from product_media.domain.media import ImageFiles


@dataclass(frozen=True)
class Validators:
    """A source's `ETag` and `Last-Modified` for one body, as sent (either may be missing)."""

    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Remembered:
    """A store's source URL as last fetched: its validators and the files its bytes made."""

    validators: Validators
    files: ImageFiles
