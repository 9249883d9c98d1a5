"""Use cases of Ecwid's single-video endpoints: add a main or gallery video, delete the main
video, read a gallery video, give a gallery video a new cover. Each is a rule of
domain.video_edits on the one write path (service.media.write_media)."""

from __future__ import annotations

import logging

from product_media.domain import video_edits as rules
from product_media.domain.media import Video
from product_media.domain.plan import VIDEO_UNAVAILABLE, Failure
from product_media.ingest.formats import JPEG, sniff
from product_media.service.media import write_media
from product_media.service.ports import Ingest, Storage
from product_media.service.products import get_product

log = logging.getLogger(__name__)

# Codes of DESIGN section 8 for a cover that cannot be used.
INVALID_IMAGE = "INVALID_IMAGE"
DOWNLOAD_IMAGE_FAILED = "DOWNLOAD_IMAGE_FAILED"
# The name a cover sent in the request's body goes by in ingest (never a URL).
_BODY = "request body"


class VideoRefused(Exception):
    """A video or cover cannot be used; `code` is the errorCode the endpoint answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class VideoNotFound(Exception):
    def __init__(self, video_id: int) -> None:
        super().__init__(f"Video #{video_id} is not found in the gallery")


class GalleryFull(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The gallery holds {limit} items already; at most {limit} are allowed")


def _placed(outcome: rules.Placed) -> int:
    assert outcome.id is not None, "a placed item is settled with its id"
    if outcome.warning:
        log.info("%s", outcome.warning)
    return outcome.id


async def add_video(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    url: str,
    *,
    main: bool,
    max_gallery_items: int,
    token: str,
    time_limit: float,
) -> int:
    """POST .../video (`main`) or POST .../gallery/video: the new video's internal id.
    Raises ProductNotFound, GalleryFull and VideoRefused (NOT_VIDEO_URL, VIDEO_NOT_SUPPORTED
    or VIDEO_UNAVAILABLE)."""
    if not main:
        media = (await get_product(storage, store_id, product_id)).media
        # Checked before the download too: a full gallery is no reason to fetch anything.
        if len(media.gallery) >= max_gallery_items:
            raise GalleryFull(max_gallery_items)
    outcome = await write_media(
        storage,
        ingest,
        store_id,
        product_id,
        {("video", url)},
        rules.add_video(url, main=main, max_gallery_items=max_gallery_items),
        token=token,
        time_limit=time_limit,
        settle=rules.settle,
    )
    if isinstance(outcome, Failure):
        raise VideoRefused(outcome.category or VIDEO_UNAVAILABLE, outcome.message)
    if isinstance(outcome, rules.GalleryFull):
        raise GalleryFull(outcome.limit)
    return _placed(outcome)


async def delete_main_video(
    storage: Storage, ingest: Ingest, store_id: int, product_id: int, *, token: str
) -> int:
    """DELETE .../video: 1 when there was a main video, else 0. Raises ProductNotFound."""
    return await write_media(
        storage,
        ingest,
        store_id,
        product_id,
        (),
        rules.delete_main_video,
        token=token,
        time_limit=0,
    )


async def gallery_video(
    storage: Storage, store_id: int, product_id: int, video_id: int
) -> tuple[Video, int]:
    """GET .../gallery/video/{id}: the video and its position in the gallery (from 1).
    Raises ProductNotFound and VideoNotFound."""
    found = rules.gallery_video((await get_product(storage, store_id, product_id)).media, video_id)
    if found is None:
        raise VideoNotFound(video_id)
    index, video = found
    return video, index + 1


async def set_cover(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    video_id: int,
    *,
    body: bytes | None,
    url: str | None,
    token: str,
    time_limit: float,
) -> int:
    """PUT .../gallery/video/{id}: the JPEG `body`, or the image at `url`, becomes the
    video's cover; returns the cover image's id. Raises ProductNotFound, VideoNotFound and
    VideoRefused (INVALID_IMAGE for the body, DOWNLOAD_IMAGE_FAILED for the URL)."""
    media = (await get_product(storage, store_id, product_id)).media
    if rules.gallery_video(media, video_id) is None:
        raise VideoNotFound(video_id)
    if url is None:
        if body is None or sniff(body) != JPEG:
            raise VideoRefused(INVALID_IMAGE, f"{_BODY}: a video's cover must be a JPEG image")
        source, uploads = ("image", _BODY), {_BODY: body}
    else:
        source, uploads = ("image", url), None
    outcome = await write_media(
        storage,
        ingest,
        store_id,
        product_id,
        {source},
        rules.set_cover(video_id, source),
        token=token,
        time_limit=time_limit,
        uploads=uploads,
        settle=rules.settle,
    )
    if isinstance(outcome, Failure):
        raise VideoRefused(DOWNLOAD_IMAGE_FAILED if url else INVALID_IMAGE, outcome.message)
    if isinstance(outcome, rules.VideoMissing):
        raise VideoNotFound(video_id)
    return _placed(outcome)
