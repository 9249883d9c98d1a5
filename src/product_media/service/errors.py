"""What a use case can refuse, in the domain's words; the HTTP edge picks the status."""

from __future__ import annotations


class ProductNotFound(Exception):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"Product #{product_id} is not found")
        self.product_id = product_id


class StoreNotFound(Exception):
    def __init__(self, store_id: int) -> None:
        super().__init__(f"Store {store_id} is not found")
        self.store_id = store_id


class UpdateInterrupted(Exception):
    """The update could not be committed (its server was taken for dead mid-way); nothing
    changed and it can be sent again."""


class SkuAlreadyExists(Exception):
    """Another product of the store has that SKU; nothing changed."""


class Unusable(Exception):
    """A source named or sent for one image or video cannot be used; nothing changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ImageUnusable(Unusable):
    """`code` is INVALID_IMAGE (the bytes sent) or DOWNLOAD_IMAGE_FAILED (the URL given)."""


class VideoUnusable(Unusable):
    """`code` is NOT_VIDEO_URL (a page, an image, no video stream), VIDEO_NOT_SUPPORTED (over
    a limit, a container or codec not allowed) or VIDEO_UNAVAILABLE (cannot be fetched, or
    broken)."""
