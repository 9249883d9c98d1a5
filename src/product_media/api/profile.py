"""GET /api/v3/{storeId}/profile: the store's id, URL, name and languages, for any of its
tokens (storefront clients read it first, with a public token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from product_media.api.auth import StoreId, require
from product_media.api.errors import documented
from product_media.api.schemas import ProfileOut
from product_media.api.state import AppState, app_state
from product_media.domain.access import Grant
from product_media.service import profile

router = APIRouter()

LANGUAGE = "en"


@router.get(
    "/api/v3/{storeId}/profile",
    response_model=ProfileOut,
    responses=documented(400, 403, 404, 429),
    summary="The store's profile: id, URL, name and languages",
)
async def get_profile(
    request: Request,
    store_id: StoreId,
    _grant: Annotated[Grant, Depends(require(None))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, Any]:
    store = await profile.get_store(state.adapters.catalog, store_id)
    # The service has no storefront of its own: its public base is where the store is served.
    store_url = (state.settings.public_url or str(request.base_url)).rstrip("/")
    return {
        "generalInfo": {"storeId": store.id, "storeUrl": store_url},
        "account": {"accountName": store.name},
        "settings": {"storeName": store.name},
        "languages": {"enabledLanguages": [LANGUAGE], "defaultLanguage": LANGUAGE},
    }
