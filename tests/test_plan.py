"""The media-update rule, row by row of the DESIGN section 3 table and its failure rules."""

from __future__ import annotations

import pytest

from product_media.domain.media import Blob, Image, MediaSet, Video, VideoFiles
from product_media.domain.media_update import MediaSource, MediaUpdate
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    Failure,
    Ingested,
    ItemResult,
    plan,
    wanted_sources,
)
from tests.media_model import image_files


def _video_files(name: str) -> VideoFiles:
    return VideoFiles(file=Blob(f"{name}.mp4", "video/mp4"))


FILES = {name: image_files(name) for name in ("A", "B", "M", "G")}
VIDEOS = {name: _video_files(name) for name in ("V", "W", "MV", "GV")}


def _name(blob: Blob | None) -> str:
    assert blob is not None
    return blob.key.split(".")[0]


CURRENT = MediaSet(
    main_image=Image(FILES["M"], id=1),
    main_video=Video(VIDEOS["MV"], id=2),
    gallery=(Image(FILES["G"], id=3), Video(VIDEOS["GV"], id=4)),
)

FETCHED = {
    ("image", "A"): Ingested(FILES["A"]),
    ("image", "B"): Ingested(FILES["B"]),
    ("image", "BAD"): Failure(DOWNLOAD_IMAGE_FAILED, "BAD: HTTP 404 from source"),
    ("video", "V"): Ingested(VIDEOS["V"]),
    ("video", "W"): Ingested(VIDEOS["W"], warning="added without its cover"),
    ("video", "BADV"): Failure(DOWNLOAD_VIDEO_FAILED, "BADV: not a video"),
}


def _describe(item: Image | Video | None) -> str | None:
    if item is None:
        return None
    if isinstance(item, Image):
        return f"img:{_name(item.files.original)}"
    cover = item.source.cover
    return f"vid:{_name(item.source.file)}" + (f"+{_name(cover.original)}" if cover else "")


def _src(text: str) -> MediaSource:
    """'A' an image, 'v:V' a video, 'A|V' a video V with cover A."""
    if "|" in text:
        image, video = text.split("|")
        return MediaSource(image, video)
    if text.startswith("v:"):
        return MediaSource(None, text[2:])
    return MediaSource(text)


OK = "ok"

# (main request, gallery request) -> (main image, main video, gallery, main result, item results)
CASES = [
    # mainMedia missing/null/{} and galleryMedia missing/null/[]: main kept, gallery deleted.
    (None, [], "img:M", "vid:MV", [], None, []),
    # mainMedia {imageUrl: A}: A, main video deleted.
    ("A", [], "img:A", None, [], ("0",), []),
    # mainMedia {videoUrl: V}: main image deleted, V.
    ("v:V", [], None, "vid:V", [], ("0",), []),
    # mainMedia {imageUrl: A, videoUrl: V}: both.
    ("A|V", [], "img:A", "vid:V", [], ("0",), []),
    # galleryMedia replaces the gallery, in order; ids count images and videos separately.
    (
        None,
        ["A", "v:V", "B", "A|V"],
        "img:M",
        "vid:MV",
        ["img:A", "vid:V", "img:B", "vid:V+A"],
        None,
        [("1",), ("1",), ("2",), ("2",)],
    ),
    # A failed gallery item is left out and reported; the others keep their order.
    (
        None,
        ["A", "BAD", "B"],
        "img:M",
        "vid:MV",
        ["img:A", "img:B"],
        None,
        [("1",), DOWNLOAD_IMAGE_FAILED, ("2",)],
    ),
    (None, ["BAD"], "img:M", "vid:MV", [], None, [DOWNLOAD_IMAGE_FAILED]),
    (None, ["v:BADV", "v:V"], "img:M", "vid:MV", ["vid:V"], None, [DOWNLOAD_VIDEO_FAILED, ("1",)]),
    # A video with a cover fails when either part fails.
    (
        None,
        ["A|BADV", "BAD|V"],
        "img:M",
        "vid:MV",
        [],
        None,
        [DOWNLOAD_VIDEO_FAILED, DOWNLOAD_IMAGE_FAILED],
    ),
    # Never lose the main picture to a broken link: any failing part keeps both as they were.
    ("BAD", [], "img:M", "vid:MV", [], DOWNLOAD_IMAGE_FAILED, []),
    ("A|BADV", [], "img:M", "vid:MV", [], DOWNLOAD_VIDEO_FAILED, []),
    ("BAD|V", ["A"], "img:M", "vid:MV", ["img:A"], DOWNLOAD_IMAGE_FAILED, [("1",)]),
    # The same URL twice makes two gallery images.
    (None, ["A", "A"], "img:M", "vid:MV", ["img:A", "img:A"], None, [("1",), ("2",)]),
    # A source the ingest never reported on is a failure, not a crash.
    (
        "MISSING",
        ["v:MISSING"],
        "img:M",
        "vid:MV",
        [],
        DOWNLOAD_IMAGE_FAILED,
        [DOWNLOAD_VIDEO_FAILED],
    ),
]


