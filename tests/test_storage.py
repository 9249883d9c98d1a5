"""The catalog, leases and the protocol of blob lifetimes on the real adapters: SQLite with the
folder store, and PostgreSQL with the S3 stand-in."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text, update

from product_media.domain.blob_keys import blob_key
from product_media.domain.media import Border, Image, MediaSet
from product_media.domain.source_validators import Remembered, Validators
from product_media.service.blob_lifetimes import collect, write_claimed
from product_media.service.sweep import sweep
from product_media.storage.catalog import SqlCatalog, StoreExists
from product_media.storage.engine import SCHEMA_REVISION, migrate, schema_revision
from product_media.storage.folder_blobs import FolderBlobStore
from product_media.storage.leases import DatabaseLeases
from product_media.storage.ports import BlobStore
from product_media.storage.s3_blobs import S3BlobStore
from product_media.storage.tables import owners
from tests.crashed_owner import crashed_owner
from tests.databases import temporary_database
from tests.media_model import stored_image_files
from tests.s3_server import fresh_bucket_name


@dataclass
class Storage:
    url: str
    catalog: SqlCatalog
    blobs: BlobStore
    leases: DatabaseLeases
    lock_dir: Path
    owner: str


@pytest.fixture(params=["sqlite+folder", "postgresql+s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    owner = uuid.uuid4().hex
    with _database(request.param, tmp_path) as url:
        blobs: BlobStore
        if request.param.startswith("sqlite"):
            blobs = FolderBlobStore(tmp_path / "media", owner=owner)
        else:
            request.getfixturevalue("aws_env")
            s3 = S3BlobStore(
                f"s3://{fresh_bucket_name()}/media",
                endpoint_url=request.getfixturevalue("s3_endpoint"),
                owner=owner,
            )
            s3.ensure_bucket()
            blobs = s3
        catalog = SqlCatalog(url)
        catalog.migrate()
        leases = DatabaseLeases(catalog.engine, 60.0, tmp_path / "owners")
        leases.register(owner)
        yield Storage(url, catalog, blobs, leases, tmp_path / "owners", owner)
        leases.end(owner)
        catalog.close()


def _database(kind: str, tmp_path: Path) -> contextlib.AbstractContextManager[str]:
    if kind.startswith("postgresql"):
        return temporary_database()
    return contextlib.nullcontext(f"sqlite:///{tmp_path / 'catalog.db'}")


def _commit(s: Storage, store: int, product: int, claim: str, media: MediaSet) -> frozenset[str]:
    committed = s.catalog.update_media(store, product, claim, lambda _current: (media, None))
    assert committed is not None
    return committed[1]


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(files("product_media.storage").joinpath("migrations"))
    )
    return config


def test_schema_revision_is_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == SCHEMA_REVISION


def test_migrate_is_idempotent(storage: Storage) -> None:
    storage.catalog.migrate()
    with storage.catalog.engine.connect() as conn:
        assert schema_revision(conn) == SCHEMA_REVISION


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_replicas_starting_at_once_migrate_once(kind: str, tmp_path: Path) -> None:
    with _database(kind, tmp_path) as url:
        catalogs = [SqlCatalog(url) for _ in range(4)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(catalogs))

        def start(catalog: SqlCatalog) -> None:
            try:
                barrier.wait(timeout=10)
                catalog.migrate()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(c,)) for c in catalogs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        with catalogs[0].engine.connect() as conn:
            assert schema_revision(conn) == SCHEMA_REVISION
        for catalog in catalogs:
            catalog.close()


def test_claims_from_before_owners_migrate_as_ownerless(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config()
    with catalog.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO blob_claims (claim, key) VALUES ('c', 'k')"))
    migrate(catalog.engine)
    assert catalog.state_owners() == {""}
    catalog.close()


def test_generated_ids_grow_past_explicit_ones(storage: Storage) -> None:
    catalog = storage.catalog
    first = catalog.create_store("generated")
    assert catalog.create_store("explicit", first + 1000) == first + 1000
    with pytest.raises(StoreExists):
        catalog.create_store("again", first + 1000)
    assert catalog.create_store("lower", first + 500) == first + 500
    after = catalog.create_store("generated again")
    assert after > first + 1000
    assert catalog.store_exists(after) and catalog.store_exists(first + 500)


def test_claims_keep_blobs_until_the_commit(storage: Storage) -> None:
    s = storage
    store = s.catalog.create_store("s")
    product = s.catalog.create_product(store, "p", None, 0)
    image, contents = stored_image_files("a")
    write_claimed(s.catalog, s.blobs, "claim-1", s.owner, contents)
    assert collect(s.catalog, s.blobs, s.owner, contents) == 0, "claimed blobs survive"
    garbage = _commit(s, store, product, "claim-1", MediaSet(main_image=Image(image)))
    assert garbage == set()
    assert collect(s.catalog, s.blobs, s.owner, contents) == 0, "referenced blobs survive"
    assert all(s.blobs.exists(key) for key in contents)

    released = s.catalog.delete_product(store, product)
    assert released == set(contents)
    assert collect(s.catalog, s.blobs, s.owner, released) == 5
    assert not any(s.blobs.exists(key) for key in contents)


def test_shared_blobs_survive_while_one_product_uses_them(storage: Storage) -> None:
    s = storage
    store = s.catalog.create_store("s")
    first, second = (s.catalog.create_product(store, name, None, 0) for name in ("a", "b"))
    image, contents = stored_image_files("shared")
    for product, claim in ((first, "c1"), (second, "c2")):
        write_claimed(s.catalog, s.blobs, claim, s.owner, contents)
        _commit(s, store, product, claim, MediaSet(main_image=Image(image)))
    released = s.catalog.delete_product(store, first)
    assert released is not None
    assert collect(s.catalog, s.blobs, s.owner, released) == 0
    product = s.catalog.get_product(store, second)
    assert product is not None and product.media.main_image is not None
    assert all(s.blobs.exists(key) for key in contents)


def test_update_of_a_missing_product_keeps_the_claim(storage: Storage) -> None:
    s = storage
    store = s.catalog.create_store("s")
    _, contents = stored_image_files("orphan")
    write_claimed(s.catalog, s.blobs, "c", s.owner, contents)
    assert s.catalog.update_media(store, 424242, "c", lambda m: (m, None)) is None
    assert s.catalog.release("c") == set(contents)
    assert collect(s.catalog, s.blobs, s.owner, contents) == 5


def test_a_mark_and_a_claim_of_one_key(storage: Storage) -> None:
    """Whichever comes first wins: a claim keeps the key from being marked, and a mark makes
    the claimant wait; a dead owner's mark means nothing."""
    s = storage
    key = blob_key(b"contested", "png")
    s.blobs.put(key, b"contested")
    assert s.catalog.mark_garbage([key], s.owner) == {key}
    assert s.catalog.claim("c1", "writer", [key]) == {key}, "the claimant must wait"
    assert s.catalog.being_deleted([key]) == {key}
    s.blobs.delete(key)
    s.catalog.unmark([key], s.owner)
    assert s.catalog.being_deleted([key]) == set()
    assert s.catalog.mark_garbage([key], s.owner) == set(), "the claim holds it now"
    s.catalog.release("c1")

    assert s.catalog.mark_garbage([key], "a-process-without-a-lease") == {key}
    assert s.catalog.being_deleted([key]) == set(), "its owner is not alive"
    assert s.catalog.mark_garbage([key], s.owner) == {key}, "a dead owner's mark is taken over"
    s.catalog.unmark([key], s.owner)


