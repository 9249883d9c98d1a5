"""Use cases of Ecwid's single-video endpoints (DESIGN section 8): add a main or gallery video
from a URL, delete the main video, read a gallery video, give a gallery video a new cover.
Each is a rule of domain.video_edits on the one write path (service.media.write_media)."""

from __future__ import annotations

import logging

from anyio.to_thread import run_sync

from product_media.domain import video_edits as rules
from product_media.domain.media import MediaSet, Video
from product_media.domain.plan import VIDEO_UNAVAILABLE, Failure, Fetched
from product_media.ingest.formats import JPEG, sniff
from product_media.service.errors import ImageUnusable, ProductNotFound, VideoUnusable
from product_media.service.images import INVALID_IMAGE, ImageSource
from product_media.service.media import write_media
from product_media.service.ports import Ingest, Storage
from product_media.service.products import get_product

log = logging.getLogger(__name__)


async def add_video(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    target: rules.Target,
    url: str,
    *,
    token: str,
    time_limit: float,
) -> int:
    """Make the video at `url` the main video, or append it to the gallery; returns its id.
    Raises ProductNotFound, and VideoUnusable (NOT_VIDEO_URL, VIDEO_NOT_SUPPORTED or
    VIDEO_UNAVAILABLE) when the source cannot be used (nothing changes)."""
    if not await run_sync(storage.catalog.product_exists, store_id, product_id):
        raise ProductNotFound(product_id)
    new = rules.NewVideo(
        url,
        video_id=await run_sync(storage.catalog.reserve_media_id),
        cover_id=await run_sync(storage.catalog.reserve_media_id),
    )
    outcome = await write_media(
        storage,
        ingest,
        store_id,
        product_id,
        {new.source},
        lambda current, fetched: rules.add_video(current, fetched, new, target),
        token=token,
        time_limit=time_limit,
    )
    if isinstance(outcome, Failure):
        raise VideoUnusable(outcome.category or VIDEO_UNAVAILABLE, outcome.message)
    if outcome.warning:
        log.info("video %d of product %d: %s", outcome.id, product_id, outcome.warning)
    log.info(
        "video %d added to product %d in store %d (%s)", outcome.id, product_id, store_id, target
    )
    return outcome.id


async def remove_main_video(
    storage: Storage, ingest: Ingest, store_id: int, product_id: int
) -> int:
    """Delete the main video (the main image stays); returns how many videos went."""

    def decide(current: MediaSet, _fetched: Fetched) -> tuple[MediaSet, int]:
        return rules.delete_main_video(current)

    # Nothing is fetched, so neither the ingest share nor the time limit comes into play.
    return await write_media(
        storage, ingest, store_id, product_id, (), decide, token="", time_limit=0
    )


async def gallery_video(
    storage: Storage, store_id: int, product_id: int, video_id: int, *, enabled_only: bool
) -> tuple[Video, int]:
    """A gallery video and its position in the whole gallery (from 1). Raises
    ProductNotFound (also for a disabled product when `enabled_only`: a public token's view)
    and UnknownVideo."""
    product = await get_product(storage, store_id, product_id, enabled_only=enabled_only)
    position, video = rules.gallery_video(product.media, video_id)
    return video, position


async def set_cover(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    video_id: int,
    source: ImageSource,
    *,
    token: str,
    time_limit: float,
) -> int:
    """The JPEG sent, or the image at a URL, becomes the gallery video's cover; returns the
    cover's id. Raises ProductNotFound, UnknownVideo (both before anything is fetched) and
    ImageUnusable (INVALID_IMAGE for bytes sent, DOWNLOAD_IMAGE_FAILED for a URL)."""
    rules.gallery_video((await get_product(storage, store_id, product_id)).media, video_id)
    if source.content is not None and sniff(source.content) != JPEG:
        raise ImageUnusable(INVALID_IMAGE, "The request body is not a JPEG image")
    name, uploads = source.ingest_inputs()
    cover_id = await run_sync(storage.catalog.reserve_media_id)
    outcome = await write_media(
        storage,
        ingest,
        store_id,
        product_id,
        {("image", name)},
        lambda current, fetched: rules.set_cover(
            current, fetched, video_id, ("image", name), cover_id
        ),
        token=token,
        time_limit=time_limit,
        uploads=uploads,
    )
    if isinstance(outcome, Failure):
        raise source.unusable(outcome)
    log.info("cover %d given to video %d of product %d", cover_id, video_id, product_id)
    return outcome.id
