"""/redoc on the assets fastapi-offline ships and serves (as it serves /docs'). Redoc's bundle
shows a logo from Redocly's CDN, which it hides when the image fails: this page's policy makes
it fail at once, so the page never reaches another site."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

# Where FastAPIOffline mounts the files of its package (its default).
OFFLINE_ASSETS = "/static-offline-docs"

router = APIRouter(include_in_schema=False)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{OFFLINE_ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{OFFLINE_ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = "img-src 'self' data:"
    return page