def _check(result: ItemResult, expected: object) -> None:
    if isinstance(expected, tuple):
        assert result.success and result.id == expected[0]
        assert result.error_code is None and result.error_message is None
    else:
        assert not result.success and result.id is None
        assert result.error_code == expected and result.error_message


@pytest.mark.parametrize(
    ("main", "gallery", "main_image", "main_video", "new_gallery", "main_result", "results"),
    CASES,
)
def test_plan(main, gallery, main_image, main_video, new_gallery, main_result, results) -> None:
    update = MediaUpdate(
        main=None if main is None else _src(main), gallery=tuple(_src(g) for g in gallery)
    )
    new, outcome = plan(CURRENT, update, FETCHED)
    assert _describe(new.main_image) == main_image
    assert _describe(new.main_video) == main_video
    assert [_describe(item) for item in new.gallery] == new_gallery
    if main_result is None:
        assert outcome.main is None
    else:
        assert outcome.main is not None
        _check(outcome.main, main_result)
    assert len(outcome.gallery) == len(results)
    for result, expected in zip(outcome.gallery, results, strict=True):
        _check(result, expected)


def test_kept_main_keeps_its_identity() -> None:
    new, _ = plan(CURRENT, MediaUpdate(main=None, gallery=()), FETCHED)
    assert new.main_image is CURRENT.main_image and new.main_video is CURRENT.main_video


def test_new_items_have_no_id_yet() -> None:
    new, _ = plan(CURRENT, MediaUpdate(main=MediaSource("A"), gallery=(MediaSource("B"),)), FETCHED)
    assert all(item.id is None for item in new.items())


def test_warning_is_passed_on() -> None:
    _, outcome = plan(CURRENT, MediaUpdate(main=None, gallery=(MediaSource(None, "W"),)), FETCHED)
    assert outcome.gallery[0].warning == "added without its cover"


def test_failure_message_names_the_url() -> None:
    _, outcome = plan(CURRENT, MediaUpdate(main=MediaSource("BAD"), gallery=()), FETCHED)
    assert outcome.main is not None and outcome.main.error_message == "BAD: HTTP 404 from source"


def test_wanted_sources_are_distinct() -> None:
    update = MediaUpdate(
        main=MediaSource("A", "V"),
        gallery=(MediaSource("A"), MediaSource("B", "V"), MediaSource(None, "W")),
    )
    assert wanted_sources(update) == {
        ("image", "A"),
        ("image", "B"),
        ("video", "V"),
        ("video", "W"),
    }


def test_blob_keys_of_a_media_set() -> None:
    keys = CURRENT.blob_keys()
    assert "M.jpg" in keys and "G-160.jpg" in keys and "MV.mp4" in keys and "GV.mp4" in keys
    assert len(keys) == 2 * 5 + 2
