"""Media model values for the pure-rule tests: files named after a letter, never stored."""

from __future__ import annotations

from product_media.domain.blob_keys import blob_key
from product_media.domain.media import DERIVED_SIZES, Blob, ImageFiles


def image_files(name: str) -> ImageFiles:
    """An image whose every blob key starts with `name`."""
    return ImageFiles(
        original=Blob(f"{name}.jpg", "image/jpeg"),
        width=10,
        height=10,
        derived={size: Blob(f"{name}-{size}.jpg", "image/jpeg") for size in DERIVED_SIZES},
    )


def stored_image_files(seed: str) -> tuple[ImageFiles, dict[str, bytes]]:
    """An image whose blobs hold bytes made from `seed`, keyed by their hash as the store keeps
    them; returns the files and the contents to put."""
    contents = {role: f"{seed}-{role}".encode() for role in ("original", *map(str, DERIVED_SIZES))}
    keys = {role: blob_key(content, "jpg") for role, content in contents.items()}
    image = ImageFiles(
        original=Blob(keys["original"], "image/jpeg"),
        width=10,
        height=10,
        derived={size: Blob(keys[str(size)], "image/jpeg") for size in DERIVED_SIZES},
    )
    return image, {keys[role]: content for role, content in contents.items()}
