"""What the per-image endpoints and a product's `media.images` edits do to a media set:
pure rules, one per endpoint (DESIGN section 8)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from product_media.domain.media import Alt, GalleryItem, Image, ImageFiles, MediaSet
from product_media.domain.plan import DOWNLOAD_IMAGE_FAILED, Failure, Fetched

Target = Literal["main", "gallery"]


class UnknownImage(Exception):
    """An edit names an image the product does not show (any more); nothing changed."""


@dataclass(frozen=True)
class NewImage:
    """An image to add: the (kind, url) of its source in what ingest fetched, the id reserved
    for it, and its alt text."""

    source: tuple[str, str]
    image_id: int
    alt: Alt | None = None


def _holds(media: MediaSet, item_id: int) -> bool:
    return any(item.id == item_id for item in media.items())


def add_image(
    current: MediaSet, fetched: Fetched, new: NewImage, target: Target
) -> tuple[MediaSet, int | Failure]:
    """The media set with the new image as the main image (the old one goes, the main video
    stays) or appended to the gallery; and its id, or why its source failed (then nothing
    changes). Adding an image the set holds already (a job run twice) changes nothing."""
    if _holds(current, new.image_id):
        return current, new.image_id
    outcome = fetched.get(new.source, Failure(DOWNLOAD_IMAGE_FAILED, "was not fetched"))
    if isinstance(outcome, Failure):
        return current, outcome
    if not isinstance(outcome.files, ImageFiles):
        return current, Failure(DOWNLOAD_IMAGE_FAILED, "not an image")
    image = Image(files=outcome.files, id=new.image_id, alt=new.alt)
    if target == "main":
        return replace(current, main_image=image), new.image_id
    return replace(current, gallery=(*current.gallery, image)), new.image_id


def delete_main_image(current: MediaSet) -> tuple[MediaSet, int]:
    """Without its main image (the main video stays); and how many images went."""
    if current.main_image is None:
        return current, 0
    return replace(current, main_image=None), 1


def delete_gallery_item(current: MediaSet, item_id: int) -> tuple[MediaSet, int]:
    """Without the gallery image or video whose internal id is `item_id`."""
    kept = tuple(item for item in current.gallery if item.id != item_id)
    return replace(current, gallery=kept), len(current.gallery) - len(kept)


def delete_gallery_images(current: MediaSet) -> tuple[MediaSet, int]:
    """Without gallery images; gallery videos and the main image stay."""
    kept = tuple(item for item in current.gallery if not isinstance(item, Image))
    return replace(current, gallery=kept), len(current.gallery) - len(kept)


@dataclass(frozen=True)
class ImageEdit:
    """One item of a product's `media.images` in a PUT: `id` as GET shows it ("0" the main
    image, "1", "2", ... the gallery images in order); None leaves a part as it is."""

    id: str
    order_by: int | None = None
    is_main: bool | None = None
    alt: Alt | None = None


def _merged(current: MediaSet, edits: Sequence[ImageEdit]) -> dict[str, tuple[int, ImageEdit]]:
    """Each edited image's place (-1 the main image, else its gallery index) and its edit, an
    image listed twice taking what its later listing sets. Raises UnknownImage."""
    shown: dict[str, int] = {}
    if current.main_image is not None:
        shown["0"] = -1
    images = [i for i, item in enumerate(current.gallery) if isinstance(item, Image)]
    shown.update({str(n): index for n, index in enumerate(images, start=1)})
    merged: dict[str, tuple[int, ImageEdit]] = {}
    for n, edit in enumerate(edits):
        if edit.id not in shown:
            raise UnknownImage(f"media.images[{n}].id: the product has no image {edit.id!r}")
        earlier = merged.get(edit.id, (0, ImageEdit(edit.id)))[1]
        merged[edit.id] = (
            shown[edit.id],
            ImageEdit(
                edit.id,
                earlier.order_by if edit.order_by is None else edit.order_by,
                earlier.is_main if edit.is_main is None else edit.is_main,
                earlier.alt if edit.alt is None else edit.alt,
            ),
        )
    return merged


def edit_images(current: MediaSet, edits: Sequence[ImageEdit]) -> MediaSet:
    """A product's `media.images` applied (DESIGN section 8): `orderBy` sorts the gallery
    images that carry one, which then fill the positions images hold in the gallery (videos
    keep theirs, the other images follow in their order); `isMain: true` on a gallery image
    swaps it with the main image (the last one so marked, if several are); `alt` replaces an
    image's alt text. An image listed twice takes what its later listing sets. Raises
    UnknownImage."""
    merged = _merged(current, edits)
    positions = {shown: at for shown, (at, _edit) in merged.items()}
    edits = [edit for _at, edit in merged.values()]
    mains = [edit.id for edit in edits if edit.is_main and edit.id != "0"]

    main = current.main_image
    gallery: list[GalleryItem] = list(current.gallery)
    for edit in edits:
        if edit.alt is None:
            continue
        # An empty alt text (as GET shows one: {"translated": {}}) is none at all.
        alt = edit.alt if edit.alt.main or edit.alt.translated else None
        at = positions[edit.id]
        if at < 0:
            assert main is not None, "only a main image is shown as 0"
            main = replace(main, alt=alt)
        else:
            image = gallery[at]
            assert isinstance(image, Image), "only images are shown in media.images"
            gallery[at] = replace(image, alt=alt)

    # The images with a sort key first, by key (equal keys keep their order), then the rest.
    keys = {positions[e.id]: e.order_by for e in edits if e.order_by is not None}
    slots = [i for i, item in enumerate(current.gallery) if isinstance(item, Image)]
    order = sorted((i for i in slots if i in keys), key=lambda i: keys[i])
    order += [i for i in slots if i not in keys]
    moved_to = dict(zip(order, slots, strict=True))
    reordered = list(gallery)
    for old, new in moved_to.items():
        reordered[new] = gallery[old]

    if mains:
        at = moved_to[positions[mains[-1]]]
        chosen = reordered[at]
        assert isinstance(chosen, Image), "only images are shown in media.images"
        if main is None:
            del reordered[at]
        else:
            reordered[at] = main
        main = chosen
    return MediaSet(main_image=main, main_video=current.main_video, gallery=tuple(reordered))
