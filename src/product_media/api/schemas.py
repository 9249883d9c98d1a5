"""Request and response bodies, with Ecwid's field names (they also make /openapi.json)."""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from product_media.domain.media_update import MAX_URL_LENGTH, URL_PATTERN


class _In(BaseModel):
    # Ecwid ignores fields it does not know, and so do we.
    model_config = ConfigDict(extra="ignore")


class _StrictIn(BaseModel):
    """A media write body: an unknown field is refused (400 naming it), because a misspelt
    `galleryMedia` would otherwise read as a missing one, which deletes the gallery."""

    model_config = ConfigDict(extra="forbid")


_URL_SCHEMA: dict[str, JsonValue] = {
    "type": "string",
    "maxLength": MAX_URL_LENGTH,
    "pattern": URL_PATTERN,
}

# Any string gets through parsing, so that a bad URL is a 422 WRONG_URL naming its field (not
# a 400); the schema still says what is accepted: an absolute URL, or "" or null for none.
MediaUrl = Annotated[
    StrictStr | None,
    WithJsonSchema({"anyOf": [_URL_SCHEMA, {"type": "string", "maxLength": 0}, {"type": "null"}]}),
]


class MediaItemIn(_StrictIn):
    imageUrl: MediaUrl = Field(None, description="URL of an image (http or https)")
    videoUrl: MediaUrl = Field(None, description="URL of a video file or page")


class GalleryItemIn(MediaItemIn):
    """A gallery item names an image, a video, or both (a video with that image as cover)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: _URL_SCHEMA}}
                for name in ("imageUrl", "videoUrl")
            ]
        }
    )


# MAX_GALLERY_ITEMS of the app answering the request, set per request by BodyLimits: the limit
# is a setting, and two apps in one process may have different ones. None (outside a
# request) leaves the check to the domain rule.
GALLERY_LIMIT: ContextVar[int | None] = ContextVar("gallery_limit", default=None)


def _gallery_within_limit(value: Any) -> Any:
    """Refuses an overlong gallery before any item is validated: half a million bad items
    would otherwise cost as many errors, built on the event loop."""
    limit = GALLERY_LIMIT.get()
    if limit is not None and isinstance(value, list) and len(value) > limit:
        raise PydanticCustomError(
            "too_long",
            "has {count} items; at most {limit} are allowed",
            {"count": len(value), "limit": limit},
        )
    return value


Gallery = Annotated[list[GalleryItemIn] | None, BeforeValidator(_gallery_within_limit)]


class MediaUpdateIn(_StrictIn):
    mainMedia: MediaItemIn | None = Field(
        None, description="New main image and/or video; missing, null or {}: unchanged"
    )
    galleryMedia: Gallery = Field(
        None, description="The whole new gallery, in order; missing, null or []: deleted"
    )


class _Out(BaseModel):
    # What the service renders and what /openapi.json says must agree field for field: a field
    # the schema does not know fails the response (and every HTTP test) instead of vanishing.
    model_config = ConfigDict(extra="forbid")


class MediaItemResult(_Out):
    success: bool
    id: str | SkipJsonSchema[None] = Field(
        None, description="The item's id in media.images or media.videos, on success"
    )
    errorCode: str | SkipJsonSchema[None] = Field(
        None, description="DOWNLOAD_IMAGE_FAILED or DOWNLOAD_VIDEO_FAILED"
    )
    errorMessage: str | SkipJsonSchema[None] = Field(None, description="Which URL failed and why")
    warning: str | SkipJsonSchema[None] = Field(
        None, description="Set on a success that lacks something, such as a video's cover"
    )


class MediaUpdateOut(_Out):
    mainMedia: MediaItemResult | SkipJsonSchema[None] = Field(
        None, description="Present when the request asked to change the main media"
    )
    galleryMedia: list[MediaItemResult] = Field(
        description="One result per requested gallery item, in request order"
    )


def _whole(value: Any) -> Any:
    """JSON Schema's integers include 5.0; Pydantic's strict ones do not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer, written as JSON may write one (5 or 5.0); never a string or a boolean.
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole)]
MAX_QUANTITY = 2**53
# (Pydantic cannot put the bounds of a validated integer in the schema; this does.)
Quantity = Annotated[
    WholeNumber,
    Field(ge=0, le=MAX_QUANTITY),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_QUANTITY}),
]


class AltIn(_In):
    main: StrictStr | None = Field(None, max_length=10_000)
    translated: dict[StrictStr, StrictStr] | None = Field(None, description="By language code")


