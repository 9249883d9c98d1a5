"""Use cases of the per-image endpoints (DESIGN section 8): add a main or gallery image from
bytes or a URL, delete the main image, one gallery item or every gallery image. Each is a
rule of domain.image_edits on the one write path (service.media.write_media)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from anyio.to_thread import run_sync

from product_media.domain.image_edits import (
    NewImage,
    Target,
    add_image,
    delete_gallery_images,
    delete_gallery_item,
    delete_main_image,
)
from product_media.domain.media import MediaSet
from product_media.domain.plan import DOWNLOAD_IMAGE_FAILED, Failure, Fetched
from product_media.service.errors import ImageUnusable, ProductNotFound
from product_media.service.media import write_media
from product_media.service.ports import Ingest, Storage

log = logging.getLogger(__name__)

T = TypeVar("T")

INVALID_IMAGE = "INVALID_IMAGE"
# What the bytes of a request are called where a URL would be: in the ingest of the write,
# and in the reason a refusal gives.
REQUEST_BODY = "request body"


@dataclass(frozen=True)
class ImageSource:
    """An image sent in the request (`content`) or to fetch from `url`."""

    url: str | None = None
    content: bytes | None = None

    def ingest_inputs(self) -> tuple[str, dict[str, bytes] | None]:
        """The name ingest knows the image by, and the uploads that hold its bytes if sent."""
        if self.content is not None:
            return REQUEST_BODY, {REQUEST_BODY: self.content}
        assert self.url is not None, "an image source is a URL or bytes"
        return self.url, None

    def unusable(self, failure: Failure) -> ImageUnusable:
        """The refusal of an image that ingest could not use: INVALID_IMAGE for bytes sent,
        DOWNLOAD_IMAGE_FAILED for a URL."""
        if self.content is not None:
            reason = failure.message.removeprefix(f"{REQUEST_BODY}: ")
            return ImageUnusable(INVALID_IMAGE, f"The request body is not a usable image: {reason}")
        return ImageUnusable(DOWNLOAD_IMAGE_FAILED, failure.message)


async def add_image_from(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    target: Target,
    source: ImageSource,
    *,
    token: str,
    time_limit: float,
) -> int:
    """Make the image the main image, or append it to the gallery; returns its id. Raises
    ProductNotFound, and ImageUnusable when the source cannot be used (nothing changes)."""
    if not await run_sync(storage.catalog.product_exists, store_id, product_id):
        raise ProductNotFound(product_id)
    image_id = await run_sync(storage.catalog.reserve_media_id)
    name, uploads = source.ingest_inputs()
    new = NewImage(("image", name), image_id)
    outcome = await write_media(
        storage,
        ingest,
        store_id,
        product_id,
        {new.source},
        lambda current, fetched: add_image(current, fetched, new, target),
        token=token,
        time_limit=time_limit,
        uploads=uploads,
    )
    if isinstance(outcome, Failure):
        raise source.unusable(outcome)
    log.info(
        "image %d added to product %d in store %d (%s)", image_id, product_id, store_id, target
    )
    return outcome


async def _edit(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    rule: Callable[[MediaSet], tuple[MediaSet, T]],
) -> T:
    def decide(current: MediaSet, _fetched: Fetched) -> tuple[MediaSet, T]:
        return rule(current)

    # Nothing is fetched, so neither the ingest share nor the time limit comes into play.
    return await write_media(
        storage, ingest, store_id, product_id, (), decide, token="", time_limit=0
    )


async def remove_main_image(
    storage: Storage, ingest: Ingest, store_id: int, product_id: int
) -> int:
    """Delete the main image (the main video stays); returns how many images went."""
    return await _edit(storage, ingest, store_id, product_id, delete_main_image)


async def remove_gallery_item(
    storage: Storage, ingest: Ingest, store_id: int, product_id: int, item_id: int
) -> int:
    """Delete the gallery image or video of that internal id; returns how many items went."""
    return await _edit(
        storage, ingest, store_id, product_id, lambda current: delete_gallery_item(current, item_id)
    )


async def remove_gallery_images(
    storage: Storage, ingest: Ingest, store_id: int, product_id: int
) -> int:
    """Delete every gallery image (gallery videos and the main image stay)."""
    return await _edit(storage, ingest, store_id, product_id, delete_gallery_images)
