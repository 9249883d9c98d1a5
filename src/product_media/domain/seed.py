"""What a seed file asks for: stores with their tokens and products, each with a given id, so
that applying it twice changes nothing the first time did not."""

from __future__ import annotations

from dataclasses import dataclass

from product_media.domain.access import TokenKind
from product_media.domain.media_update import MediaUpdate


@dataclass(frozen=True)
class SeedToken:
    token: str
    kind: TokenKind
    scopes: frozenset[str]


@dataclass(frozen=True)
class SeedProduct:
    id: int
    name: str
    sku: str | None = None
    price: float = 0.0
    # A PUT .../media body, checked; None: no media.
    media: MediaUpdate | None = None


@dataclass(frozen=True)
class SeedStore:
    id: int
    name: str = ""
    tokens: tuple[SeedToken, ...] = ()
    products: tuple[SeedProduct, ...] = ()


@dataclass(frozen=True)
class Seed:
    stores: tuple[SeedStore, ...] = ()


class SeedConflict(Exception):
    """The seed asks for what the catalog holds otherwise (a product id of another store, a
    token of another store, a taken SKU); nothing was written."""