class ProductImageIn(_In):
    """An item of `media.images` as GET shows it; what PUT reads of it."""

    id: StrictStr | WholeNumber = Field(description='"0" the main image, "1", "2", ... the gallery')
    orderBy: WholeNumber | None = Field(
        None, description="Sort key over the listed gallery images; the main image's is ignored"
    )
    isMain: StrictBool | None = Field(None, description="true makes a gallery image the main one")
    alt: AltIn | None = Field(None, description="Replaces the image's alt text")


class ProductMediaIn(_In):
    images: list[ProductImageIn] | None = None


class ProductUpdateIn(_In):
    """A product as GET returns it, or any part of it: the fields below are read, the rest
    (read-only or not modelled here) ignored. A missing field stays as it is; a null `sku` or
    `description` clears it."""

    name: StrictStr | None = Field(None, min_length=1, max_length=10_000)
    sku: StrictStr | None = Field(None, max_length=255)
    # StrictFloat takes JSON integers too, and gives a plain {"type": "number"} schema that
    # carries the bounds (a float | int union would drop them from /openapi.json).
    price: StrictFloat | None = Field(None, ge=0, le=1e15)
    enabled: StrictBool | None = None
    description: StrictStr | None = None
    quantity: Quantity | None = Field(
        None, description="Items in stock; setting it tracks the stock"
    )
    unlimited: StrictBool | None = Field(None, description="true: unlimited stock, no quantity")
    media: ProductMediaIn | None = Field(None, description="Only media.images is read")


class ProductIn(ProductUpdateIn):
    """A new product: enabled with unlimited stock unless the body says otherwise; `media` is
    ignored (a new product has none)."""

    name: StrictStr = Field(min_length=1, max_length=10_000)
    price: StrictFloat = Field(0, ge=0, le=1e15)


_SIZE_TEXT = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"
MAX_IMAGE_SIZE = 1_000_000_000


def _image_size(value: Any) -> Any:
    """A width or height: a JSON number, or a string holding one (as Ecwid's docs type it).
    Only informative here (the image's own size is what counts), so 0 passes too."""
    if isinstance(value, str):
        if not re.fullmatch(_SIZE_TEXT, value):
            raise PydanticCustomError("size", "must be a number of pixels")
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("size", "must be a number of pixels")
    if not 0 <= value <= MAX_IMAGE_SIZE:
        raise PydanticCustomError("size", "must be from 0 to {limit}", {"limit": MAX_IMAGE_SIZE})
    return value


ImageSize = Annotated[
    float,
    BeforeValidator(_image_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_IMAGE_SIZE},
                {"type": "string", "pattern": _SIZE_TEXT},
            ]
        }
    ),
]


class _Strict(BaseModel):
    # A typo in a media write body must never pass unnoticed: unknown fields are refused.
    model_config = ConfigDict(extra="forbid")


class AsyncAltIn(_Strict):
    main: StrictStr | None = Field(None, max_length=10_000)
    translated: dict[StrictStr, StrictStr] | None = Field(None, description="By language code")


class AsyncImageIn(_Strict):
    # Any string gets through parsing, so that a bad URL is a 422 WRONG_URL (as MediaUrl).
    url: Annotated[StrictStr, WithJsonSchema(_URL_SCHEMA)] = Field(
        description="The image to fetch (http or https)"
    )
    width: ImageSize = Field(description="The image's width, a number or a numeric string")
    height: ImageSize = Field(description="The image's height, a number or a numeric string")
    alt: AsyncAltIn | None = None
    externalId: StrictStr | None = Field(None, max_length=255)


class CreatedOut(_Out):
    id: int


class DeletedOut(_Out):
    deleteCount: int


class UpdatedOut(_Out):
    updateCount: int


class AltOut(_Out):
    main: str | SkipJsonSchema[None] = Field(None, description="Absent when there is none")
    translated: dict[str, str] = Field(description="Alt text by language code")


class ColorOut(_Out):
    red: int
    green: int
    blue: int
    alpha: int


class BorderInfoOut(_Out):
    dominatingColor: ColorOut = Field(description="The colour of most of the image's border")
    homogeneity: bool = Field(description="Whether the border is all about that colour")


class _SizedUrls(_Out):
    image160pxUrl: str = Field(description="Fits in 160x160")
    image400pxUrl: str = Field(description="Fits in 400x400")
    image800pxUrl: str = Field(description="Fits in 800x800")
    image1500pxUrl: str = Field(description="Fits in 1500x1500")
    imageOriginalUrl: str = Field(description="The original file, byte for byte")