def test_stored_files_are_reused_only_by_their_store_and_while_in_use(storage: Storage) -> None:
    s = storage
    store, other = s.catalog.create_store("s"), s.catalog.create_store("o")
    product = s.catalog.create_product(store, "p", None, 0)
    image, contents = stored_image_files("reused")
    image = replace(image, border=Border(1, 2, 3, 255, homogeneity=True))
    write_claimed(s.catalog, s.blobs, "c", s.owner, contents)
    _commit(s, store, product, "c", MediaSet(main_image=Image(image)))
    url, key = "https://shop.example/a.jpg", image.original.key
    s.catalog.remember(store, {url: (Validators('"1"', None), key)})
    s.catalog.remember(store, {url: (Validators('"2"', "then"), key)})

    assert s.catalog.recall(store, [url, "https://shop.example/other.jpg"]) == {
        url: Remembered(Validators('"2"', "then"), image)
    }
    assert s.catalog.files_of(store, key) == image
    assert s.catalog.recall(other, [url]) == {}, "another store never fetched it"
    assert s.catalog.files_of(other, key) is None

    assert s.catalog.claim_in_use("k1", s.owner, [list(contents)]) == [True]
    assert s.catalog.release("k1") == set(contents)

    released = s.catalog.delete_product(store, product)
    assert released is not None
    assert collect(s.catalog, s.blobs, s.owner, released) == 5
    assert s.catalog.recall(store, [url]) == {}, "no image of the store holds them any more"
    assert s.catalog.files_of(store, key) is None
    assert s.catalog.claim_in_use("k2", s.owner, [list(contents)]) == [False], "files gone"
    assert s.catalog.release("k2") == set(), "and nothing was claimed"


