"""A typed client of the Ecwid REST API v3 product and media endpoints, sync and async; the
same code talks to `https://app.ecwid.com/api/v3` and to this service."""

from product_media.client.clients import (
    DEFAULT_TIMEOUT,
    ECWID_BASE_URL,
    AsyncEcwidClient,
    EcwidClient,
)
from product_media.client.errors import (
    ApiError,
    ConnectionFailed,
    EcwidError,
    UnexpectedAnswer,
)
from product_media.client.models import (
    Alt,
    AsyncImage,
    Created,
    Deleted,
    GalleryImage,
    GalleryVideo,
    MediaImage,
    MediaItemResult,
    MediaSource,
    MediaUpdate,
    MediaUpdateResult,
    MediaVideo,
    NewProduct,
    Product,
    ProductMedia,
    ProductsPage,
    Updated,
)
from product_media.client.retry import RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "ECWID_BASE_URL",
    "Alt",
    "ApiError",
    "AsyncEcwidClient",
    "AsyncImage",
    "ConnectionFailed",
    "Created",
    "Deleted",
    "EcwidClient",
    "EcwidError",
    "GalleryImage",
    "GalleryVideo",
    "MediaImage",
    "MediaItemResult",
    "MediaSource",
    "MediaUpdate",
    "MediaUpdateResult",
    "MediaVideo",
    "NewProduct",
    "Product",
    "ProductMedia",
    "ProductsPage",
    "RetryPolicy",
    "UnexpectedAnswer",
    "Updated",
]
