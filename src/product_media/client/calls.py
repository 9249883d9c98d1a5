"""Each endpoint as a description of one call: method, path under the store, body, whether it
is safe to repeat, and the model of its answer. The sync and async clients send them alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from product_media.client.models import (
    AsyncImage,
    Created,
    Deleted,
    GalleryVideo,
    MediaUpdate,
    MediaUpdateResult,
    NewProduct,
    Product,
    ProductsPage,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def _model(cls: type[M]) -> Callable[[Any], M]:
    return cls.model_validate


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request. `safe_to_repeat`: sending it twice leaves the store as sending it once
    does, so it may be retried after an answer that was lost."""

    method: str
    path: str
    parse: Callable[[Any], T]
    safe_to_repeat: bool
    params: Mapping[str, str | int] | None = None
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None


def _product(product_id: int) -> str:
    return f"/products/{int(product_id)}"


def _body(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


def get_product(product_id: int) -> Call[Product]:
    return Call("GET", _product(product_id), _model(Product), True)


def search_products(
    *,
    sku: str | None = None,
    keyword: str | None = None,
    offset: int = 0,
    limit: int = 100,
    **filters: str | int,
) -> Call[ProductsPage]:
    params: dict[str, str | int] = {"offset": offset, "limit": limit, **filters}
    if sku is not None:
        params["sku"] = sku
    if keyword is not None:
        params["keyword"] = keyword
    return Call("GET", "/products", _model(ProductsPage), True, params=params)


def create_product(product: NewProduct) -> Call[Created]:
    # A second product would be made if a lost answer were retried.
    return Call("POST", "/products", _model(Created), False, json=_body(product))


def delete_product(product_id: int) -> Call[Deleted]:
    return Call("DELETE", _product(product_id), _model(Deleted), True)


def update_media(product_id: int, update: MediaUpdate) -> Call[MediaUpdateResult]:
    # exclude_none drops a None `mainMedia` (keep the main media) and a None `galleryMedia`
    # (which the API reads as "delete the gallery", as it reads []).
    body = update.model_dump(mode="json", exclude_none=True)
    return Call("PUT", f"{_product(product_id)}/media", _model(MediaUpdateResult), True, json=body)


def _upload(
    method: str,
    path: str,
    data: bytes | None,
    external_url: str | None,
    content_type: str,
    safe_to_repeat: bool,
    extra: Mapping[str, str] | None = None,
) -> Call[Created]:
    if (data is None) == (external_url is None):
        raise ValueError("give either the image bytes or external_url")
    params: dict[str, str | int] = dict(extra or {})
    if external_url is not None:
        params["externalUrl"] = external_url
    return Call(
        method,
        path,
        _model(Created),
        safe_to_repeat,
        params=params or None,
        content=data if data is not None else b"",
        content_type=content_type if data is not None else None,
    )


def upload_main_image(
    product_id: int,
    data: bytes | None = None,
    *,
    external_url: str | None = None,
    content_type: str = "application/octet-stream",
) -> Call[Created]:
    # Replaces the main image: a repeat leaves the same picture.
    return _upload("POST", f"{_product(product_id)}/image", data, external_url, content_type, True)


def upload_gallery_image(
    product_id: int,
    data: bytes | None = None,
    *,
    external_url: str | None = None,
    file_name: str | None = None,
    content_type: str = "application/octet-stream",
) -> Call[Created]:
    # Appends: a repeat would add the image twice.
    extra = {"fileName": file_name} if file_name else None
    return _upload(
        "POST", f"{_product(product_id)}/gallery", data, external_url, content_type, False, extra
    )


def upload_main_image_async(product_id: int, image: AsyncImage) -> Call[Created]:
    return Call(
        "POST", f"{_product(product_id)}/image/async", _model(Created), False, json=_body(image)
    )


def upload_gallery_image_async(product_id: int, image: AsyncImage) -> Call[Created]:
    return Call(
        "POST", f"{_product(product_id)}/gallery/async", _model(Created), False, json=_body(image)
    )


def delete_main_image(product_id: int) -> Call[Deleted]:
    return Call("DELETE", f"{_product(product_id)}/image", _model(Deleted), True)


def delete_gallery_item(product_id: int, item_id: int) -> Call[Deleted]:
    """A gallery image (`galleryImages[].id`) or a gallery video, by internal id."""
    return Call("DELETE", f"{_product(product_id)}/gallery/{int(item_id)}", _model(Deleted), True)


def delete_gallery_images(product_id: int) -> Call[Deleted]:
    return Call("DELETE", f"{_product(product_id)}/gallery", _model(Deleted), True)


def upload_main_video(product_id: int, url: str) -> Call[Created]:
    # Replaces the main video.
    return Call("POST", f"{_product(product_id)}/video", _model(Created), True, json={"url": url})


def upload_gallery_video(product_id: int, url: str) -> Call[Created]:
    return Call(
        "POST", f"{_product(product_id)}/gallery/video", _model(Created), False, json={"url": url}
    )


def delete_main_video(product_id: int) -> Call[Deleted]:
    return Call("DELETE", f"{_product(product_id)}/video", _model(Deleted), True)


def get_gallery_video(product_id: int, video_id: int) -> Call[GalleryVideo]:
    path = f"{_product(product_id)}/gallery/video/{int(video_id)}"
    return Call("GET", path, _model(GalleryVideo), True)


def upload_gallery_video_cover(
    product_id: int,
    video_id: int,
    data: bytes | None = None,
    *,
    external_url: str | None = None,
) -> Call[Created]:
    path = f"{_product(product_id)}/gallery/video/{int(video_id)}"
    return _upload("PUT", path, data, external_url, "image/jpeg", True)
