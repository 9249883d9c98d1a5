"""What a media update does to a product: the pure rule of DESIGN section 3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from product_media.domain.media import (
    GalleryItem,
    Image,
    ImageFiles,
    MediaSet,
    Video,
    VideoFiles,
)
from product_media.domain.media_update import MediaSource, MediaUpdate

DOWNLOAD_IMAGE_FAILED = "DOWNLOAD_IMAGE_FAILED"
DOWNLOAD_VIDEO_FAILED = "DOWNLOAD_VIDEO_FAILED"
# Why a video source failed, as the endpoints that add one video answer it (DESIGN section 8).
NOT_VIDEO_URL = "NOT_VIDEO_URL"
VIDEO_NOT_SUPPORTED = "VIDEO_NOT_SUPPORTED"
VIDEO_UNAVAILABLE = "VIDEO_UNAVAILABLE"


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    # For a video: NOT_VIDEO_URL, VIDEO_NOT_SUPPORTED or VIDEO_UNAVAILABLE.
    category: str | None = None


@dataclass(frozen=True)
class Ingested:
    files: ImageFiles | VideoFiles
    warning: str | None = None


Outcome = Ingested | Failure
# What ingest made of each requested source, keyed by ("image" | "video", url).
Fetched = Mapping[tuple[str, str], Outcome]


@dataclass(frozen=True)
class ItemResult:
    success: bool
    id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class UpdateResults:
    main: ItemResult | None
    gallery: tuple[ItemResult, ...]


def wanted_sources(update: MediaUpdate) -> frozenset[tuple[str, str]]:
    """Every distinct (kind, url) that ingest has to fetch for this update."""
    sources = [update.main] if update.main is not None else []
    sources.extend(update.gallery)
    keys: set[tuple[str, str]] = set()
    for source in sources:
        if source.image_url is not None:
            keys.add(("image", source.image_url))
        if source.video_url is not None:
            keys.add(("video", source.video_url))
    return frozenset(keys)


def _outcome(fetched: Fetched, kind: str, url: str) -> Outcome:
    code = DOWNLOAD_IMAGE_FAILED if kind == "image" else DOWNLOAD_VIDEO_FAILED
    return fetched.get((kind, url), Failure(code, f"{url}: was not fetched"))


@dataclass(frozen=True)
class _Resolved:
    image: Image | None
    video: Video | None
    warning: str | None


def _resolve(source: MediaSource, fetched: Fetched) -> _Resolved | Failure:
    """The image and/or video a source becomes, or the first failure among its parts."""
    parts: list[Ingested] = []
    for kind, url in (("image", source.image_url), ("video", source.video_url)):
        if url is None:
            continue
        outcome = _outcome(fetched, kind, url)
        if isinstance(outcome, Failure):
            return outcome
        parts.append(outcome)
    image = video = None
    for part in parts:
        if isinstance(part.files, ImageFiles):
            image = Image(files=part.files)
        else:
            video = Video(source=part.files)
    warning = "; ".join(p.warning for p in parts if p.warning) or None
    return _Resolved(image, video, warning)


def _success(item_id: str, resolved: _Resolved) -> ItemResult:
    return ItemResult(success=True, id=item_id, warning=resolved.warning)


def _failed(failure: Failure) -> ItemResult:
    return ItemResult(success=False, error_code=failure.code, error_message=failure.message)


def plan(
    current: MediaSet, update: MediaUpdate, fetched: Fetched
) -> tuple[MediaSet, UpdateResults]:
    """The media set after `update`, and one result per requested item."""
    main_image, main_video = current.main_image, current.main_video
    main_result = None
    if update.main is not None:
        resolved = _resolve(update.main, fetched)
        if isinstance(resolved, Failure):
            main_result = _failed(resolved)
        else:
            main_image, main_video = resolved.image, resolved.video
            main_result = _success("0", resolved)

    gallery: list[GalleryItem] = []
    results: list[ItemResult] = []
    counts = {"image": 0, "video": 0}
    for source in update.gallery:
        resolved = _resolve(source, fetched)
        if isinstance(resolved, Failure):
            results.append(_failed(resolved))
            continue
        item: GalleryItem
        if resolved.video is not None:
            # In the gallery an item with both URLs is one video, with that image as its cover.
            cover = (
                resolved.image.files if resolved.image is not None else resolved.video.source.cover
            )
            item = replace(resolved.video, source=replace(resolved.video.source, cover=cover))
        else:
            assert resolved.image is not None, "a validated source has an image or a video"
            item = resolved.image
        kind = "video" if isinstance(item, Video) else "image"
        counts[kind] += 1
        gallery.append(item)
        results.append(_success(str(counts[kind]), resolved))
    new = MediaSet(main_image=main_image, main_video=main_video, gallery=tuple(gallery))
    return new, UpdateResults(main=main_result, gallery=tuple(results))
