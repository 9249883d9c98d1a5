"""Products as Ecwid shows them: `media`, the legacy image fields and `galleryImages`."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from product_media.domain.media import Alt, Blob, Border, Image, ImageFiles, MediaSet, Video
from product_media.domain.product import Product
from product_media.domain.video_links import recognise

_SIZE_FIELDS = {
    160: "image160pxUrl",
    400: "image400pxUrl",
    800: "image800pxUrl",
    1500: "image1500pxUrl",
}
# The older, top-level names of the same sizes.
_LEGACY_SIZE_FIELDS = {
    "smallThumbnailUrl": 160,
    "thumbnailUrl": 400,
    "hdThumbnailUrl": 800,
    "imageUrl": 1500,
}


class UrlMaker:
    """Absolute URLs of blobs: `{prefix}/{key}`, the prefix being this server's /media or the
    base URL of a CDN in front of the blob store."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    def __call__(self, blob: Blob) -> str:
        return f"{self.prefix}/{blob.key}"


def _alt(alt: Alt | None) -> dict[str, Any]:
    """Always there, as on Ecwid: {"translated": {}} when the image has none."""
    shown: dict[str, Any] = {"translated": dict(alt.translated) if alt else {}}
    if alt is not None and alt.main:
        shown["main"] = alt.main
    return {"alt": shown}


def _border_info(files: ImageFiles) -> dict[str, Any]:
    border: Border | None = files.border
    if border is None:
        return {}
    colour = {"red": border.red, "green": border.green, "blue": border.blue, "alpha": border.alpha}
    return {"borderInfo": {"dominatingColor": colour, "homogeneity": border.homogeneity}}


def _sized(files: ImageFiles, url: UrlMaker) -> dict[str, str]:
    fields = {_SIZE_FIELDS[size]: url(blob) for size, blob in files.derived.items()}
    fields["imageOriginalUrl"] = url(files.original)
    return fields


# The provider's player, 16:9 and as wide as its container.
_IFRAME = (
    '<div style="position:relative;width:100%;padding-top:56.25%">'
    '<iframe src="{src}" title="{title}" loading="lazy" allow="{allow}" allowfullscreen '
    'referrerpolicy="strict-origin-when-cross-origin" '
    'style="position:absolute;top:0;left:0;width:100%;height:100%;border:0"></iframe></div>'
)
_ALLOW = {
    "YouTube": "accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; "
    "picture-in-picture; web-share",
    "Vimeo": "autoplay; fullscreen; picture-in-picture; clipboard-write",
}


def _embed_html(video: Video, url: UrlMaker) -> str:
    """A file's <video> tag (its cover as poster), or a provider's iframe player."""
    source = video.source
    if source.file is None:
        link = recognise(source.url or "")
        if link is None:
            return ""
        title = source.title or f"{link.provider} video"
        return _IFRAME.format(
            src=escape(link.player_url), title=escape(title), allow=_ALLOW[link.provider]
        )
    poster = ""
    if source.cover is not None:
        poster = f' poster="{escape(url(source.cover.derived.get(1500, source.cover.original)))}"'
    return (
        f'<video controls preload="metadata" playsinline style="max-width:100%"{poster}>'
        f'<source src="{escape(url(source.file))}" type="{escape(source.file.content_type)}">'
        "</video>"
    )


def video_json(video: Video, video_id: str | int, order_by: int, url: UrlMaker) -> dict[str, Any]:
    """A video as `media.videos[]` shows it; title and cover fields only when it has them."""
    source = video.source
    fields: dict[str, Any] = {
        "id": video_id,
        "orderBy": order_by,
        "url": url(source.file) if source.file is not None else (source.url or ""),
        "embedHtml": _embed_html(video, url),
        "providerName": source.provider_name,
    }
    if source.title:
        fields["title"] = source.title
    if video.cover_id is not None:
        fields["videoCoverId"] = video.cover_id
    if source.cover is not None:
        fields.update(_sized(source.cover, url))
    return fields


def _media_image(image: Image, image_id: str, order_by: int, url: UrlMaker) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": image_id, "orderBy": order_by, "isMain": image_id == "0"}
    fields.update(_sized(image.files, url))
    fields.update(_alt(image.alt))
    return fields


def _legacy_urls(files: ImageFiles, url: UrlMaker) -> dict[str, str]:
    fields = {name: url(files.derived[size]) for name, size in _LEGACY_SIZE_FIELDS.items()}
    fields["originalImageUrl"] = url(files.original)
    return fields


def _gallery_image(image: Image, order_by: int, url: UrlMaker) -> dict[str, Any]:
    files = image.files
    urls = _legacy_urls(files, url)
    fields: dict[str, Any] = {
        "id": image.id,
        "url": urls["originalImageUrl"],
        "thumbnail": urls["smallThumbnailUrl"],
        **urls,
        "width": files.width,
        "height": files.height,
        "orderBy": order_by,
    }
    fields.update(_alt(image.alt))
    fields.update(_border_info(files))
    return fields


def _legacy(image: Image | None, url: UrlMaker) -> dict[str, Any]:
    if image is None:
        return {}
    files = image.files
    fields: dict[str, Any] = _legacy_urls(files, url)
    fields["originalImage"] = {
        "url": fields["originalImageUrl"],
        "width": files.width,
        "height": files.height,
    }
    fields.update(_border_info(files))
    return fields


def media_fields(media: MediaSet, url: UrlMaker) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    videos: list[dict[str, Any]] = []
    gallery_images: list[dict[str, Any]] = []
    if media.main_image is not None:
        images.append(_media_image(media.main_image, "0", 0, url))
    if media.main_video is not None:
        videos.append(video_json(media.main_video, "0", 0, url))
    for order_by, item in enumerate(media.gallery, start=1):
        if isinstance(item, Image):
            images.append(_media_image(item, str(len(gallery_images) + 1), order_by, url))
            gallery_images.append(_gallery_image(item, order_by, url))
        else:
            gallery_videos = len(videos) - (media.main_video is not None)
            videos.append(video_json(item, str(gallery_videos + 1), order_by, url))
    fields: dict[str, Any] = {"media": {"images": images, "videos": videos}}
    fields.update(_legacy(media.main_image, url))
    fields["galleryImages"] = gallery_images
    return fields


def _time(moment: datetime | None) -> dict[str, Any]:
    """Ecwid's two spellings of a moment: "2024-05-01 10:00:00 +0000" and epoch seconds."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return {"text": moment.strftime("%Y-%m-%d %H:%M:%S +0000"), "epoch": int(moment.timestamp())}


def product_json(product: Product, url: UrlMaker) -> dict[str, Any]:
    created, updated = _time(product.created), _time(product.updated)
    fields: dict[str, Any] = {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "price": product.price,
        "enabled": product.enabled,
        "unlimited": product.unlimited,
        "inStock": product.in_stock,
        "created": created["text"],
        "updated": updated["text"],
        "createTimestamp": created["epoch"],
        "updateTimestamp": updated["epoch"],
        "categoryIds": [],
    }
    if product.description is not None:
        fields["description"] = product.description
    if not product.unlimited:
        fields["quantity"] = product.quantity or 0
    fields.update(media_fields(product.media, url))
    return fields
