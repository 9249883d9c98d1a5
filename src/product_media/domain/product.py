"""A catalog product, as far as this service keeps it."""

from __future__ import annotations

from dataclasses import dataclass, field

from product_media.domain.media import MediaSet


@dataclass(frozen=True)
class Product:
    id: int
    store_id: int
    name: str
    sku: str | None
    price: float
    media: MediaSet = field(default_factory=MediaSet)
