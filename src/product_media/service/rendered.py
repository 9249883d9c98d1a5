"""Products as last rendered, each beside the revision it was rendered from.

An entry is served only while the catalog still holds that revision, which every write to the
product or its media bumps in its own transaction: so a write on any replica takes effect on
every replica's next read, and no entry can outlive it. The least recently read entries go
first when the cache is over its size.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from cachetools import LRUCache

from product_media.domain.product import Product


@dataclass(frozen=True)
class Rendered:
    revision: int
    enabled: bool
    body: bytes


def _size(entry: Rendered) -> int:
    return len(entry.body)


class RenderedProducts:
    """At most `max_bytes` of rendered products (0: none kept), by product id and `variant`
    (what else the rendering depended on, such as the base of media URLs)."""

    def __init__(self, max_bytes: int) -> None:
        self.enabled = max_bytes > 0
        self._entries: LRUCache[tuple[int, Hashable], Rendered] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=_size
        )

    def get(self, product_id: int, variant: Hashable, revision: int) -> Rendered | None:
        found = self._entries.get((product_id, variant))
        return found if found is not None and found.revision == revision else None

    def put(self, product: Product, variant: Hashable, body: bytes) -> Rendered:
        entry = Rendered(product.revision, product.enabled, body)
        if self.enabled and len(body) <= self._entries.maxsize:
            self._entries[(product.id, variant)] = entry
        return entry
