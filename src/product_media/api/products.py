"""Products: create, get, search, update and delete, with Ecwid's fields."""

from __future__ import annotations

from typing import Annotated, Any

from cachetools import LRUCache
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import TypeAdapter

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
    ProductUpdateIn,
    UpdatedOut,
)
from product_media.api.state import AppState, app_state
from product_media.domain.access import CREATE_CATALOG, READ_CATALOG, UPDATE_CATALOG, Grant
from product_media.domain.image_edits import ImageEdit
from product_media.domain.media import Alt
from product_media.domain.product import Product
from product_media.domain.product_edits import KEEP, ProductChanges, ProductSearch, SortBy
from product_media.service import products

router = APIRouter()

ProductId = Annotated[
    int, Path(alias="productId", gt=0, le=MAX_ID, description="Product id"), PLAIN_DECIMAL
]
MAX_PAGE = 100
# Only requests with a body (POST, PUT) can be too large or of the wrong content type.
READ_ERRORS = documented(400, 403, 404, 429)
WRITE_ERRORS = documented(400, 403, 404, 409, 413, 415, 429)
# Comma-separated product ids, each plain decimal digits.
PRODUCT_IDS = r"^[1-9][0-9]{0,18}(,[1-9][0-9]{0,18})*$"


# The base URLs of the requests seen lately, by what Starlette makes one of: it takes about
# 10 µs a request to make it again.
_BASES: LRUCache[tuple[Any, ...], str] = LRUCache(maxsize=64)


def _base_url(request: Request) -> str:
    scope = request.scope
    key = (
        scope.get("scheme"),
        scope.get("server"),
        scope.get("app_root_path"),
        scope.get("root_path"),
        request.headers.get("host"),
    )
    base = _BASES.get(key)
    if base is None:
        base = _BASES[key] = str(request.base_url)
    return base


def url_maker(request: Request, state: AppState) -> UrlMaker:
    settings = state.settings
    if settings.media_base_url:
        return UrlMaker(settings.media_base_url)
    return UrlMaker(f"{(settings.public_url or _base_url(request)).rstrip('/')}/media")


def _changes(body: ProductUpdateIn) -> ProductChanges:
    given = body.model_fields_set
    return ProductChanges(
        name=body.name,
        sku=body.sku if "sku" in given else KEEP,
        price=None if body.price is None else float(body.price),
        enabled=body.enabled,
        description=body.description if "description" in given else KEEP,
        quantity=body.quantity,
        unlimited=body.unlimited,
    )


def _image_edits(body: ProductUpdateIn) -> list[ImageEdit] | None:
    if body.media is None or body.media.images is None:
        return None
    edits = []
    for item in body.media.images:
        alt = None
        if item.alt is not None:
            alt = Alt(main=item.alt.main or "", translated=dict(item.alt.translated or {}))
        edits.append(
            ImageEdit(id=str(item.id), order_by=item.orderBy, is_main=item.isMain, alt=alt)
        )
    return edits


@router.post("/api/v3/{storeId}/products", response_model=CreatedOut, responses=WRITE_ERRORS)
async def create_product(
    body: ProductIn,
    store_id: StoreId,
    _grant: Annotated[Grant, Depends(require(CREATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    product_id = await products.create_product(
        state.storage, store_id, body.name, body.sku, float(body.price), _changes(body)
    )
    return {"id": product_id}


@router.put(
    "/api/v3/{storeId}/products/{productId}",
    response_model=UpdatedOut,
    responses=WRITE_ERRORS,
    summary="Update a product's fields and its images' order, main image and alt texts",
)
async def update_product(
    body: ProductUpdateIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    await products.update_product(
        state.storage,
        state.adapters.ingest,
        store_id,
        product_id,
        _changes(body),
        _image_edits(body),
    )
    return {"updateCount": 1}


def _product_ids(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    # An id past the largest there can be names no product.
    return tuple(dict.fromkeys(i for i in map(int, text.split(",")) if i <= MAX_ID))


@router.get(
    "/api/v3/{storeId}/products",
    response_model=ProductsPage,
    response_model_exclude_none=True,
    responses=READ_ERRORS,
)
async def list_products(
    request: Request,
    store_id: StoreId,
    grant: Annotated[Grant, Depends(require(READ_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_ID, description="At most 100")] = MAX_PAGE,
    sku: Annotated[str | None, Query(max_length=255)] = None,
    keyword: Annotated[str | None, Query(max_length=1000)] = None,
    product_id: Annotated[
        str | None,
        Query(
            alias="productId",
            max_length=20_000,
            pattern=PRODUCT_IDS,
            description="Comma-separated product ids; the other filters are then ignored",
        ),
    ] = None,
    enabled: Annotated[bool | None, Query()] = None,
    sort_by: Annotated[SortBy | None, Query(alias="sortBy")] = None,
) -> dict[str, Any]:
    limit = min(limit, MAX_PAGE)
    search = ProductSearch(
        sku=sku,
        keyword=keyword,
        product_ids=_product_ids(product_id),
        enabled=enabled,
        # A public token sees what the storefront shows.
        enabled_only=grant.kind == "public",
        sort_by=sort_by,
    )
    total, items = await products.list_products(
        state.storage, store_id, search, offset=offset, limit=limit
    )
    url = url_maker(request, state)
    return {
        "total": total,
        "count": len(items),
        "offset": offset,
        "limit": limit,
        "items": [product_json(product, url) for product in items],
    }


_PRODUCT_OUT = TypeAdapter(ProductOut)


def _product_body(product: Product, url: UrlMaker) -> bytes:
    """The product's JSON as FastAPI makes a `response_model=ProductOut` answer: checked
    against the schema, then written by alias, fields the product lacks left out (legacy
    image fields stay absent; a missing sku stays null)."""
    checked = _PRODUCT_OUT.validate_python(product_json(product, url))
    return _PRODUCT_OUT.dump_json(checked, by_alias=True, exclude_unset=True)


@router.get(
    "/api/v3/{storeId}/products/{productId}",
    response_model=ProductOut,
    responses=READ_ERRORS,
)
async def get_product(
    request: Request,
    store_id: StoreId,
    product_id: ProductId,
    grant: Annotated[Grant, Depends(require(READ_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> Response:
    url = url_maker(request, state)
    body = await products.read_product(
        state.storage,
        state.rendered,
        store_id,
        product_id,
        url.prefix,
        lambda product: _product_body(product, url),
        enabled_only=grant.kind == "public",
    )
    return Response(body, media_type="application/json")


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
