"""The rules of Ecwid's single-video endpoints (DESIGN section 8), each a pure
`decide(current, fetched) -> (new media set, outcome)` for the one write path. They touch only
what they name: the main image and the rest of the gallery stay as they are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from product_media.domain.media import ImageFiles, MediaSet, Video, VideoFiles
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    VIDEO_UNAVAILABLE,
    Failure,
    Fetched,
)


@dataclass(frozen=True)
class Placed:
    """Where an edit put the video (or, with `cover`, the video's new cover) it made; `id` is
    its internal id once saved (see `settle`), `warning` what it lacks."""

    slot: Literal["main", "gallery"]
    position: int = 0
    cover: bool = False
    id: int | None = None
    warning: str | None = None


@dataclass(frozen=True)
class VideoMissing:
    """No gallery video has the id the edit names."""

    video_id: int


@dataclass(frozen=True)
class GalleryFull:
    """The gallery holds `limit` items already."""

    limit: int


VideoOutcome = Placed | Failure | GalleryFull
CoverOutcome = Placed | Failure | VideoMissing
T = TypeVar("T")


def add_video(
    url: str, *, main: bool, max_gallery_items: int
) -> Callable[[MediaSet, Fetched], tuple[MediaSet, VideoOutcome]]:
    """POST .../video (main: replaces the main video) or POST .../gallery/video (appended)."""

    def decide(current: MediaSet, fetched: Fetched) -> tuple[MediaSet, VideoOutcome]:
        if not main and len(current.gallery) >= max_gallery_items:
            return current, GalleryFull(max_gallery_items)
        outcome = fetched.get(
            ("video", url),
            Failure(DOWNLOAD_VIDEO_FAILED, f"{url}: was not fetched", VIDEO_UNAVAILABLE),
        )
        if isinstance(outcome, Failure):
            return current, outcome
        assert isinstance(outcome.files, VideoFiles), "a video source gives a video"
        video = Video(outcome.files)
        if main:
            return replace(current, main_video=video), Placed("main", warning=outcome.warning)
        placed = Placed("gallery", len(current.gallery), warning=outcome.warning)
        return replace(current, gallery=(*current.gallery, video)), placed

    return decide


def delete_main_video(current: MediaSet, fetched: Fetched) -> tuple[MediaSet, int]:
    """DELETE .../video: how many videos went (1 or 0); the main image stays."""
    if current.main_video is None:
        return current, 0
    return replace(current, main_video=None), 1


def gallery_video(media: MediaSet, video_id: int) -> tuple[int, Video] | None:
    """The gallery video with internal id `video_id` and its index in the gallery."""
    for index, item in enumerate(media.gallery):
        if isinstance(item, Video) and item.id == video_id:
            return index, item
    return None


def set_cover(
    video_id: int, source: tuple[str, str]
) -> Callable[[MediaSet, Fetched], tuple[MediaSet, CoverOutcome]]:
    """PUT .../gallery/video/{id}: the image `source` becomes that video's cover."""

    def decide(current: MediaSet, fetched: Fetched) -> tuple[MediaSet, CoverOutcome]:
        found = gallery_video(current, video_id)
        if found is None:
            return current, VideoMissing(video_id)
        outcome = fetched.get(source, Failure(DOWNLOAD_IMAGE_FAILED, "the cover was not fetched"))
        if isinstance(outcome, Failure):
            return current, outcome
        assert isinstance(outcome.files, ImageFiles), "an image source gives an image"
        index, video = found
        # No cover id: the catalog stores the new cover and the old one goes.
        covered = replace(video, source=replace(video.source, cover=outcome.files), cover_id=None)
        gallery = (*current.gallery[:index], covered, *current.gallery[index + 1 :])
        return replace(current, gallery=gallery), Placed("gallery", index, cover=True)

    return decide


def settle(outcome: T, saved: MediaSet) -> T:
    """The outcome with the id its new video or cover was saved under."""
    if not isinstance(outcome, Placed):
        return outcome
    video = saved.main_video if outcome.slot == "main" else saved.gallery[outcome.position]
    assert isinstance(video, Video), "the edit put a video there"
    return replace(outcome, id=video.cover_id if outcome.cover else video.id)
