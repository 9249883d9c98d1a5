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


@pytest.mark.parametrize(
    ("url", "main", "current", "expected", "outcome"),
    [
        # The main video is replaced; the main image and the gallery stay.
        ("V", True, CURRENT, replace(CURRENT, main_video=Video(FILE)), rules.Placed("main")),
        (
            "L",
            True,
            MediaSet(),
            MediaSet(main_video=Video(LINK)),
            rules.Placed("main", warning=BARE),
        ),
        # A gallery video goes last; its position is counted in the whole gallery.
        (
            "V",
            False,
            CURRENT,
            replace(CURRENT, gallery=(G_IMAGE, G_VIDEO, Video(FILE))),
            rules.Placed("gallery", 2),
        ),
        ("V", False, MediaSet(), MediaSet(gallery=(Video(FILE),)), rules.Placed("gallery", 0)),
        # A source that failed changes nothing and says why.
        (
            "BAD",
            True,
            CURRENT,
            CURRENT,
            Failure(DOWNLOAD_VIDEO_FAILED, "BAD: not a video", NOT_VIDEO_URL),
        ),
        (
            "MISSING",
            False,
            CURRENT,
            CURRENT,
            Failure(DOWNLOAD_VIDEO_FAILED, "MISSING: was not fetched", VIDEO_UNAVAILABLE),
        ),
        # A full gallery takes no more.
        ("V", False, replace(CURRENT, gallery=(G_IMAGE,) * 3), None, rules.GalleryFull(3)),
    ],
)
def test_add_video(
    url: str,
    main: bool,
    current: MediaSet,
    expected: MediaSet | None,
    outcome: rules.VideoOutcome,
) -> None:
    new, got = rules.add_video(url, main=main, max_gallery_items=3)(current, FETCHED)
    assert new == (current if expected is None else expected)
    assert got == outcome


@pytest.mark.parametrize(
    ("current", "expected", "count"),
    [
        (CURRENT, replace(CURRENT, main_video=None), 1),
        (replace(CURRENT, main_video=None), replace(CURRENT, main_video=None), 0),
        (MediaSet(), MediaSet(), 0),
    ],
)
def test_delete_main_video(current: MediaSet, expected: MediaSet, count: int) -> None:
    assert rules.delete_main_video(current, {}) == (expected, count)


COVERED = Video(replace(FILE, cover=NEW_COVER), id=4, cover_id=None)


@pytest.mark.parametrize(
    ("video_id", "source", "expected", "outcome"),
    [
        # The new cover replaces the old one, whose id goes: the catalog gives the new one.
        (
            4,
            ("image", "C"),
            replace(CURRENT, gallery=(G_IMAGE, COVERED)),
            rules.Placed("gallery", 1, cover=True),
        ),
        # Only gallery videos have covers set here: not the main video, not an image.
        (2, ("image", "C"), CURRENT, rules.VideoMissing(2)),
        (3, ("image", "C"), CURRENT, rules.VideoMissing(3)),
        (99, ("image", "C"), CURRENT, rules.VideoMissing(99)),
        (
            4,
            ("image", "BADC"),
            CURRENT,
            Failure(DOWNLOAD_IMAGE_FAILED, "BADC: HTTP 404 from source"),
        ),
    ],
)
def test_set_cover(
    video_id: int, source: tuple[str, str], expected: MediaSet, outcome: rules.CoverOutcome
) -> None:
    assert rules.set_cover(video_id, source)(CURRENT, FETCHED) == (expected, outcome)


SAVED = MediaSet(
    MAIN_IMAGE,
    Video(FILE, id=20, cover_id=21),
    (G_IMAGE, Video(FILE, id=30, cover_id=31)),
)


@pytest.mark.parametrize(
    ("outcome", "settled"),
    [
        (rules.Placed("main"), rules.Placed("main", id=20)),
        (rules.Placed("gallery", 1), rules.Placed("gallery", 1, id=30)),
        (rules.Placed("gallery", 1, cover=True), rules.Placed("gallery", 1, cover=True, id=31)),
        (rules.Placed("main", warning="w"), rules.Placed("main", id=20, warning="w")),
        (rules.VideoMissing(4), rules.VideoMissing(4)),
        (Failure("X", "y"), Failure("X", "y")),
    ],
)
def test_settle(outcome: object, settled: object) -> None:
    assert rules.settle(outcome, SAVED) == settled


def test_gallery_video() -> None:
    assert rules.gallery_video(CURRENT, 4) == (1, G_VIDEO)
    assert rules.gallery_video(CURRENT, 2) is None
    assert rules.gallery_video(CURRENT, 3) is None
