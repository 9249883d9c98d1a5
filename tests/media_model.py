"""Media model values for the pure-rule tests: files named after a letter, never stored."""

from __future__ import annotations

from product_media.domain.media import DERIVED_SIZES, Blob, ImageFiles


def image_files(name: str) -> ImageFiles:
    """An image whose every blob key starts with `name`."""
    return ImageFiles(
        original=Blob(f"{name}.jpg", "image/jpeg"),
        width=10,
        height=10,
        derived={size: Blob(f"{name}-{size}.jpg", "image/jpeg") for size in DERIVED_SIZES},
    )
