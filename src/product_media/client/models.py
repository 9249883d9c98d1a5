"""The API's bodies as typed models, with Ecwid's own field names.

Answers keep fields these models do not name (`model_extra`), since Ecwid sends many more
product fields than a media client needs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Alt(_Answer):
    main: str | None = None
    translated: dict[str, str] = Field(default_factory=dict)


class _ImageSizes(_Answer):
    """The URLs of an image's four sizes and its original."""

    image160pxUrl: str | None = None
    image400pxUrl: str | None = None
    image800pxUrl: str | None = None
    image1500pxUrl: str | None = None
    imageOriginalUrl: str | None = None


class MediaImage(_ImageSizes):
    """An item of `media.images`: "0" is the main image, then the gallery's images."""

    id: str
    orderBy: int = 0
    isMain: bool = False
    alt: Alt | None = None


class MediaVideo(_ImageSizes):
    """An item of `media.videos`: "0" is the main video, then the gallery's videos."""

    id: str
    orderBy: int = 0
    url: str | None = None
    embedHtml: str | None = None
    providerName: str | None = None
    title: str | None = None
    videoCoverId: int | None = None


class GalleryVideo(MediaVideo):
    """`GET .../gallery/video/{id}`: the video with its internal id."""

    id: str | int  # type: ignore[assignment]


class ProductMedia(_Answer):
    images: list[MediaImage] = Field(default_factory=list)
    videos: list[MediaVideo] = Field(default_factory=list)


class OriginalImage(_Answer):
    url: str
    width: int
    height: int


class GalleryImage(_Answer):
    id: int
    url: str | None = None
    thumbnail: str | None = None
    originalImageUrl: str | None = None
    imageUrl: str | None = None
    hdThumbnailUrl: str | None = None
    thumbnailUrl: str | None = None
    smallThumbnailUrl: str | None = None
    width: int | None = None
    height: int | None = None
    orderBy: int | None = None
    alt: Alt | None = None


class Product(_Answer):
    id: int
    name: str = ""
    sku: str | None = None
    price: float | None = None
    enabled: bool | None = None
    description: str | None = None
    quantity: int | None = None
    unlimited: bool | None = None
    inStock: bool | None = None
    media: ProductMedia = Field(default_factory=ProductMedia)
    galleryImages: list[GalleryImage] = Field(default_factory=list)
    imageUrl: str | None = None
    thumbnailUrl: str | None = None
    hdThumbnailUrl: str | None = None
    smallThumbnailUrl: str | None = None
    originalImageUrl: str | None = None
    originalImage: OriginalImage | None = None

    def main_image(self) -> MediaImage | None:
        return next((image for image in self.media.images if image.isMain), None)

    def main_video(self) -> MediaVideo | None:
        return next((video for video in self.media.videos if video.id == "0"), None)

    def gallery(self) -> list[MediaImage | MediaVideo]:
        """The gallery's images and videos in their order."""
        items: list[MediaImage | MediaVideo] = [i for i in self.media.images if not i.isMain]
        items += [v for v in self.media.videos if v.id != "0"]
        return sorted(items, key=lambda item: item.orderBy)


class ProductsPage(_Answer):
    total: int
    count: int
    offset: int
    limit: int
    items: list[Product]


class NewProduct(_Body):
    """`POST /products`: the fields a media client needs; more are `model_extra`."""

    model_config = ConfigDict(extra="allow")

    name: str
    sku: str | None = None
    price: float | None = None
    enabled: bool | None = None
    description: str | None = None
    quantity: int | None = None
    unlimited: bool | None = None


class MediaSource(_Body):
    """A main medium or a gallery item of `PUT .../media`: an image, a video, or a video with
    that image as its cover."""

    imageUrl: str | None = None
    videoUrl: str | None = None


class MediaUpdate(_Body):
    """`PUT .../media`. `mainMedia` None keeps the main media; `galleryMedia` None or empty
    deletes the gallery (the API's own rules)."""

    mainMedia: MediaSource | None = None
    galleryMedia: list[MediaSource] | None = None


class MediaItemResult(_Answer):
    success: bool
    id: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    warning: str | None = None


class MediaUpdateResult(_Answer):
    mainMedia: MediaItemResult | None = None
    galleryMedia: list[MediaItemResult] = Field(default_factory=list)


class AsyncImage(_Body):
    """`POST .../image/async` and `.../gallery/async`."""

    url: str
    width: int
    height: int
    alt: Alt | None = None
    externalId: str | None = None


class Created(_Answer):
    id: int


class Deleted(_Answer):
    deleteCount: int


class Updated(_Answer):
    updateCount: int
