"""The media page (DESIGN section 9): the stores a reader's tokens open, their products with
thumbnails, and one product's media in order with the results of its last media update.
Server-rendered by Jinja2 with every value escaped; no script, no asset from elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from product_media.api.ids import MAX_ID
from product_media.api.page_session import (
    MAX_TOKENS,
    RateLimited,
    Reader,
    cookie_tokens,
    form_allowed,
    form_key,
    grant_of,
    keep_tokens,
    reader,
    set_form_key,
)
from product_media.api.page_view import media_view, thumbnail
from product_media.api.products import url_maker
from product_media.api.render import UrlMaker
from product_media.api.state import AppState, app_state, state_of
from product_media.domain.access import Grant
from product_media.domain.product_edits import ProductSearch
from product_media.service import products, profile
from product_media.service.errors import ProductNotFound

router = APIRouter(include_in_schema=False)

# The routes that take the page's forms (api.limits lets their bodies through).
FORM_ROUTES = [("POST", "/page/tokens"), ("POST", "/page/logout")]
PAGE_SIZE = 50
_MAX_FORM_BYTES = 4096
_PROVIDER_PLAYERS = "https://www.youtube-nocookie.com https://player.vimeo.com"

_TEMPLATES = Environment(
    loader=PackageLoader("product_media.api", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
)
_STYLE = files("product_media.api").joinpath("templates/page.css").read_bytes()

State = Annotated[AppState, Depends(app_state)]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _headers(urls: UrlMaker) -> dict[str, str]:
    """No script at all, media only from this server (or where its media URLs point)."""
    media = f"'self' {_origin(urls.prefix)}"
    policy = (
        "default-src 'none'; style-src 'self'; "
        f"img-src {media}; media-src {media}; frame-src {_PROVIDER_PLAYERS}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def _page(
    request: Request,
    state: AppState,
    template: str,
    status: int = 200,
    reading: Reader | None = None,
    **context: Any,
) -> HTMLResponse:
    urls = url_maker(request, state)
    key = form_key(request)
    html = _TEMPLATES.get_template(template).render(
        form_key=key,
        signed_in=reading is not None and reading.from_cookie and bool(reading.grants),
        max_tokens=MAX_TOKENS,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=_headers(urls))
    set_form_key(request, response, key)
    if reading is not None and reading.from_cookie and reading.stale:
        keep_tokens(request, response, reading.tokens)
    return response


def _sign_in(
    request: Request, state: AppState, status: int, message: str, reading: Reader | None = None
) -> HTMLResponse:
    return _page(request, state, "sign_in.html", status, reading, message=message)


async def _store(
    state: AppState, grant: Grant, request: Request, offset: int, limit: int
) -> dict[str, Any]:
    urls = url_maker(request, state)
    search = ProductSearch(enabled_only=grant.kind == "public")
    store_id = grant.store_id
    total, found = await products.list_products(
        state.storage, store_id, search, offset=offset, limit=limit
    )
    store = await profile.get_store(state.adapters.catalog, store_id)
    return {
        "id": store_id,
        "name": store.name,
        "kind": grant.kind,
        "total": total,
        "offset": offset,
        "limit": limit,
        "products": [
            {"product": product, "thumbnail": thumbnail(product.media, urls)} for product in found
        ],
    }


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, state: State) -> Response:
    reading = await reader(request, state)
    if not reading.grants:
        if not reading.from_cookie:
            return _sign_in(request, state, 403, "The Bearer token is not known to this server.")
        message = "A token you saved no longer works." if reading.stale else ""
        return _sign_in(request, state, 200, message, reading)
    stores = []
    for store_id in reading.store_ids():
        grant = reading.grant_for(store_id)
        assert grant is not None
        stores.append(await _store(state, grant, request, 0, PAGE_SIZE))
    return _page(request, state, "index.html", reading=reading, stores=stores)


def _known_id(value: int) -> bool:
    return 0 < value <= MAX_ID


@router.get("/stores/{store_id:int}", response_class=HTMLResponse)
async def store_page(
    request: Request,
    store_id: int,
    state: State,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    reading = await reader(request, state)
    if not reading.grants:
        return _sign_in(request, state, 403, "Reading a store needs one of its tokens.", reading)
    grant = reading.grant_for(store_id) if _known_id(store_id) else None
    if grant is None:
        return _page(request, state, "missing.html", 404, reading, what=f"Store {store_id}")
    store = await _store(state, grant, request, offset, PAGE_SIZE)
    return _page(request, state, "index.html", reading=reading, stores=[store])


@router.get("/stores/{store_id:int}/products/{product_id:int}", response_class=HTMLResponse)
async def product_page(request: Request, store_id: int, product_id: int, state: State) -> Response:
    reading = await reader(request, state)
    if not reading.grants:
        return _sign_in(request, state, 403, "Reading a product needs a token of its store.")
    grant = reading.grant_for(store_id) if _known_id(store_id) else None
    missing = f"Product {product_id} of store {store_id}"
    if grant is None or not _known_id(product_id):
        return _page(request, state, "missing.html", 404, reading, what=missing)
    try:
        product = await products.get_product(
            state.storage, store_id, product_id, enabled_only=grant.kind == "public"
        )
    except ProductNotFound:
        return _page(request, state, "missing.html", 404, reading, what=missing)
    report = await products.last_media_update(state.storage, store_id, product_id)
    urls = url_maker(request, state)
    return _page(
        request,
        state,
        "product.html",
        reading=reading,
        store_id=store_id,
        store_name=(await profile.get_store(state.adapters.catalog, store_id)).name,
        product=product,
        media=media_view(product.media, urls),
        report=report,
    )


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    fields = parse_qs(body[:_MAX_FORM_BYTES].decode("utf-8", "replace"))
    return {name: values[0] for name, values in fields.items()}


def _back_home() -> RedirectResponse:
    # 303: the browser follows with a GET, so reloading the page never posts the form again.
    return RedirectResponse("/", status_code=303)


def _forged(request: Request, state: AppState, form: Mapping[str, str]) -> Response | None:
    """The sign-in form again (403) when `form` was not sent from this page."""
    if form_allowed(request, form.get("form_key", "")):
        return None
    return _sign_in(
        request, state, 403, "The form was not sent from this page: load it and try again."
    )


@router.get("/stores/{rest:path}", response_class=HTMLResponse)
async def no_such_page(request: Request, rest: str, state: State) -> Response:
    """Any other address under /stores (an id that is not a number, a path too long): the
    page's own 404, not the API's JSON one."""
    reading = await reader(request, state)
    return _page(request, state, "missing.html", 404, reading, what=f"The page {request.url.path}")


@router.post("/page/tokens", response_class=HTMLResponse)
async def add_token(request: Request, state: State) -> Response:
    """The sign-in form: a valid token joins the page's cookie."""
    form = await _form(request)
    if (forged := _forged(request, state, form)) is not None:
        return forged
    token = form.get("token", "").strip()
    grant = await grant_of(state, token) if token else None
    if grant is None:
        message = "Enter a token." if not token else "That token is not known to this server."
        return _sign_in(request, state, 400 if not token else 403, message)
    kept = [t for t in cookie_tokens(request) if t != token]
    response = _back_home()
    keep_tokens(request, response, [token, *kept][:MAX_TOKENS])
    return response


@router.post("/page/logout", response_class=HTMLResponse)
async def forget_tokens(request: Request, state: State) -> Response:
    """Forget every token the page's cookie holds."""
    form = await _form(request)
    if (forged := _forged(request, state, form)) is not None:
        return forged
    response = _back_home()
    keep_tokens(request, response, [])
    return response


async def rate_limited(request: Request, exc: Exception) -> Response:
    """A page read over its token's rate limit: 429 with Retry-After, as the API answers."""
    assert isinstance(exc, RateLimited)
    state = state_of(request)
    response = _page(request, state, "missing.html", 429, what=None, message=str(exc))
    response.headers["Retry-After"] = str(exc.seconds)
    return response


@router.get("/page/style.css")
async def style() -> Response:
    return Response(
        _STYLE,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
