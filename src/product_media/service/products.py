"""Use cases on products: create, read, search, update and delete."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from anyio.to_thread import run_sync

from product_media.domain.image_edits import ImageEdit, edit_images
from product_media.domain.media import MediaSet
from product_media.domain.plan import Fetched
from product_media.domain.product import Product
from product_media.domain.product_edits import ProductChanges, ProductSearch
from product_media.domain.update_report import UpdateReport
from product_media.service.errors import ProductNotFound, SkuAlreadyExists
from product_media.service.media import collect_after, write_media
from product_media.service.ports import Ingest, Storage
from product_media.service.rendered import Rendered, RenderedProducts
from product_media.storage.ports import SkuTaken


async def create_product(
    storage: Storage,
    store_id: int,
    name: str,
    sku: str | None,
    price: float,
    changes: ProductChanges | None = None,
) -> int:
    """A new product: enabled, unlimited stock, no description, then `changes`. Raises
    SkuAlreadyExists."""
    try:
        return await run_sync(storage.catalog.create_product, store_id, name, sku, price, changes)
    except SkuTaken as exc:
        raise SkuAlreadyExists(str(exc)) from exc


async def get_product(
    storage: Storage, store_id: int, product_id: int, *, enabled_only: bool = False
) -> Product:
    """Raises ProductNotFound, also for a disabled product when `enabled_only` (a public
    token's view)."""
    product = await run_sync(storage.catalog.get_product, store_id, product_id)
    if product is None or (enabled_only and not product.enabled):
        raise ProductNotFound(product_id)
    return product


async def last_media_update(
    storage: Storage, store_id: int, product_id: int
) -> UpdateReport | None:
    """What the product's last media update asked for and what became of each item."""
    return await run_sync(storage.catalog.update_report, store_id, product_id)


async def read_product(
    storage: Storage,
    rendered: RenderedProducts,
    store_id: int,
    product_id: int,
    variant: Hashable,
    render: Callable[[Product], bytes],
    *,
    enabled_only: bool = False,
) -> bytes:
    """The product as `render` makes it: from `rendered` while the catalog holds the revision
    it was made from (one lookup by primary key), else loaded, rendered and kept. Raises
    ProductNotFound as get_product does."""
    entry: Rendered | None = None
    if rendered.enabled:
        revision = await run_sync(storage.catalog.product_revision, store_id, product_id)
        if revision is None:
            raise ProductNotFound(product_id)
        entry = rendered.get(product_id, variant, revision)
    if entry is None:
        # Kept under the revision it was read with, in one snapshot with its media: a write
        # since the lookup above is either in it or makes it stale at the next lookup.
        product = await run_sync(storage.catalog.get_product, store_id, product_id)
        if product is None:
            raise ProductNotFound(product_id)
        entry = rendered.put(product, variant, render(product))
    if enabled_only and not entry.enabled:
        raise ProductNotFound(product_id)
    return entry.body


async def list_products(
    storage: Storage, store_id: int, search: ProductSearch, *, offset: int, limit: int
) -> tuple[int, list[Product]]:
    return await run_sync(
        lambda: storage.catalog.list_products(store_id, search, offset=offset, limit=limit)
    )


async def update_product(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    changes: ProductChanges,
    image_edits: Sequence[ImageEdit] | None,
) -> None:
    """Change a product's fields and, with `image_edits`, its images' order, main image and
    alt texts, in one transaction on the one write path. Raises ProductNotFound,
    SkuAlreadyExists and UnknownImage (nothing changes)."""

    def decide(current: MediaSet, _fetched: Fetched) -> tuple[MediaSet, None]:
        return (current if image_edits is None else edit_images(current, image_edits)), None

    try:
        # Nothing is fetched, so neither the ingest share nor the time limit comes into play.
        await write_media(
            storage,
            ingest,
            store_id,
            product_id,
            (),
            decide,
            token="",
            time_limit=0,
            changes=changes,
        )
    except SkuTaken as exc:
        raise SkuAlreadyExists(str(exc)) from exc


async def delete_product(storage: Storage, store_id: int, product_id: int) -> None:
    """Delete a product and then the files only it used."""
    released = await run_sync(storage.catalog.delete_product, store_id, product_id)
    if released is None:
        raise ProductNotFound(product_id)
    await collect_after(storage, released)
