"""Products: create, get, list and delete (enough to attach media to)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from product_media.api.auth import StoreId, require
from product_media.api.errors import documented
from product_media.api.ids import MAX_ID, PLAIN_DECIMAL
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
from product_media.service import products

router = APIRouter()

ProductId = Annotated[
    int, Path(alias="productId", gt=0, le=MAX_ID, description="Product id"), PLAIN_DECIMAL
]
MAX_PAGE = 100
# Only requests with a body (POST, PUT) can be too large or of the wrong content type.
READ_ERRORS = documented(400, 403, 404, 429)
WRITE_ERRORS = documented(400, 403, 404, 413, 415, 429)


def url_maker(request: Request, state: AppState) -> UrlMaker:
    settings = state.settings
    if settings.media_base_url:
        return UrlMaker(settings.media_base_url)
    return UrlMaker(f"{(settings.public_url or str(request.base_url)).rstrip('/')}/media")


@router.post("/api/v3/{storeId}/products", response_model=CreatedOut, responses=WRITE_ERRORS)
async def create_product(
    body: ProductIn,
    store_id: StoreId,
    _grant: Annotated[Grant, Depends(require(CREATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    product_id = await products.create_product(
        state.storage, store_id, body.name, body.sku, float(body.price)
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
    total, items = await products.list_products(
        state.storage, store_id, offset=offset, limit=limit, sku=sku, keyword=keyword
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
    product = await products.get_product(state.storage, store_id, product_id)
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
    await products.delete_product(state.storage, store_id, product_id)
    return {"deleteCount": 1}
