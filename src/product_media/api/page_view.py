"""What the media page shows of a product: its media in order, each item with the ids, sizes and
texts a developer checks, in plain records for the templates (which escape every value)."""

from __future__ import annotations

from dataclasses import dataclass

from product_media.api.render import UrlMaker
from product_media.domain.media import DERIVED_SIZES, Image, ImageFiles, MediaSet, Video
from product_media.domain.video_links import recognise
from product_media.ingest.images import fit


@dataclass(frozen=True)
class Size:
    box: int
    url: str
    width: int
    height: int


@dataclass(frozen=True)
class Picture:
    """An image's files: the original's dimensions and type, and the derived sizes."""

    original_url: str
    content_type: str
    width: int
    height: int
    sizes: tuple[Size, ...]

    @property
    def thumbnail(self) -> Size | None:
        return self.sizes[0] if self.sizes else None

    @property
    def large(self) -> Size | None:
        return self.sizes[-1] if self.sizes else None


@dataclass(frozen=True)
class ImageView:
    role: str
    api_id: str
    internal_id: int | None
    order_by: int
    picture: Picture
    alt: str
    translated_alt: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class VideoView:
    role: str
    api_id: str
    internal_id: int | None
    order_by: int
    title: str
    provider: str
    # A stored file: its URL and type, played by <video>; a provider link: its player.
    file_url: str | None
    file_type: str | None
    player_url: str | None
    link: str | None
    cover_id: int | None
    cover: Picture | None


MediaView = ImageView | VideoView


def picture(files: ImageFiles, url: UrlMaker) -> Picture:
    sizes = []
    for box in DERIVED_SIZES:
        blob = files.derived.get(box)
        if blob is not None:
            width, height = fit(files.width, files.height, box)
            sizes.append(Size(box, url(blob), width, height))
    return Picture(
        original_url=url(files.original),
        content_type=files.original.content_type,
        width=files.width,
        height=files.height,
        sizes=tuple(sizes),
    )


def _image(image: Image, role: str, api_id: str, order_by: int, url: UrlMaker) -> ImageView:
    alt = image.alt
    return ImageView(
        role=role,
        api_id=api_id,
        internal_id=image.id,
        order_by=order_by,
        picture=picture(image.files, url),
        alt=alt.main if alt is not None else "",
        translated_alt=tuple(sorted(alt.translated.items())) if alt is not None else (),
    )


def _video(video: Video, role: str, api_id: str, order_by: int, url: UrlMaker) -> VideoView:
    source = video.source
    link = None if source.file is not None else recognise(source.url or "")
    return VideoView(
        role=role,
        api_id=api_id,
        internal_id=video.id,
        order_by=order_by,
        title=source.title,
        provider=source.provider_name,
        file_url=url(source.file) if source.file is not None else None,
        file_type=source.file.content_type if source.file is not None else None,
        player_url=link.player_url if link is not None else None,
        link=source.url if source.file is None else None,
        cover_id=video.cover_id,
        cover=picture(source.cover, url) if source.cover is not None else None,
    )


def media_view(media: MediaSet, url: UrlMaker) -> list[MediaView]:
    """Main image, main video, then the gallery in order, with the ids `media.images` and
    `media.videos` give them (counted apart) and their `orderBy`."""
    shown: list[MediaView] = []
    if media.main_image is not None:
        shown.append(_image(media.main_image, "main image", "0", 0, url))
    if media.main_video is not None:
        shown.append(_video(media.main_video, "main video", "0", 0, url))
    images = videos = 0
    for order_by, item in enumerate(media.gallery, start=1):
        if isinstance(item, Image):
            images += 1
            shown.append(_image(item, "gallery image", str(images), order_by, url))
        else:
            videos += 1
            shown.append(_video(item, "gallery video", str(videos), order_by, url))
    return shown


def thumbnail(media: MediaSet, url: UrlMaker) -> Size | None:
    """The smallest size of the product's main image, else of its first gallery image."""
    first = media.main_image or next((i for i in media.gallery if isinstance(i, Image)), None)
    return picture(first.files, url).thumbnail if first is not None else None
