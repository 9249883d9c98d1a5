"""The media model of a product: main image, main video and an ordered gallery."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

DERIVED_SIZES: tuple[int, ...] = (160, 400, 800, 1500)


@dataclass(frozen=True)
class Blob:
    """A stored file: its content-addressed key and its MIME type."""

    key: str
    content_type: str


@dataclass(frozen=True)
class Border:
    """Ecwid's borderInfo: the colour that dominates an image's border (0-255 a channel) and
    whether the border is all about that colour."""

    red: int
    green: int
    blue: int
    alpha: int
    homogeneity: bool


@dataclass(frozen=True)
class ImageFiles:
    """The stored files of one image: the original as received and the derived sizes.
    `border` is None for images stored before it was computed."""

    original: Blob
    width: int
    height: int
    derived: Mapping[int, Blob]
    border: Border | None = None

    def blobs(self) -> Iterator[Blob]:
        yield self.original
        yield from self.derived.values()


@dataclass(frozen=True)
class Alt:
    main: str = ""
    translated: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Image:
    """An image; `id` is None until the catalog has stored it."""

    files: ImageFiles
    id: int | None = None
    alt: Alt | None = None

    def blobs(self) -> Iterator[Blob]:
        return self.files.blobs()


@dataclass(frozen=True)
class VideoFiles:
    """A video's source: a stored file, or a provider link (YouTube, Vimeo)."""

    url: str | None = None
    file: Blob | None = None
    provider_name: str = ""
    title: str = ""
    cover: ImageFiles | None = None


@dataclass(frozen=True)
class Video:
    source: VideoFiles
    id: int | None = None
    cover_id: int | None = None

    def blobs(self) -> Iterator[Blob]:
        if self.source.file is not None:
            yield self.source.file
        if self.source.cover is not None:
            yield from self.source.cover.blobs()


GalleryItem = Image | Video


@dataclass(frozen=True)
class MediaSet:
    main_image: Image | None = None
    main_video: Video | None = None
    gallery: tuple[GalleryItem, ...] = ()

    def blob_keys(self) -> frozenset[str]:
        return frozenset(blob.key for item in self.items() for blob in item.blobs())

    def items(self) -> Iterator[GalleryItem]:
        if self.main_image is not None:
            yield self.main_image
        if self.main_video is not None:
            yield self.main_video
        yield from self.gallery
