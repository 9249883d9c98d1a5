"""The rules of the single-video endpoints (domain/video_edits.py), by tables of cases."""

from __future__ import annotations

from dataclasses import replace

import pytest

from product_media.domain import video_edits as rules
from product_media.domain.media import Blob, Image, MediaSet, Video, VideoFiles
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    NOT_VIDEO_URL,
    VIDEO_UNAVAILABLE,
    Failure,
    Fetched,
    Ingested,
)
from tests.media_model import image_files

COVER = image_files("cover")
NEW_COVER = image_files("new-cover")
FILE = VideoFiles(file=Blob("v.mp4", "video/mp4"), cover=COVER)
LINK = VideoFiles(url="https://youtu.be/dQw4w9WgXcQ", provider_name="YouTube")
BARE = "L: added without YouTube's title and thumbnail (oEmbed: HTTP 404 from source)"

MAIN_IMAGE = Image(image_files("main"), id=1)
MAIN_VIDEO = Video(VideoFiles(file=Blob("m.mp4", "video/mp4")), id=2)
G_IMAGE = Image(image_files("g"), id=3)
G_VIDEO = Video(FILE, id=4, cover_id=5)
CURRENT = MediaSet(MAIN_IMAGE, MAIN_VIDEO, (G_IMAGE, G_VIDEO))

FETCHED: Fetched = {
    ("video", "V"): Ingested(FILE),
    ("video", "L"): Ingested(LINK, warning=BARE),
    ("video", "BAD"): Failure(DOWNLOAD_VIDEO_FAILED, "BAD: not a video", NOT_VIDEO_URL),
    ("image", "C"): Ingested(NEW_COVER),
    ("image", "BADC"): Failure(DOWNLOAD_IMAGE_FAILED, "BADC: HTTP 404 from source"),
}


def _new(url: str) -> rules.NewVideo:
    return rules.NewVideo(url, video_id=50, cover_id=51)


@pytest.mark.parametrize(
    ("url", "target", "current", "expected", "outcome"),
    [
        # The main video is replaced, under the ids reserved for it; the rest stays.
        (
            "V",
            "main",
            CURRENT,
            replace(CURRENT, main_video=Video(FILE, id=50, cover_id=51)),
            rules.Added(50),
        ),
        # A provider video without a thumbnail has no cover, so no cover id either.
        (
            "L",
            "main",
            MediaSet(),
            MediaSet(main_video=Video(LINK, id=50)),
            rules.Added(50, warning=BARE),
        ),
        # A gallery video goes last.
        (
            "V",
            "gallery",
            CURRENT,
            replace(CURRENT, gallery=(G_IMAGE, G_VIDEO, Video(FILE, id=50, cover_id=51))),
            rules.Added(50),
        ),
        # A source that failed changes nothing and says why.
        (
            "BAD",
            "main",
            CURRENT,
            CURRENT,
            Failure(DOWNLOAD_VIDEO_FAILED, "BAD: not a video", NOT_VIDEO_URL),
        ),
        (
            "MISSING",
            "gallery",
            CURRENT,
            CURRENT,
            Failure(DOWNLOAD_VIDEO_FAILED, "MISSING: was not fetched", VIDEO_UNAVAILABLE),
        ),
    ],
)
def test_add_video(
    url: str,
    target: rules.Target,
    current: MediaSet,
    expected: MediaSet,
    outcome: rules.Added | Failure,
) -> None:
    assert rules.add_video(current, FETCHED, _new(url), target) == (expected, outcome)


@pytest.mark.parametrize(
    ("current", "expected", "count"),
    [
        (CURRENT, replace(CURRENT, main_video=None), 1),
        (replace(CURRENT, main_video=None), replace(CURRENT, main_video=None), 0),
        (MediaSet(), MediaSet(), 0),
    ],
)
def test_delete_main_video(current: MediaSet, expected: MediaSet, count: int) -> None:
    assert rules.delete_main_video(current) == (expected, count)


@pytest.mark.parametrize(
    ("video_id", "source", "expected", "outcome"),
    [
        # The new cover replaces the old one under the id reserved for it.
        (
            4,
            ("image", "C"),
            replace(CURRENT, gallery=(G_IMAGE, Video(replace(FILE, cover=NEW_COVER), 4, 60))),
            rules.Added(60),
        ),
        (
            4,
            ("image", "BADC"),
            CURRENT,
            Failure(DOWNLOAD_IMAGE_FAILED, "BADC: HTTP 404 from source"),
        ),
    ],
)
def test_set_cover(
    video_id: int, source: tuple[str, str], expected: MediaSet, outcome: rules.Added | Failure
) -> None:
    assert rules.set_cover(CURRENT, FETCHED, video_id, source, 60) == (expected, outcome)


@pytest.mark.parametrize("video_id", [2, 3, 99], ids=["main-video", "an-image", "none"])
def test_only_gallery_videos_are_found(video_id: int) -> None:
    """The main video is not a gallery video, nor is an image, whatever their ids."""
    with pytest.raises(rules.UnknownVideo):
        rules.gallery_video(CURRENT, video_id)
    with pytest.raises(rules.UnknownVideo):
        rules.set_cover(CURRENT, FETCHED, video_id, ("image", "C"), 60)


def test_gallery_video_position_counts_the_whole_gallery() -> None:
    assert rules.gallery_video(CURRENT, 4) == (2, G_VIDEO)