class MediaImageOut(_SizedUrls):
    id: str = Field(description='"0" for the main image, then "1", "2", ... in gallery order')
    orderBy: int = Field(description="0 for the main image, else the position in the gallery")
    isMain: bool
    alt: AltOut


class _VideoOut(_Out):
    orderBy: int = Field(description="0 for the main video, else the position in the gallery")
    url: str = Field(description="The stored file, or the provider link as given")
    embedHtml: str = Field(
        description="The provider's iframe player, or a <video> tag with the cover as poster"
    )
    providerName: str = Field(description="YouTube, Vimeo, or empty for a file")
    title: str | SkipJsonSchema[None] = Field(
        None, description="The provider's title; absent for a file or when oEmbed failed"
    )
    videoCoverId: int | SkipJsonSchema[None] = Field(
        None, description="Internal id of the cover image; absent when there is no cover"
    )
    image160pxUrl: str | SkipJsonSchema[None] = None
    image400pxUrl: str | SkipJsonSchema[None] = None
    image800pxUrl: str | SkipJsonSchema[None] = None
    image1500pxUrl: str | SkipJsonSchema[None] = None
    imageOriginalUrl: str | SkipJsonSchema[None] = None


class MediaVideoOut(_VideoOut):
    id: str = Field(description='"0" for the main video, then "1", "2", ... in gallery order')


class GalleryVideoOut(_VideoOut):
    id: int = Field(description="Internal video id, unique in the store")


class VideoUrlIn(_StrictIn):
    # Any string is parsed, so that a bad URL is a 422 WRONG_URL; the schema says what passes.
    url: Annotated[StrictStr, WithJsonSchema(_URL_SCHEMA)] = Field(
        description="A video file (MP4, MOV, WebM) or a YouTube/Vimeo link"
    )


class MediaOut(_Out):
    images: list[MediaImageOut]
    videos: list[MediaVideoOut]


class OriginalImageOut(_Out):
    url: str
    width: int
    height: int


class GalleryImageOut(_Out):
    id: int = Field(description="Internal image id, unique in the store")
    url: str
    thumbnail: str
    originalImageUrl: str
    imageUrl: str
    hdThumbnailUrl: str
    thumbnailUrl: str
    smallThumbnailUrl: str
    width: int
    height: int
    orderBy: int
    alt: AltOut
    borderInfo: BorderInfoOut | SkipJsonSchema[None] = None


class ProductOut(_Out):
    id: int
    sku: str | None = None
    name: str
    price: float
    enabled: bool
    description: str | SkipJsonSchema[None] = Field(None, description="Absent until one is set")
    quantity: int | SkipJsonSchema[None] = Field(None, description="Absent while unlimited")
    unlimited: bool
    inStock: bool
    created: str = Field(description='UTC, e.g. "2024-05-01 10:00:00 +0000"')
    updated: str
    createTimestamp: int = Field(description="Epoch seconds")
    updateTimestamp: int
    categoryIds: list[int]
    borderInfo: BorderInfoOut | SkipJsonSchema[None] = Field(
        None, description="Of the main image; absent without one"
    )
    media: MediaOut
    # The legacy fields of the main image; absent when there is none.
    smallThumbnailUrl: str | SkipJsonSchema[None] = None
    thumbnailUrl: str | SkipJsonSchema[None] = None
    hdThumbnailUrl: str | SkipJsonSchema[None] = None
    imageUrl: str | SkipJsonSchema[None] = None
    originalImageUrl: str | SkipJsonSchema[None] = None
    originalImage: OriginalImageOut | SkipJsonSchema[None] = None
    galleryImages: list[GalleryImageOut]


class ProductsPage(_Out):
    total: int
    count: int
    offset: int
    limit: int
    items: list[ProductOut]


class ErrorOut(_Out):
    errorMessage: str
    errorCode: str


class GeneralInfoOut(_Out):
    storeId: int
    storeUrl: str = Field(description="This service's public base URL (it has no storefront)")


class AccountOut(_Out):
    accountName: str = Field(description="The store's name")


class StoreSettingsOut(_Out):
    storeName: str


class LanguagesOut(_Out):
    enabledLanguages: list[str]
    defaultLanguage: str


class ProfileOut(_Out):
    generalInfo: GeneralInfoOut
    account: AccountOut
    settings: StoreSettingsOut
    languages: LanguagesOut
