"""The store profile: what Ecwid's `GET /profile` gives, of what this service keeps."""

from __future__ import annotations

from anyio.to_thread import run_sync

from product_media.domain.store import Store
from product_media.service.errors import StoreNotFound
from product_media.storage.ports import AccessCatalog


async def get_store(catalog: AccessCatalog, store_id: int) -> Store:
    name = await run_sync(catalog.store_name, store_id)
    if name is None:
        raise StoreNotFound(store_id)
    return Store(store_id, name)
