"""Async image jobs on fakes: the real runner and pipeline, fake fetches, catalog and leases.
What HTTP tests meet only by luck is driven here: a product's jobs one at a time in order,
a job run twice, a failing catalog, a cancelled runner, a dead server's jobs."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import pytest

from product_media.domain.media import Image
from product_media.service.jobs import MAX_ATTEMPTS, JobRunner, accept_job
from product_media.service.ports import Storage
from tests.fakes import FakeBlobStore, FakeCatalog, FakeFetcher, FakeLeases, fake_pipeline
from tests.media_factory import jpeg

OWNER = "a" * 32


@dataclass
class World:
    catalog: FakeCatalog
    fetcher: FakeFetcher
    leases: FakeLeases
    runner: JobRunner
    storage: Storage
    store: int
    product: int

    def add(self, name: str, content: bytes | None = None) -> str:
        url = f"https://shop.example/{name}"
        self.fetcher.files[url] = content if content is not None else jpeg(40 + len(name), 30)
        return url

    async def accept(self, url: str, target: str = "gallery") -> int:
        return await accept_job(self.storage, self.store, self.product, target, url, {})  # type: ignore[arg-type]

    def gallery(self) -> list[int | None]:
        return [item.id for item in self.catalog.products[self.product].media.gallery]


@pytest.fixture
def world() -> World:
    catalog = FakeCatalog()
    fetcher = FakeFetcher()
    leases = FakeLeases()
    leases.register(OWNER)
    storage = Storage(catalog, catalog, FakeBlobStore(), OWNER)
    runner = JobRunner(storage, fake_pipeline(fetcher), leases, time_limit=60, poll=0.01)
    store = catalog.create_store("Shop")
    product = catalog.create_product(store, "Lamp", None, 1.0)
    return World(catalog, fetcher, leases, runner, storage, store, product)


async def _until(done: Callable[[], bool]) -> None:
    """Wait for `done()` (state in fakes, with nothing to signal it)."""
    with anyio.fail_after(20):
        for _ in itertools.count():
            if done():
                return
            await anyio.sleep(0.01)


async def _run_until(world: World, done: Callable[[], bool]) -> None:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(world.runner.run)
        await _until(done)
        tasks.cancel_scope.cancel()


def test_a_products_jobs_run_one_at_a_time_in_the_order_accepted(world: World) -> None:
    gate = anyio.Event()
    started: list[str] = []

    def hold(name: str) -> Callable[[], Awaitable[None]]:
        async def hook() -> None:
            started.append(name)
            if name == "a":
                await gate.wait()

        return hook

    async def scenario() -> None:
        urls = [world.add(name) for name in "abc"]
        for name, url in zip("abc", urls, strict=True):
            world.fetcher.hooks[url] = hold(name)
        ids = [await world.accept(url) for url in urls]
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(world.runner.run)
            await _until(lambda: bool(started))
            await anyio.sleep(0.1)
            # The first job holds its product: the others wait, although workers are free.
            assert started == ["a"]
            gate.set()
            await _until(lambda: world.gallery() == ids)
            tasks.cancel_scope.cancel()
        assert started == ["a", "b", "c"]
        assert world.catalog.jobs == {}

    anyio.run(scenario)


def test_a_job_run_twice_adds_its_image_once(world: World) -> None:
    async def scenario() -> None:
        job_id = await world.accept(world.add("once.jpg"))
        (job, _holder) = world.catalog.jobs[job_id]
        await _run_until(world, lambda: world.gallery() == [job_id])
        # As after a crash between the commit and the job's end: the job comes back.
        world.catalog.jobs[job_id] = (job, None)
        await _run_until(world, lambda: not world.catalog.jobs)
        assert world.gallery() == [job_id]

    anyio.run(scenario)


def test_a_failing_source_ends_the_job_with_a_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        failed = await world.accept("https://shop.example/missing.jpg?token=abc")
        await _run_until(world, lambda: not world.catalog.jobs)
        assert world.gallery() == []
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert lines == [
            f"async image {failed} of product {world.product} in store {world.store} from "
            "https://shop.example/missing.jpg failed: HTTP 404 from source"
        ]

    anyio.run(scenario)


def test_a_failing_catalog_is_retried_later_then_given_up(world: World) -> None:
    calls = [0]

    def broken() -> None:
        calls[0] += 1
        raise ConnectionError("the database went away")

    world.catalog.before_update = broken

    async def scenario() -> None:
        await world.accept(world.add("retried.jpg"))
        await _run_until(world, lambda: not world.catalog.jobs)

    anyio.run(scenario)
    assert calls[0] == MAX_ATTEMPTS
    assert world.gallery() == []


def test_a_job_of_a_deleted_product_is_dropped(world: World) -> None:
    async def scenario() -> None:
        await world.accept(world.add("late.jpg"))
        world.catalog.delete_product(world.store, world.product)
        await _run_until(world, lambda: not world.catalog.jobs)

    anyio.run(scenario)


def test_a_cancelled_job_is_given_back(world: World) -> None:
    async def scenario() -> None:
        url = world.add("slow.jpg")
        started = anyio.Event()

        async def never() -> None:
            started.set()
            await anyio.sleep_forever()

        world.fetcher.hooks[url] = never
        job_id = await world.accept(url)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(world.runner.run)
            with anyio.fail_after(20):
                await started.wait()
            assert world.catalog.jobs[job_id][1] == OWNER
            tasks.cancel_scope.cancel()
        assert world.catalog.jobs[job_id][1] is None, "nobody holds it: any server may run it"

    anyio.run(scenario)


def test_the_jobs_of_a_dead_server_are_taken_up_and_a_live_ones_are_not(world: World) -> None:
    async def scenario() -> None:
        alive, dead = "b" * 32, "c" * 32
        world.leases.register(alive)
        other = world.catalog.create_product(world.store, "Other", None, 1.0)
        live_job = await accept_job(
            world.storage, world.store, other, "gallery", world.add("l"), {}
        )
        dead_job = await world.accept(world.add("d"))
        assert world.catalog.claim_media_job(alive, set()) is not None
        assert world.catalog.claim_media_job(dead, set()) is not None
        await _run_until(world, lambda: world.gallery() == [dead_job])
        assert world.catalog.jobs[live_job][1] == alive
        main = world.catalog.products[world.product].media.main_image
        assert main is None and isinstance(
            world.catalog.products[world.product].media.gallery[0], Image
        )

    anyio.run(scenario)
