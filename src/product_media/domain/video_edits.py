"""What Ecwid's single-video endpoints do to a media set (DESIGN section 8): pure rules, one
per endpoint, each a `decide(current, fetched) -> (new media set, outcome)` for the one write
path. They touch only what they name: the main image and the rest of the gallery stay."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from product_media.domain.media import ImageFiles, MediaSet, Video, VideoFiles
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    VIDEO_UNAVAILABLE,
    Failure,
    Fetched,
)

Target = Literal["main", "gallery"]


class UnknownVideo(Exception):
    """An edit names a gallery video the product does not have (any more); nothing changed."""

    def __init__(self, video_id: int) -> None:
        super().__init__(f"Video #{video_id} is not found in the gallery")
        self.video_id = video_id


@dataclass(frozen=True)
class NewVideo:
    """A video to add: its source URL, and the ids reserved for it and for its cover."""

    url: str
    video_id: int
    cover_id: int

    @property
    def source(self) -> tuple[str, str]:
        return ("video", self.url)


@dataclass(frozen=True)
class Added:
    """The video (or cover) an edit made, by the id reserved for it; `warning` says what it
    lacks (a provider video without its title and thumbnail)."""

    id: int
    warning: str | None = None


def add_video(
    current: MediaSet, fetched: Fetched, new: NewVideo, target: Target
) -> tuple[MediaSet, Added | Failure]:
    """The media set with the new video as the main video (the old one goes, the main image
    stays) or appended to the gallery; or why its source failed (then nothing changes)."""
    outcome = fetched.get(
        new.source,
        Failure(DOWNLOAD_VIDEO_FAILED, f"{new.url}: was not fetched", VIDEO_UNAVAILABLE),
    )
    if isinstance(outcome, Failure):
        return current, outcome
    assert isinstance(outcome.files, VideoFiles), "a video source gives a video"
    cover_id = new.cover_id if outcome.files.cover is not None else None
    video = Video(outcome.files, id=new.video_id, cover_id=cover_id)
    added = Added(new.video_id, outcome.warning)
    if target == "main":
        return replace(current, main_video=video), added
    return replace(current, gallery=(*current.gallery, video)), added


def delete_main_video(current: MediaSet) -> tuple[MediaSet, int]:
    """Without its main video (the main image stays); and how many videos went."""
    if current.main_video is None:
        return current, 0
    return replace(current, main_video=None), 1


def gallery_video(media: MediaSet, video_id: int) -> tuple[int, Video]:
    """The gallery video with internal id `video_id`, and its position in the whole gallery
    (from 1). Raises UnknownVideo."""
    for position, item in enumerate(media.gallery, start=1):
        if isinstance(item, Video) and item.id == video_id:
            return position, item
    raise UnknownVideo(video_id)


def set_cover(
    current: MediaSet, fetched: Fetched, video_id: int, source: tuple[str, str], cover_id: int
) -> tuple[MediaSet, Added | Failure]:
    """The gallery video `video_id` with the image of `source` as its cover, stored under
    `cover_id` (its old cover goes); or why the image failed (then nothing changes). Raises
    UnknownVideo."""
    position, video = gallery_video(current, video_id)
    outcome = fetched.get(source, Failure(DOWNLOAD_IMAGE_FAILED, "the cover was not fetched"))
    if isinstance(outcome, Failure):
        return current, outcome
    assert isinstance(outcome.files, ImageFiles), "an image source gives an image"
    covered = replace(video, source=replace(video.source, cover=outcome.files), cover_id=cover_id)
    index = position - 1
    gallery = (*current.gallery[:index], covered, *current.gallery[index + 1 :])
    return replace(current, gallery=gallery), Added(cover_id)
