"""What a product write changes (POST and PUT /products): the fields, the stock rule."""

from __future__ import annotations

import pytest

from product_media.domain.product import Product
from product_media.domain.product_edits import KEEP, ProductChanges, stock_after


@pytest.mark.parametrize(
    ("quantity", "unlimited", "new_quantity", "new_unlimited", "after"),
    [
        # Nothing said: as it was.
        (None, True, None, None, (None, True)),
        (7, False, None, None, (7, False)),
        # unlimited: true wins and drops the count, whatever else is said.
        (7, False, None, True, (None, True)),
        (7, False, 3, True, (None, True)),
        # A quantity alone starts counting.
        (None, True, 5, None, (5, False)),
        (7, False, 0, None, (0, False)),
        (7, False, 2, False, (2, False)),
        # unlimited: false alone counts what there was, or nothing.
        (None, True, None, False, (0, False)),
        (7, False, None, False, (7, False)),
    ],
)
def test_stock_after(
    quantity: int | None,
    unlimited: bool,
    new_quantity: int | None,
    new_unlimited: bool | None,
    after: tuple[int | None, bool],
) -> None:
    assert stock_after(quantity, unlimited, new_quantity, new_unlimited) == after


BEFORE = Product(
    id=1,
    store_id=2,
    name="Mug",
    sku="M-1",
    price=5.0,
    description="<p>Blue</p>",
    quantity=3,
    unlimited=False,
)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (ProductChanges(), {}),
        (ProductChanges(name="Cup", price=7.5), {"name": "Cup", "price": 7.5}),
        (ProductChanges(enabled=False), {"enabled": False}),
        (ProductChanges(sku="M-2"), {"sku": "M-2"}),
        (ProductChanges(sku=None), {"sku": None}),
        (ProductChanges(sku=""), {"sku": None}),
        (ProductChanges(sku=KEEP), {}),
        (ProductChanges(description=None), {"description": None}),
        (ProductChanges(description=""), {"description": ""}),
        (ProductChanges(quantity=9), {"quantity": 9}),
        (ProductChanges(unlimited=True), {"quantity": None, "unlimited": True}),
    ],
)
def test_changes_applied(changes: ProductChanges, expected: dict[str, object]) -> None:
    after = changes.applied(BEFORE)
    fields = ("name", "sku", "price", "enabled", "description", "quantity", "unlimited")
    changed = {f: getattr(after, f) for f in fields if getattr(after, f) != getattr(BEFORE, f)}
    assert changed == expected
    assert (after.id, after.store_id, after.media) == (BEFORE.id, BEFORE.store_id, BEFORE.media)


@pytest.mark.parametrize(
    ("product", "in_stock"),
    [
        (Product(1, 1, "a", None, 0), True),
        (Product(1, 1, "a", None, 0, quantity=0, unlimited=False), False),
        (Product(1, 1, "a", None, 0, quantity=2, unlimited=False), True),
    ],
)
def test_in_stock(product: Product, in_stock: bool) -> None:
    assert product.in_stock is in_stock
