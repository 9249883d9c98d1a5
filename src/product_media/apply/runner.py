"""Applies a manifest's rows through the client, several at a time; or, in a dry run, reads
each product and works out what the row would change. Every row ends as a `RowResult`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from product_media.apply.journal import Journal
from product_media.apply.manifest import GALLERY_POSITION, MAIN_POSITION, BadRow, Parsed, Row
from product_media.apply.plan import Diff, diff, media_update
from product_media.apply.report import Outcome
from product_media.client import ApiError, AsyncEcwidClient, ConnectionFailed, Product
from product_media.client.models import MediaItemResult, MediaUpdateResult

DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"

SKU_NOT_FOUND = "SKU_NOT_FOUND"
CONNECTION_FAILED = "CONNECTION_FAILED"
NO_RESULT = "NO_RESULT"


class CannotRun(Exception):
    """The service cannot be used at all: nothing was sent."""


@dataclass(frozen=True)
class RowResult:
    line: int
    product: str
    status: str
    outcomes: tuple[Outcome, ...]
    diff: Diff | None = None


@dataclass
class Totals:
    rows: dict[str, int] = field(default_factory=lambda: {DONE: 0, FAILED: 0, SKIPPED: 0})
    items_succeeded: int = 0
    items_failed: int = 0

    def add(self, result: RowResult) -> None:
        self.rows[result.status] += 1
        if result.status == SKIPPED:
            return
        for outcome in result.outcomes:
            if outcome.success:
                self.items_succeeded += 1
            else:
                self.items_failed += 1


class _RowFailed(Exception):
    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def check_service(client: AsyncEcwidClient) -> None:
    """One read of the store before any row: a wrong address, store or token stops here."""
    try:
        await client.search_products(limit=1)
    except ApiError as exc:
        raise CannotRun(f"cannot use store {client.store_id} at {client.base_url}: {exc}") from exc
    except ConnectionFailed as exc:
        raise CannotRun(f"cannot reach {client.base_url}: {exc}") from exc


def _failed(
    line: int, product: str, items: Sequence[tuple[str, str]], code: str | None, message: str
) -> RowResult:
    outcomes = tuple(
        Outcome(product, line, position, url, False, code, message) for position, url in items
    )
    return RowResult(line, product, FAILED, outcomes)


def _bad(row: BadRow) -> RowResult:
    items = [(item.position, item.url) for item in row.items]
    return _failed(row.line, row.product, items, row.error_code, row.message)


def _items(row: Row) -> list[tuple[str, str]]:
    return [(item.position, item.url) for item in row.items()]


async def _find(client: AsyncEcwidClient, row: Row) -> Product:
    """The product the row names, as it is now."""
    sku = row.product.sku
    if row.product.product_id is not None:
        return await client.get_product(row.product.product_id)
    page = await client.search_products(sku=sku, limit=100)
    exact = [product for product in page.items if product.sku == sku]
    found = exact or page.items
    if not found:
        raise _RowFailed(SKU_NOT_FOUND, f"no product has SKU {sku}")
    return found[0]


async def _product_id(client: AsyncEcwidClient, row: Row) -> int:
    if row.product.product_id is not None:
        return row.product.product_id
    return (await _find(client, row)).id


def _outcomes(row: Row, product: str, result: MediaUpdateResult) -> tuple[Outcome, ...]:
    outcomes = []
    for position, url in _items(row):
        item: MediaItemResult | None
        if position == GALLERY_POSITION:
            item = MediaItemResult(success=True)
        elif position == MAIN_POSITION:
            item = result.mainMedia
        else:
            index = int(position) - 1
            item = result.galleryMedia[index] if index < len(result.galleryMedia) else None
        if item is None:
            item = MediaItemResult(
                success=False, errorCode=NO_RESULT, errorMessage="the answer has no result for it"
            )
        outcomes.append(
            Outcome(
                product, row.line, position, url, item.success, item.errorCode, item.errorMessage
            )
        )
    return tuple(outcomes)


def _row_failed(row: Row, product: str, exc: _RowFailed | ApiError | ConnectionFailed) -> RowResult:
    """Every item of the row failed, for the reason `exc` gives."""
    if isinstance(exc, _RowFailed):
        code, message = exc.code, exc.message
    elif isinstance(exc, ApiError):
        code, message = exc.error_code, exc.error_message
    else:
        code, message = CONNECTION_FAILED, str(exc)
    return _failed(row.line, product, _items(row), code, message)


async def _apply_row(client: AsyncEcwidClient, row: Row) -> RowResult:
    product = str(row.product)
    try:
        product_id = await _product_id(client, row)
        product = str(product_id)
        result = await client.update_media(product_id, media_update(row))
    except (_RowFailed, ApiError, ConnectionFailed) as exc:
        return _row_failed(row, product, exc)
    outcomes = _outcomes(row, product, result)
    status = DONE if all(outcome.success for outcome in outcomes) else FAILED
    return RowResult(row.line, product, status, outcomes)


async def _plan_row(client: AsyncEcwidClient, row: Row) -> RowResult:
    product = str(row.product)
    try:
        found = await _find(client, row)
    except (_RowFailed, ApiError, ConnectionFailed) as exc:
        return _row_failed(row, product, exc)
    product = str(found.id)
    outcomes = tuple(
        Outcome(product, row.line, position, url, True) for position, url in _items(row)
    )
    return RowResult(row.line, product, DONE, outcomes, diff(row, found))


def _skipped(row: Row) -> RowResult:
    message = "skipped: applied by an earlier run (journal)"
    outcomes = tuple(
        Outcome(str(row.product), row.line, position, url, True, None, message)
        for position, url in _items(row)
    )
    return RowResult(row.line, str(row.product), SKIPPED, outcomes)


async def run(
    client: AsyncEcwidClient,
    parsed: Sequence[Parsed],
    *,
    concurrency: int,
    dry_run: bool = False,
    journal: Journal | None = None,
    on_row: Callable[[RowResult], None] = lambda result: None,
) -> list[RowResult]:
    """Every row's result, in the manifest's order. Rows are taken in order by `concurrency`
    workers; in a dry run nothing is written and no journal entry is made."""
    results: list[RowResult | None] = [None] * len(parsed)
    pending = iter(range(len(parsed)))

    async def one(entry: Parsed) -> RowResult:
        if isinstance(entry, BadRow):
            return _bad(entry)
        if journal is not None and journal.succeeded(entry):
            return _skipped(entry)
        if dry_run:
            return await _plan_row(client, entry)
        result = await _apply_row(client, entry)
        if journal is not None:
            journal.record(entry, result.status == DONE)
        return result

    async def worker() -> None:
        for index in pending:
            result = await one(parsed[index])
            results[index] = result
            on_row(result)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return [result for result in results if result is not None]
