"""A catalog product, as far as this service keeps it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from product_media.domain.media import MediaSet


@dataclass(frozen=True)
class Product:
    """`quantity` is None while the stock is `unlimited`; `created` and `updated` are None
    only for products that never reached a catalog."""

    id: int
    store_id: int
    name: str
    sku: str | None
    price: float
    media: MediaSet = field(default_factory=MediaSet)
    enabled: bool = True
    description: str | None = None
    quantity: int | None = None
    unlimited: bool = True
    created: datetime | None = None
    updated: datetime | None = None
    # Grows with every write to the product or its media: what was read or made from one
    # revision of the product is current while the catalog still holds that revision.
    revision: int = 0

    @property
    def in_stock(self) -> bool:
        return self.unlimited or (self.quantity or 0) > 0
