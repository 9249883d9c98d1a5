"""What the routes share: settings, catalog, blob store, fetcher and limiters."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from product_media.api.rate_limit import RateLimiter
from product_media.ingest.fetcher import Fetcher
from product_media.ingest.pipeline import Pipeline
from product_media.settings import Settings
from product_media.storage.blobs import FileBlobStore
from product_media.storage.catalog import Catalog


@dataclass
class AppState:
    settings: Settings
    catalog: Catalog
    blobs: FileBlobStore
    # This process's id in the claims it makes (see storage.owners).
    owner: str
    fetcher: Fetcher
    rate_limiter: RateLimiter
    pipeline: Pipeline


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.product_media
    return state
