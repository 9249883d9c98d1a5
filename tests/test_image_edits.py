"""The per-image rules and a product's `media.images` edits (DESIGN section 8), by tables of
cases on a compact notation: "10 | 1 2 v3 4" is main image 10, then the gallery: images 1, 2
and 4 and video 3 (the numbers are the items' internal ids)."""

from __future__ import annotations

import pytest

from product_media.domain.image_edits import (
    ImageEdit,
    NewImage,
    UnknownImage,
    add_image,
    delete_gallery_images,
    delete_gallery_item,
    delete_main_image,
    edit_images,
)
from product_media.domain.media import Alt, Blob, Image, MediaSet, Video, VideoFiles
from product_media.domain.plan import DOWNLOAD_IMAGE_FAILED, Failure, Ingested
from tests.media_model import image_files

MAIN_VIDEO = Video(VideoFiles(file=Blob("mv.mp4", "video/mp4")), id=900)


def media(text: str, *, main_video: bool = False) -> MediaSet:
    """ "10 | 1 2 v3": main image 10, gallery images 1 and 2, gallery video 3; "- | ..." no
    main image."""
    main, _, gallery = text.partition("|")
    items: list[Image | Video] = []
    for token in gallery.split():
        if token.startswith("v"):
            items.append(
                Video(VideoFiles(file=Blob(f"{token}.mp4", "video/mp4")), id=int(token[1:]))
            )
        else:
            items.append(Image(image_files(token), id=int(token)))
    main = main.strip()
    return MediaSet(
        main_image=None if main == "-" else Image(image_files(main), id=int(main)),
        main_video=MAIN_VIDEO if main_video else None,
        gallery=tuple(items),
    )


def describe(media_set: MediaSet) -> str:
    def name(item: Image | Video) -> str:
        return f"v{item.id}" if isinstance(item, Video) else str(item.id)

    main = "-" if media_set.main_image is None else name(media_set.main_image)
    return " ".join([main, "|", *(name(item) for item in media_set.gallery)]).strip()


def alts(media_set: MediaSet) -> dict[int, str]:
    return {
        item.id: item.alt.main
        for item in media_set.items()
        if isinstance(item, Image) and item.id is not None and item.alt is not None
    }


# -- adding an image --------------------------------------------------------------------------

NEW = image_files("new")
FETCHED = {
    ("image", "good"): Ingested(NEW),
    ("image", "bad"): Failure(DOWNLOAD_IMAGE_FAILED, "bad: HTTP 404 from source"),
}


@pytest.mark.parametrize(
    ("before", "source", "target", "after", "outcome"),
    [
        ("10 | 1 v2", "good", "main", "50 | 1 v2", 50),
        ("- | 1", "good", "main", "50 | 1", 50),
        ("10 | 1 v2", "good", "gallery", "10 | 1 v2 50", 50),
        ("- |", "good", "gallery", "- | 50", 50),
        ("10 | 1", "bad", "main", "10 | 1", "bad: HTTP 404 from source"),
        ("10 | 1", "bad", "gallery", "10 | 1", "bad: HTTP 404 from source"),
        ("10 | 1", "unfetched", "gallery", "10 | 1", "was not fetched"),
        # The image is there already (a job that ran twice): nothing changes.
        ("10 | 1 50", "good", "gallery", "10 | 1 50", 50),
        ("50 | 1", "good", "main", "50 | 1", 50),
    ],
)
def test_add_image(before: str, source: str, target: str, after: str, outcome: int | str) -> None:
    current = media(before, main_video=True)
    new = NewImage(("image", source), 50, Alt("hello"))
    result, got = add_image(current, FETCHED, new, target)  # type: ignore[arg-type]
    assert describe(result) == after
    assert result.main_video == MAIN_VIDEO, "the main video always stays"
    if isinstance(outcome, str):
        assert got == Failure(DOWNLOAD_IMAGE_FAILED, outcome)
        assert result is current
    else:
        assert got == outcome
        if describe(current) != after:
            assert alts(result)[50] == "hello"
            added = result.main_image if target == "main" else result.gallery[-1]
            assert isinstance(added, Image) and added.files == NEW


# -- deleting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "count"),
    [("10 | 1 v2", "- | 1 v2", 1), ("- | 1", "- | 1", 0), ("10 |", "- |", 1)],
)
def test_delete_main_image(before: str, after: str, count: int) -> None:
    result, deleted = delete_main_image(media(before, main_video=True))
    assert (describe(result), deleted) == (after, count)
    assert result.main_video == MAIN_VIDEO


@pytest.mark.parametrize(
    ("before", "item", "after", "count"),
    [
        ("10 | 1 v2 3", 1, "10 | v2 3", 1),
        ("10 | 1 v2 3", 2, "10 | 1 3", 1),  # a gallery video, by its id
        ("10 | 1 v2 3", 3, "10 | 1 v2", 1),
        ("10 | 1 v2 3", 10, "10 | 1 v2 3", 0),  # the main image is not a gallery item
        ("10 | 1 v2 3", 900, "10 | 1 v2 3", 0),  # nor is the main video
        ("10 | 1 v2 3", 77, "10 | 1 v2 3", 0),
        ("- |", 1, "- |", 0),
    ],
)
def test_delete_gallery_item(before: str, item: int, after: str, count: int) -> None:
    result, deleted = delete_gallery_item(media(before, main_video=True), item)
    assert (describe(result), deleted) == (after, count)
    assert result.main_video == MAIN_VIDEO


