"""What a manifest row sends and what a dry run says it changes: tables of cases."""

from __future__ import annotations

from typing import Any

import pytest

from product_media.apply.manifest import Medium, ProductRef, Row
from product_media.apply.plan import (
    ADDED,
    DELETED,
    NONE,
    REPLACED,
    UNCHANGED,
    Entry,
    Slot,
    diff,
    media_update,
)
from product_media.client import Product
from product_media.client.calls import update_media

A, B, C = "https://img.example/a.jpg", "https://img.example/b.jpg", "https://img.example/c.jpg"
V = "https://www.youtube.com/watch?v=abcdefghijk"
OLD_MAIN = "https://media.example/media/old-main.jpg"
OLD_VIDEO = "https://youtu.be/zzzzzzzzzzz"
OLD_G1 = "https://media.example/media/old-g1.jpg"
OLD_GV = "https://media.example/media/old-gv.mp4"


def row(main: Medium | None, *gallery: Medium) -> Row:
    return Row(2, ProductRef(product_id=1), main, gallery)


@pytest.mark.parametrize(
    ("main", "gallery", "body"),
    [
        (None, (), {"galleryMedia": []}),
        (Medium(A), (), {"mainMedia": {"imageUrl": A}, "galleryMedia": []}),
        (
            Medium(None, V),
            (Medium(B),),
            {"mainMedia": {"videoUrl": V}, "galleryMedia": [{"imageUrl": B}]},
        ),
        (
            Medium(A, V),
            (Medium(C, V),),
            {
                "mainMedia": {"imageUrl": A, "videoUrl": V},
                "galleryMedia": [{"imageUrl": C, "videoUrl": V}],
            },
        ),
        (None, (Medium(B), Medium(None, V)), {"galleryMedia": [{"imageUrl": B}, {"videoUrl": V}]}),
    ],
)
def test_the_body_sent(main: Medium | None, gallery: tuple[Medium, ...], body: Any) -> None:
    assert update_media(1, media_update(row(main, *gallery))).json == body


def product(main: bool, video: bool, gallery: bool) -> Product:
    images: list[dict[str, Any]] = []
    videos: list[dict[str, Any]] = []
    if main:
        images.append({"id": "0", "orderBy": 0, "isMain": True, "imageOriginalUrl": OLD_MAIN})
    if video:
        videos.append({"id": "0", "orderBy": 0, "url": OLD_VIDEO})
    if gallery:
        videos.append({"id": "1", "orderBy": 2, "url": OLD_GV})
        images.append({"id": "1", "orderBy": 1, "isMain": False, "imageOriginalUrl": OLD_G1})
    return Product.model_validate(
        {"id": 1, "name": "Shirt", "media": {"images": images, "videos": videos}}
    )


@pytest.mark.parametrize(
    ("has", "main", "image", "video"),
    [
        (
            (True, True),
            None,
            Slot(OLD_MAIN, OLD_MAIN, UNCHANGED),
            Slot(OLD_VIDEO, OLD_VIDEO, UNCHANGED),
        ),
        ((False, False), None, Slot(None, None, NONE), Slot(None, None, NONE)),
        ((True, True), Medium(A), Slot(OLD_MAIN, A, REPLACED), Slot(OLD_VIDEO, None, DELETED)),
        (
            (True, True),
            Medium(None, V),
            Slot(OLD_MAIN, None, DELETED),
            Slot(OLD_VIDEO, V, REPLACED),
        ),
        ((False, False), Medium(A, V), Slot(None, A, ADDED), Slot(None, V, ADDED)),
        ((False, True), Medium(A), Slot(None, A, ADDED), Slot(OLD_VIDEO, None, DELETED)),
        ((True, False), Medium(None, V), Slot(OLD_MAIN, None, DELETED), Slot(None, V, ADDED)),
    ],
)
def test_main_media_before_and_after(
    has: tuple[bool, bool], main: Medium | None, image: Slot, video: Slot
) -> None:
    change = diff(row(main), product(*has, gallery=False))
    assert (change.main_image, change.main_video) == (image, video)


@pytest.mark.parametrize(
    ("has_gallery", "gallery", "after", "verdict"),
    [
        (True, (), (), DELETED),
        (False, (), (), NONE),
        (False, (Medium(A),), (Entry("image", A),), ADDED),
        (True, (Medium(A), Medium(C, V)), (Entry("image", A), Entry("video", V)), REPLACED),
    ],
)
def test_gallery_before_and_after(
    has_gallery: bool, gallery: tuple[Medium, ...], after: tuple[Entry, ...], verdict: str
) -> None:
    change = diff(row(None, *gallery), product(True, False, has_gallery))
    before = (Entry("image", OLD_G1), Entry("video", OLD_GV)) if has_gallery else ()
    assert change.gallery_before == before
    assert (change.gallery_after, change.gallery_change) == (after, verdict)