def test_many_sources_are_recalled_at_once_each_with_its_own_files(storage: Storage) -> None:
    s = storage
    store = s.catalog.create_store("s")
    product = s.catalog.create_product(store, "p", None, 0)
    made = []
    for name in ("one", "two", "three"):
        image, contents = stored_image_files(name)
        made.append(replace(image, border=Border(1, 2, 3, 255, homogeneity=False)))
        write_claimed(s.catalog, s.blobs, "c", s.owner, contents)
    # An image stored before borders existed has no full set: its source is fetched anew.
    old, contents = stored_image_files("old")
    write_claimed(s.catalog, s.blobs, "c", s.owner, contents)
    gallery = tuple(Image(files) for files in [*made[1:], old])
    _commit(s, store, product, "c", MediaSet(Image(made[0]), None, gallery))
    urls = {f"https://shop.example/{i}.jpg": files for i, files in enumerate([*made, old])}
    s.catalog.remember(
        store,
        {url: (Validators(f'"{url}"', None), files.original.key) for url, files in urls.items()},
    )

    recalled = s.catalog.recall(store, list(urls))
    assert recalled == {
        url: Remembered(Validators(f'"{url}"', None), files)
        for url, files in urls.items()
        if files is not old
    }


def test_claims_for_reuse_are_decided_per_group_in_one_go(storage: Storage) -> None:
    s = storage
    store = s.catalog.create_store("s")
    product = s.catalog.create_product(store, "p", None, 0)
    image, contents = stored_image_files("live")
    write_claimed(s.catalog, s.blobs, "c", s.owner, contents)
    _commit(s, store, product, "c", MediaSet(main_image=Image(image)))
    live = list(contents)
    gone = ["deadbeef" * 8 + ".jpg"]
    answers = s.catalog.claim_in_use("k", s.owner, [live, gone, live[:1], live + gone, []])
    assert answers == [True, False, True, False, True]
    assert s.catalog.release("k") == set(live), "only the groups claimed whole keep anything"


def test_files_being_deleted_are_not_claimed_for_reuse(storage: Storage) -> None:
    s = storage
    store = s.catalog.create_store("s")
    product = s.catalog.create_product(store, "p", None, 0)
    image, contents = stored_image_files("dying")
    write_claimed(s.catalog, s.blobs, "c", s.owner, contents)
    _commit(s, store, product, "c", MediaSet(main_image=Image(image)))
    released = s.catalog.delete_product(store, product)
    assert released is not None
    # Marked (being deleted) but not deleted yet: a reuse must not keep them.
    assert s.catalog.mark_garbage(released, s.owner) == released
    assert s.catalog.claim_in_use("k", s.owner, [released]) == [False]
    s.catalog.unmark(released, s.owner)


def test_collectors_and_writers_racing_on_the_same_keys_never_lose_a_file(
    storage: Storage,
) -> None:
    """Writers put the same few files and commit them to their products while collectors keep
    trying to delete them; after every commit, every file its product shows exists."""
    s = storage
    store = s.catalog.create_store("race")
    images = [stored_image_files(f"race-{n}") for n in range(3)]
    writers = [s.catalog.create_product(store, f"w{n}", None, 0) for n in range(3)]
    stop = time.monotonic() + 3.0
    lost: list[str] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            round_ = 0
            while time.monotonic() < stop:
                image, contents = images[(n + round_) % len(images)]
                claim = uuid.uuid4().hex
                write_claimed(s.catalog, s.blobs, claim, s.owner, contents)
                garbage = _commit(s, store, writers[n], claim, MediaSet(main_image=Image(image)))
                lost.extend(key for key in contents if not s.blobs.exists(key))
                collect(s.catalog, s.blobs, s.owner, garbage)
                round_ += 1
        except BaseException as exc:
            errors.append(exc)

    def collector() -> None:
        keys = [key for _, contents in images for key in contents]
        try:
            while time.monotonic() < stop:
                collect(s.catalog, s.blobs, s.owner, keys)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=collector) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert lost == []
    for product in writers:
        found = s.catalog.get_product(store, product)
        assert found is not None
        assert all(s.blobs.exists(key) for key in found.media.blob_keys())


