"""Products: create, get, list and delete (enough to attach media to)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from product_media.api.auth import MAX_ID, StoreId, require
from product_media.api.errors import ApiError, documented
from product_media.api.render import UrlMaker, product_json
from product_media.api.schemas import (
    CreatedOut,
    DeletedOut,
    ProductIn,
    ProductOut,
    ProductsPage,
)
from product_media.api.state import AppState, app_state
from product_media.domain.access import CREATE_CATALOG, READ_CATALOG, UPDATE_CATALOG, Grant

router = APIRouter()

ProductId = Annotated[int, Path(alias="productId", gt=0, le=MAX_ID, description="Product id")]
MAX_PAGE = 100
# Only requests with a body (POST, PUT) can be too large or of the wrong content type.
READ_ERRORS = documented(400, 403, 404, 429)
WRITE_ERRORS = documented(400, 403, 404, 413, 415, 429)


def product_not_found(product_id: int) -> ApiError:
    return ApiError(404, "PRODUCT_NOT_FOUND", f"Product #{product_id} is not found")


def url_maker(request: Request, state: AppState) -> UrlMaker:
    return UrlMaker(state.settings.public_url or str(request.base_url))


@router.post("/api/v3/{storeId}/products", response_model=CreatedOut, responses=WRITE_ERRORS)
async def create_product(
    body: ProductIn,
    store_id: StoreId,
    _grant: Annotated[Grant, Depends(require(CREATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    product_id = await run_in_threadpool(
        state.catalog.create_product, store_id, body.name, body.sku, float(body.price)
    )
    return {"id": product_id}


@router.get(
    "/api/v3/{storeId}/products",
    response_model=ProductsPage,
    response_model_exclude_none=True,
    responses=READ_ERRORS,
)
async def list_products(
    request: Request,
    store_id: StoreId,
    _grant: Annotated[Grant, Depends(require(READ_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_ID, description="At most 100")] = MAX_PAGE,
    sku: Annotated[str | None, Query(max_length=255)] = None,
    keyword: Annotated[str | None, Query(max_length=1000)] = None,
) -> dict[str, Any]:
    limit = min(limit, MAX_PAGE)
    total, items = await run_in_threadpool(
        lambda: state.catalog.list_products(
            store_id, offset=offset, limit=limit, sku=sku, keyword=keyword
        )
    )
    url = url_maker(request, state)
    return {
        "total": total,
        "count": len(items),
        "offset": offset,
        "limit": limit,
        "items": [product_json(product, url) for product in items],
    }


@router.get(
    "/api/v3/{storeId}/products/{productId}",
    response_model=ProductOut,
    # Legacy fields the product lacks stay absent; a missing sku stays null.
    response_model_exclude_unset=True,
    responses=READ_ERRORS,
)
async def get_product(
    request: Request,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(READ_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, Any]:
    product = await run_in_threadpool(state.catalog.get_product, store_id, product_id)
    if product is None:
        raise product_not_found(product_id)
    return product_json(product, url_maker(request, state))


@router.delete(
    "/api/v3/{storeId}/products/{productId}", response_model=DeletedOut, responses=READ_ERRORS
)
async def delete_product(
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    released = await run_in_threadpool(state.catalog.delete_product, store_id, product_id)
    if released is None:
        raise product_not_found(product_id)
    await run_in_threadpool(state.catalog.collect_garbage, released, state.blobs.delete)
    return {"deleteCount": 1}
