"""Use cases on products: create, read, list and delete (enough to attach media to)."""

from __future__ import annotations

from anyio.to_thread import run_sync

from product_media.domain.product import Product
from product_media.service.errors import ProductNotFound
from product_media.service.media import collect_after
from product_media.service.ports import Storage


async def create_product(
    storage: Storage, store_id: int, name: str, sku: str | None, price: float
) -> int:
    return await run_sync(storage.catalog.create_product, store_id, name, sku, price)


async def get_product(storage: Storage, store_id: int, product_id: int) -> Product:
    product = await run_sync(storage.catalog.get_product, store_id, product_id)
    if product is None:
        raise ProductNotFound(product_id)
    return product


async def list_products(
    storage: Storage,
    store_id: int,
    *,
    offset: int,
    limit: int,
    sku: str | None,
    keyword: str | None,
) -> tuple[int, list[Product]]:
    return await run_sync(
        lambda: storage.catalog.list_products(
            store_id, offset=offset, limit=limit, sku=sku, keyword=keyword
        )
    )


async def delete_product(storage: Storage, store_id: int, product_id: int) -> None:
    """Delete a product and then the files only it used."""
    released = await run_sync(storage.catalog.delete_product, store_id, product_id)
    if released is None:
        raise ProductNotFound(product_id)
    await collect_after(storage, released)
