"""What a row does to a product: the media update it sends, and, for a dry run, the change
it would make, before and after. Pure code.

The API's own rules decide it: no main cell keeps the main media as it is; a main cell sends
the main media as given, so the main medium not named is deleted; no gallery cell clears the
gallery.
"""

from __future__ import annotations

from dataclasses import dataclass

from product_media.apply.manifest import Medium, Row
from product_media.client.models import (
    MediaImage,
    MediaSource,
    MediaUpdate,
    MediaVideo,
    Product,
)

UNCHANGED = "unchanged"
ADDED = "added"
REPLACED = "replaced"
DELETED = "deleted"
NONE = "none"


def media_update(row: Row) -> MediaUpdate:
    main = None
    if row.main is not None:
        main = MediaSource(imageUrl=row.main.image_url, videoUrl=row.main.video_url)
    gallery = [MediaSource(imageUrl=m.image_url, videoUrl=m.video_url) for m in row.gallery]
    return MediaUpdate(mainMedia=main, galleryMedia=gallery)


@dataclass(frozen=True)
class Entry:
    """A medium as a diff shows it: `kind` is "image" or "video"."""

    kind: str
    url: str


@dataclass(frozen=True)
class Slot:
    """The main image or the main video: what it is, what it becomes, and the verdict."""

    before: str | None
    after: str | None
    change: str


@dataclass(frozen=True)
class Diff:
    main_image: Slot
    main_video: Slot
    gallery_before: tuple[Entry, ...]
    gallery_after: tuple[Entry, ...]
    gallery_change: str


# (something before, something after) -> the verdict, when the row sends that part.
_CHANGE = {
    (True, True): REPLACED,
    (False, True): ADDED,
    (True, False): DELETED,
    (False, False): NONE,
}


def _slot(before: str | None, given: str | None, sent: bool) -> Slot:
    if not sent:
        return Slot(before, before, UNCHANGED if before else NONE)
    return Slot(before, given or None, _CHANGE[bool(before), bool(given)])


def _shown(item: MediaImage | MediaVideo) -> Entry:
    if isinstance(item, MediaVideo):
        return Entry("video", item.url or "")
    return Entry("image", item.imageOriginalUrl or "")


def _asked(medium: Medium) -> Entry:
    if medium.video_url:
        return Entry("video", medium.video_url)
    return Entry("image", medium.image_url or "")


def diff(row: Row, product: Product) -> Diff:
    """The change `row` would make to `product` as it is now. The URLs after are the sources
    to be fetched; the service then serves its own copies of them."""
    image, video = product.main_image(), product.main_video()
    sent = row.main is not None
    main = row.main or Medium()
    before = tuple(_shown(item) for item in product.gallery())
    after = tuple(_asked(medium) for medium in row.gallery)
    gallery_change = _CHANGE[bool(before), bool(after)]
    return Diff(
        main_image=_slot(image.imageOriginalUrl if image else None, main.image_url, sent),
        main_video=_slot(video.url if video else None, main.video_url, sent),
        gallery_before=before,
        gallery_after=after,
        gallery_change=gallery_change,
    )
