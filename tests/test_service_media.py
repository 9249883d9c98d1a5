"""The media use cases on in-memory fakes: the real pipeline and rule, fake fetches, catalog
and blob store. Failure paths that HTTP tests reach only by luck are driven here on purpose."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from product_media.domain.media_update import MediaSource, MediaUpdate
from product_media.domain.plan import DOWNLOAD_IMAGE_FAILED, ItemResult
from product_media.ingest.pipeline import Pipeline
from product_media.ingest.scratch import Scratch
from product_media.service import media, products
from product_media.service.blob_lifetimes import collect, write_claimed
from product_media.service.errors import ProductNotFound, UpdateInterrupted
from product_media.service.ports import Storage
from product_media.service.sweep import sweep
from tests.fakes import FakeBlobStore, FakeCatalog, FakeFetcher, FakeLeases, fake_pipeline
from tests.media_factory import jpeg, png

OWNER = "a" * 32


@dataclass
class World:
    catalog: FakeCatalog
    blobs: FakeBlobStore
    fetcher: FakeFetcher
    pipeline: Pipeline
    storage: Storage
    store_id: int
    product_id: int
    time_limit: float = 60.0

    def add(self, name: str, content: bytes) -> str:
        url = f"https://shop.example/{name}"
        self.fetcher.files[url] = content
        return url

    async def update(self, main: str | None = None, gallery: tuple[str, ...] = ()) -> list[str]:
        update = MediaUpdate(
            main=None if main is None else MediaSource(image_url=main),
            gallery=tuple(MediaSource(image_url=url) for url in gallery),
        )
        results = await media.update_media(
            self.storage,
            self.pipeline,
            self.store_id,
            self.product_id,
            update,
            token="t",
            time_limit=self.time_limit,
        )
        return [describe(r) for r in ([results.main] if results.main else []) + [*results.gallery]]

    def assert_settled(self) -> None:
        """No claim or mark is left, and the blob store holds exactly what products use."""
        assert self.catalog.claims == {}
        assert self.catalog.marks == {}
        assert set(self.blobs.blobs) == self.catalog._referenced()


def describe(result: ItemResult) -> str:
    return f"ok {result.id}" if result.success else f"failed {result.error_code}"


@pytest.fixture
def world() -> World:
    catalog = FakeCatalog()
    blobs = FakeBlobStore()
    fetcher = FakeFetcher()
    pipeline = fake_pipeline(fetcher)
    store_id = catalog.create_store("Shop")
    product_id = catalog.create_product(store_id, "Lamp", None, 1.0)
    storage = Storage(catalog, catalog, blobs, OWNER)
    return World(catalog, blobs, fetcher, pipeline, storage, store_id, product_id)


def _key(content: bytes, extension: str) -> str:
    return f"{hashlib.sha256(content).hexdigest()}.{extension}"


def test_an_update_stores_its_files_and_replacing_it_deletes_them(world: World) -> None:
    first = world.add("a.jpg", jpeg(300, 200))
    second = world.add("b.png", png(90, 60, alpha=True))
    assert anyio.run(world.update, first, (second, "https://shop.example/missing")) == [
        "ok 0",
        "ok 1",
        f"failed {DOWNLOAD_IMAGE_FAILED}",
    ]
    product = world.catalog.products[world.product_id]
    assert product.media.main_image is not None
    assert _key(world.fetcher.files[first], "jpg") in world.blobs.blobs
    world.assert_settled()

    third = world.add("c.jpg", jpeg(120, 80))
    assert anyio.run(world.update, third) == ["ok 0"]
    assert _key(world.fetcher.files[first], "jpg") not in world.blobs.blobs
    world.assert_settled()


def test_a_failing_blob_write_fails_that_item_and_leaves_nothing(world: World) -> None:
    good, bad = jpeg(100, 80), png(64, 64)
    urls = (world.add("good.jpg", good), world.add("bad.png", bad))
    world.blobs.fail_put = lambda key: key == _key(bad, "png")
    assert anyio.run(world.update, None, urls) == ["ok 1", f"failed {DOWNLOAD_IMAGE_FAILED}"]
    world.assert_settled()


def test_cancelled_mid_ingest_the_product_is_unchanged_and_nothing_is_left(world: World) -> None:
    before = world.catalog.products[world.product_id]
    fast = world.add("fast.jpg", jpeg(100, 80))
    slow = world.add("slow.jpg", jpeg(80, 100))
    fast_stored = threading.Event()
    world.blobs.fail_put = lambda key: fast_stored.set() or False  # type: ignore[func-returns-value]

    async def never() -> None:
        await anyio.sleep_forever()

    world.fetcher.hooks[slow] = never

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(world.update, fast, (slow,))
            assert await anyio.to_thread.run_sync(fast_stored.wait, 10)
            await anyio.sleep(0.05)
            tasks.cancel_scope.cancel()

    anyio.run(main)
    assert world.blobs.puts, "the fast source's files were written before the cancel"
    assert world.catalog.products[world.product_id] == before
    world.assert_settled()


def test_sources_not_done_by_the_deadline_fail_and_the_rest_is_committed(world: World) -> None:
    good = world.add("good.jpg", jpeg(100, 80))
    stuck = world.add("stuck.jpg", jpeg(80, 100))

    async def never() -> None:
        await anyio.sleep_forever()

    world.fetcher.hooks[stuck] = never
    world.time_limit = 0.5

    async def main() -> list[ItemResult]:
        update = MediaUpdate(
            main=None, gallery=(MediaSource(image_url=stuck), MediaSource(image_url=good))
        )
        with anyio.fail_after(2.5):  # five times the deadline
            results = await media.update_media(
                world.storage,
                world.pipeline,
                world.store_id,
                world.product_id,
                update,
                token="t",
                time_limit=world.time_limit,
            )
        return list(results.gallery)

    late, kept = anyio.run(main)
    assert (late.success, late.error_code, late.error_message) == (
        False,
        DOWNLOAD_IMAGE_FAILED,
        f"{stuck}: not done within the media update's 0.5 s limit",
    )
    assert kept.success
    assert len(world.catalog.products[world.product_id].media.gallery) == 1
    world.assert_settled()


def test_cancelled_during_the_commit_the_update_completes(world: World) -> None:
    """A client that leaves while the commit runs: the commit stands, and what it replaced
    is deleted (nothing is left for a sweep)."""
    anyio.run(world.update, world.add("old.jpg", jpeg(100, 80)))
    new = world.add("new.jpg", jpeg(80, 100))

    async def main() -> None:
        with anyio.CancelScope() as scope:
            # Runs in the commit's worker thread, inside the catalog's "transaction".
            world.catalog.before_update = lambda: anyio.from_thread.run_sync(scope.cancel)
            await world.update(new)
            await anyio.lowlevel.checkpoint()
        assert scope.cancelled_caught

    anyio.run(main)
    main_image = world.catalog.products[world.product_id].media.main_image
    assert main_image is not None
    assert main_image.files.original.key == _key(world.fetcher.files[new], "jpg")
    world.assert_settled()


def test_product_deleted_before_the_commit(world: World) -> None:
    url = world.add("a.jpg", jpeg(100, 80))

    async def delete_product() -> None:
        await products.delete_product(world.storage, world.store_id, world.product_id)

    world.fetcher.hooks[url] = delete_product
    with pytest.raises(ProductNotFound):
        anyio.run(world.update, url)
    assert world.blobs.puts, "the files were written, then taken back"
    world.assert_settled()


def test_unknown_product_fetches_nothing(world: World) -> None:
    url = world.add("a.jpg", jpeg(100, 80))
    world.product_id = 999_999
    with pytest.raises(ProductNotFound):
        anyio.run(world.update, url)
    assert world.fetcher.fetched == []


def test_a_claim_dropped_before_the_commit_changes_nothing(world: World) -> None:
    """A sweep that took this process for dead dropped its claim: the commit is refused."""
    before = world.catalog.products[world.product_id]
    url = world.add("a.jpg", jpeg(100, 80))
    world.catalog.before_update = lambda: world.catalog.drop_owner_state({OWNER})
    with pytest.raises(UpdateInterrupted):
        anyio.run(world.update, url)
    assert world.catalog.products[world.product_id] == before
    world.assert_settled()


def test_deleting_a_product_deletes_only_its_own_files(world: World) -> None:
    shared, own = jpeg(100, 80), png(50, 50)
    anyio.run(world.update, world.add("s.jpg", shared), (world.add("o.png", own),))
    other = world.catalog.create_product(world.store_id, "Other", None, 1)
    world.product_id, first = other, world.product_id
    anyio.run(world.update, world.add("s2.jpg", shared))
    anyio.run(products.delete_product, world.storage, world.store_id, first)
    assert _key(shared, "jpg") in world.blobs.blobs
    assert _key(own, "png") not in world.blobs.blobs
    world.assert_settled()
    with pytest.raises(ProductNotFound):
        anyio.run(products.delete_product, world.storage, world.store_id, first)


# -- the protocol of blob lifetimes -----------------------------------------------------------


def test_a_claim_waits_for_a_delete_under_way_then_writes_the_file_anew() -> None:
    catalog, blobs = FakeCatalog(), FakeBlobStore()
    key = _key(b"x", "jpg")
    blobs.put(key, b"x")
    assert catalog.mark_garbage([key], "collector") == {key}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # The collector finishes while the writer waits: it deletes, then unmarks.
        waits.append(seconds)
        if len(waits) == 3:
            blobs.delete(key)
            catalog.unmark([key], "collector")

    write_claimed(catalog, blobs, "c1", "writer", {key: b"x"}, sleep=sleep)
    assert len(waits) == 3
    assert blobs.blobs == {key: b"x"}, "written after the delete, not skipped before it"
    assert catalog.mark_garbage([key], "collector") == frozenset(), "the claim keeps it"


def test_a_dead_collectors_mark_does_not_hold_a_writer() -> None:
    catalog = FakeCatalog(alive=lambda owner: owner != "gone")
    blobs = FakeBlobStore()
    key = _key(b"y", "jpg")
    catalog.marks[key] = "gone"
    write_claimed(catalog, blobs, "c1", "writer", {key: b"y"}, sleep=pytest.fail)
    assert blobs.blobs == {key: b"y"}


def test_collect_spares_what_is_referenced_claimed_or_marked_and_always_unmarks() -> None:
    catalog, blobs = FakeCatalog(), FakeBlobStore()
    keys = {name: _key(name.encode(), "jpg") for name in ("free", "claimed", "marked", "boom")}
    for key in keys.values():
        blobs.put(key, b".")
    catalog.claim("c", "writer", [keys["claimed"]])
    catalog.marks[keys["marked"]] = "other"
    assert collect(catalog, blobs, "me", [keys["free"], keys["claimed"], keys["marked"]]) == 1
    assert set(blobs.blobs) == {keys["claimed"], keys["marked"], keys["boom"]}
    assert catalog.marks == {keys["marked"]: "other"}

    def broken_delete(key: str) -> None:
        raise OSError("bucket away")

    blobs.delete = broken_delete  # type: ignore[method-assign]
    with pytest.raises(OSError):
        collect(catalog, blobs, "me", [keys["boom"]])
    assert keys["boom"] not in catalog.marks, "a failed delete leaves no mark behind"


def test_the_sweep_clears_dead_processes_and_unused_files_only() -> None:
    leases = FakeLeases()
    catalog = FakeCatalog(alive=leases.is_alive)
    blobs = FakeBlobStore()
    for owner in ("me", "live"):
        leases.register(owner)
    leases.rows.add("dead")
    keys = {name: _key(name.encode(), "png") for name in ("dead", "live", "orphan")}
    for key in keys.values():
        blobs.put(key, b".")
    catalog.claim("c-dead", "dead", [keys["dead"]])
    catalog.claim("c-live", "live", [keys["live"]])
    blobs.partial["dead"] = {"tmp1"}
    blobs.partial["live"] = {"tmp2"}

    assert sweep(catalog, blobs, leases, "me", always_collect=False) == 2
    assert set(blobs.blobs) == {keys["live"]}
    assert set(catalog.claims) == {"c-live"}
    assert blobs.partial_write_owners() == {"live"}
    assert leases.known() == {"me", "live"}
    # Nobody died since: the periodic sweep does not list the blobs again.
    blobs.put(keys["orphan"], b".")
    assert sweep(catalog, blobs, leases, "me", always_collect=False) == 0
    assert sweep(catalog, blobs, leases, "me") == 1


def test_the_sweep_clears_scratch_files_of_dead_processes(tmp_path: Path) -> None:
    leases = FakeLeases()
    leases.register("me")
    leases.rows.add("dead")
    downloads = tmp_path / "scratch"
    downloads.mkdir()
    for name in ("dead.1.download", "me.2.download"):
        (downloads / name).write_bytes(b"part of a video")
    scratch = Scratch(downloads, "me")
    sweep(FakeCatalog(alive=leases.is_alive), FakeBlobStore(), leases, "me", scratch=scratch)
    assert sorted(path.name for path in downloads.iterdir()) == ["me.2.download"]


def test_the_report_of_an_update_is_kept_by_its_own_commit(world: World) -> None:
    kept = world.add("a.jpg", jpeg(100, 80))
    anyio.run(world.update, kept, ("https://shop.example/missing?sig=1",))
    report = world.catalog.reports[world.product_id]
    assert report.main is not None and report.main.image_url == kept
    (failed,) = report.gallery
    assert failed.image_url == "https://shop.example/missing?…"
    assert failed.result.error_code == DOWNLOAD_IMAGE_FAILED
    assert failed.result.error_message is not None and "sig=1" not in failed.result.error_message

    # An update whose commit is refused leaves the last report as it was.
    world.catalog.before_update = lambda: world.catalog.drop_owner_state({OWNER})
    with pytest.raises(UpdateInterrupted):
        anyio.run(world.update, world.add("b.jpg", jpeg(90, 60)))
    assert world.catalog.reports[world.product_id] == report
    world.assert_settled()