def test_leases_say_who_is_alive(storage: Storage) -> None:
    s = storage
    other = DatabaseLeases(s.catalog.engine, 60.0, s.lock_dir.parent / "another-host")
    remote = uuid.uuid4().hex
    other.register(remote)
    assert s.leases.dead({s.owner, remote}) == set()
    assert {s.owner, remote} <= s.leases.known()
    # Another host's process that stopped renewing: dead once its lease has run out.
    with s.catalog.engine.begin() as conn:
        conn.execute(update(owners).where(owners.c.id == remote).values(renewed_at=0))
    assert s.leases.dead({remote}) == {remote}
    assert other.renew(remote) is True
    assert s.leases.dead({remote}) == set(), "renewed in time"
    assert s.leases.dead({"never-registered"}) == {"never-registered"}
    other.end(remote)
    assert remote not in s.leases.known()
    assert s.leases.renew(s.owner)


def test_a_killed_process_on_this_host_is_dead_at_once(storage: Storage) -> None:
    s = storage
    killed = crashed_owner(s.url, s.lock_dir)
    assert killed in s.leases.known()
    assert s.leases.dead({killed}) == {killed}, "its lock file is free, however fresh its lease"
    s.leases.forget({killed})
    assert killed not in s.leases.known()
    with s.catalog.engine.connect() as conn:
        assert conn.execute(select(owners.c.id).where(owners.c.id == killed)).first() is None


def test_sweep_clears_what_dead_processes_left(storage: Storage) -> None:
    s = storage
    killed = crashed_owner(s.url, s.lock_dir)
    store = s.catalog.create_store("s")
    product = s.catalog.create_product(store, "p", None, 0)
    kept, kept_contents = stored_image_files("kept")
    write_claimed(s.catalog, s.blobs, "c", s.owner, kept_contents)
    _commit(s, store, product, "c", MediaSet(main_image=Image(kept)))
    _, dead_contents = stored_image_files("dead")
    write_claimed(s.catalog, s.blobs, "dead-request", killed, dead_contents)
    _, legacy_contents = stored_image_files("legacy")
    write_claimed(s.catalog, s.blobs, "claim-from-before-owners", "", legacy_contents)
    _, live_contents = stored_image_files("live")
    write_claimed(s.catalog, s.blobs, "live-request", s.owner, live_contents)
    unreferenced = blob_key(b"nobody", "png")
    s.blobs.put(unreferenced, b"nobody")
    dead_mark = blob_key(b"marked by the dead", "png")
    s.blobs.put(dead_mark, b"marked by the dead")
    assert s.catalog.mark_garbage([dead_mark], killed) == {dead_mark}
    parts = []
    if isinstance(s.blobs, FolderBlobStore):
        parts = [s.blobs.root / "tmp" / f"{owner}.x.part" for owner in (killed, s.owner)]
        for part in parts:
            part.write_bytes(b"half")

    assert sweep(s.catalog, s.blobs, s.leases, s.owner, always_collect=False) == 12
    assert all(s.blobs.exists(key) for key in kept_contents), "referenced files stay"
    assert all(s.blobs.exists(key) for key in live_contents), "a live process's claims hold"
    assert not any(s.blobs.exists(key) for key in dead_contents | legacy_contents)
    assert s.catalog.state_owners() == {s.owner}
    assert killed not in s.leases.known()
    if parts:
        assert not parts[0].exists() and parts[1].exists()
    assert sweep(s.catalog, s.blobs, s.leases, s.owner, always_collect=False) == 0
    assert sweep(s.catalog, s.blobs, s.leases, s.owner) == 0
