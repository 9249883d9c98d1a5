"""What the routes share: settings and the adapters of this process."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from product_media.bootstrap import Adapters
from product_media.domain.seed import Seed
from product_media.service.jobs import JobRunner
from product_media.service.ports import Storage
from product_media.service.rendered import RenderedProducts
from product_media.settings import Settings


@dataclass
class AppState:
    settings: Settings
    adapters: Adapters
    # Runs the async image jobs; woken when one is accepted.
    jobs: JobRunner | None = None
    # The seed applied at start, and again by each reset.
    seed: Seed | None = None
    # This process's rendered products (GET .../products/{id}).
    rendered: RenderedProducts = field(default_factory=lambda: RenderedProducts(0))

    @property
    def storage(self) -> Storage:
        return self.adapters.storage


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.product_media
    return state


async def app_state(request: Request) -> AppState:
    """The dependency: a coroutine, so FastAPI runs it in place rather than in a worker
    thread."""
    return state_of(request)
