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