@pytest.mark.parametrize(
    ("before", "after", "count"),
    [
        ("10 | 1 v2 3", "10 | v2", 2),
        ("10 | v2", "10 | v2", 0),
        ("- | 1 2", "- |", 2),
        ("10 |", "10 |", 0),
    ],
)
def test_delete_gallery_images(before: str, after: str, count: int) -> None:
    result, deleted = delete_gallery_images(media(before, main_video=True))
    assert (describe(result), deleted) == (after, count)
    assert result.main_video == MAIN_VIDEO


# -- media.images in a PUT of the product -----------------------------------------------------


def edits(text: str) -> list[ImageEdit]:
    """ "1:5 2:main 3:alt=x": shown id, then orderBy (a number), isMain ("main", "notmain"),
    or an alt text; several parts joined by ':'."""
    result = []
    for token in text.split():
        shown, *parts = token.split(":")
        order_by, is_main, alt = None, None, None
        for part in parts:
            if part == "main":
                is_main = True
            elif part == "notmain":
                is_main = False
            elif part.startswith("alt="):
                alt = Alt(part[4:], {"fr": part[4:] + "-fr"})
            else:
                order_by = int(part)
        result.append(ImageEdit(shown, order_by, is_main, alt))
    return result


# Gallery "1 2 v3 4" shows images "1" = id 1, "2" = id 2, "3" = id 4 (videos are not counted).
@pytest.mark.parametrize(
    ("before", "edit", "after"),
    [
        ("10 | 1 2 v3 4", "", "10 | 1 2 v3 4"),
        # GET -> PUT: every image with the orderBy and isMain GET shows changes nothing.
        ("10 | 1 2 v3 4", "0:0:main 1:1:notmain 2:2:notmain 3:4:notmain", "10 | 1 2 v3 4"),
        # orderBy sorts the listed images into the image positions; the video keeps its own.
        ("10 | 1 2 v3 4", "1:3 2:2 3:1", "10 | 4 2 v3 1"),
        ("10 | 1 2 v3 4", "3:0", "10 | 4 1 v3 2"),
        ("10 | 1 2 v3 4", "1:9", "10 | 1 2 v3 4"),
        ("10 | 1 2 v3 4", "2:1 1:1", "10 | 1 2 v3 4"),  # equal keys keep their order
        ("10 | 1 2 v3 4", "2:-5", "10 | 2 1 v3 4"),
        ("- | v3 1 2", "2:1 1:2", "- | v3 2 1"),
        # The main image's orderBy is no sort key (it is not in the gallery).
        ("10 | 1 2", "0:99", "10 | 1 2"),
        # isMain: the gallery image becomes the main image, the old one takes its place.
        ("10 | 1 2 v3 4", "2:main", "2 | 1 10 v3 4"),
        ("10 | 1 2 v3 4", "3:main", "4 | 1 2 v3 10"),
        ("- | 1 2 v3 4", "2:main", "2 | 1 v3 4"),
        ("10 | 1 2", "0:notmain", "10 | 1 2"),
        # Both: the order first, then the swap where the new main image landed.
        ("10 | 1 2 v3 4", "1:3:main 3:1", "1 | 4 10 v3 2"),
        # Listed twice: the later listing's parts win; of several marked isMain, the last.
        ("10 | 1 2 v3 4", "1:3 1:main 3:1", "1 | 4 10 v3 2"),
        ("10 | 1 2 v3 4", "1:3 1:0", "10 | 1 2 v3 4"),
        ("10 | 1 2 v3 4", "1:main 2:main", "2 | 1 10 v3 4"),
    ],
)
def test_edit_images_order_and_main(before: str, edit: str, after: str) -> None:
    current = media(before, main_video=True)
    result = edit_images(current, edits(edit))
    assert describe(result) == after
    assert result.main_video == MAIN_VIDEO
    if after == before:
        assert result == current


@pytest.mark.parametrize(
    ("before", "edit", "expected"),
    [
        ("10 | 1 2", "0:alt=m", {10: "m"}),
        ("10 | 1 2", "2:alt=b 1:alt=a", {1: "a", 2: "b"}),
        ("10 | 1 2", "2:alt=b:main", {2: "b"}),  # the alt goes with the image
        ("- | v3 1", "1:alt=x", {1: "x"}),
    ],
)
def test_edit_images_alt(before: str, edit: str, expected: dict[int, str]) -> None:
    result = edit_images(media(before), edits(edit))
    assert alts(result) == expected
    for item in result.items():
        if isinstance(item, Image) and item.id in expected:
            assert item.alt == Alt(expected[item.id], {"fr": expected[item.id] + "-fr"})


@pytest.mark.parametrize(
    ("before", "edit", "message"),
    [
        ("10 | 1 2", "3:1", "media.images[0].id: the product has no image '3'"),
        ("- | 1 2", "0:alt=x", "media.images[0].id: the product has no image '0'"),
        ("10 | 1 v2", "1:1 2:1", "media.images[1].id: the product has no image '2'"),
        ("10 | 1 2", "x:1", "media.images[0].id: the product has no image 'x'"),
    ],
)
def test_edit_images_refuses_unknown_images(before: str, edit: str, message: str) -> None:
    with pytest.raises(UnknownImage) as refused:
        edit_images(media(before), edits(edit))
    assert str(refused.value) == message
