"""What a product write (POST /products, PUT /products/{id}) changes, and how products are
searched: pure rules."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from product_media.domain.product import Product


class _Keep(enum.Enum):
    KEEP = "keep"


# A nullable field left as it is (None would clear it).
KEEP = _Keep.KEEP


@dataclass(frozen=True)
class ProductChanges:
    """The fields a request sets. None leaves `name`, `price`, `enabled`, `quantity` and
    `unlimited` as they are; `sku` and `description` are cleared by None and kept by KEEP."""

    name: str | None = None
    sku: str | _Keep | None = KEEP
    price: float | None = None
    enabled: bool | None = None
    description: str | _Keep | None = KEEP
    quantity: int | None = None
    unlimited: bool | None = None

    def applied(self, product: Product) -> Product:
        """`product` with these changes; the stock follows `stock_after`."""
        quantity, unlimited = stock_after(
            product.quantity, product.unlimited, self.quantity, self.unlimited
        )
        return replace(
            product,
            name=product.name if self.name is None else self.name,
            sku=product.sku if self.sku is KEEP else (self.sku or None),
            price=product.price if self.price is None else self.price,
            enabled=product.enabled if self.enabled is None else self.enabled,
            description=product.description if self.description is KEEP else self.description,
            quantity=quantity,
            unlimited=unlimited,
        )


def stock_after(
    quantity: int | None, unlimited: bool, new_quantity: int | None, new_unlimited: bool | None
) -> tuple[int | None, bool]:
    """(quantity, unlimited) after a write: `unlimited: true` wins and drops the quantity; a
    quantity alone starts tracking the stock; `unlimited: false` alone tracks what there was
    (0 if nothing was counted)."""
    if new_unlimited is True:
        return None, True
    if new_quantity is not None:
        return new_quantity, False
    if new_unlimited is False:
        return (quantity or 0), False
    return quantity, unlimited


class SortBy(enum.StrEnum):
    """Product search orders, Ecwid's names."""

    ADDED_TIME_ASC = "ADDED_TIME_ASC"
    ADDED_TIME_DESC = "ADDED_TIME_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    SKU_ASC = "SKU_ASC"
    SKU_DESC = "SKU_DESC"
    UPDATED_TIME_DESC = "UPDATED_TIME_DESC"


@dataclass(frozen=True)
class ProductSearch:
    """A product search. `product_ids`, when given, names the products and the other filters
    are ignored (as on Ecwid); `enabled_only` is the public tokens' view, which always holds."""

    sku: str | None = None
    keyword: str | None = None
    product_ids: tuple[int, ...] | None = None
    enabled: bool | None = None
    enabled_only: bool = False
    sort_by: SortBy | None = None
