"""The blob store, the catalog's claims and garbage collection, and the sweep."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from product_media.domain.media import Blob, Image, ImageFiles, MediaSet
from product_media.storage.blobs import FileBlobStore, blob_key
from product_media.storage.catalog import SCHEMA_REVISION, Catalog
from product_media.storage.owners import Owners
from product_media.storage.sweep import sweep_orphans
from tests.crashed_owner import crashed_owner


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "media")


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.migrate()
    yield catalog
    catalog.close()


def _image(blobs: FileBlobStore, seed: str) -> tuple[ImageFiles, dict[str, bytes]]:
    contents = {
        role: f"{seed}-{role}".encode() for role in ("original", "160", "400", "800", "1500")
    }
    keys = {role: blob_key(content, "jpg") for role, content in contents.items()}
    files_ = ImageFiles(
        original=Blob(keys["original"], "image/jpeg"),
        width=10,
        height=10,
        derived={int(r): Blob(keys[r], "image/jpeg") for r in ("160", "400", "800", "1500")},
    )
    return files_, {keys[role]: content for role, content in contents.items()}


def _put(
    catalog: Catalog,
    blobs: FileBlobStore,
    claim: str,
    contents: dict[str, bytes],
    owner: str = "",
) -> None:
    def write() -> None:
        for key, content in contents.items():
            blobs.put(key, content)

    catalog.claim(claim, owner, list(contents), write)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(files("product_media.storage").joinpath("migrations"))
    )
    return config


def test_schema_revision_is_the_newest_migration() -> None:
    config = _alembic_config()
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_migrate_is_idempotent(catalog: Catalog) -> None:
    catalog.migrate()
    assert catalog.schema_revision() == SCHEMA_REVISION


def test_blob_store_round_trip(blobs: FileBlobStore) -> None:
    key = blob_key(b"hello", "png")
    assert not blobs.exists(key)
    blobs.put(key, b"hello")
    blobs.put(key, b"hello")
    assert blobs.path(key).read_bytes() == b"hello"
    assert list(blobs.keys()) == [key]
    blobs.delete(key)
    blobs.delete(key)
    assert not blobs.exists(key) and list(blobs.keys()) == []


@pytest.mark.parametrize("key", ["../etc/passwd", "abc.jpg", "A" * 64 + ".jpg", ""])
def test_blob_store_refuses_bad_keys(blobs: FileBlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a blob key"):
        blobs.path(key)


def test_claims_keep_blobs_until_the_commit(catalog: Catalog, blobs: FileBlobStore) -> None:
    store = catalog.create_store("s")
    product = catalog.create_product(store, "p", None, 0)
    image, contents = _image(blobs, "a")
    _put(catalog, blobs, "claim-1", contents)
    assert catalog.collect_garbage(contents, blobs.delete) == 0, "claimed blobs survive"

    def decide(current: MediaSet) -> tuple[MediaSet, str]:
        return MediaSet(main_image=Image(image)), "done"

    committed = catalog.update_media(store, product, "claim-1", decide)
    assert committed is not None and committed[0] == "done"
    assert catalog.collect_garbage(contents, blobs.delete) == 0, "referenced blobs survive"
    assert all(blobs.exists(key) for key in contents)

    released = catalog.delete_product(store, product)
    assert released == set(contents)
    assert catalog.collect_garbage(released, blobs.delete) == 5
    assert not any(blobs.exists(key) for key in contents)


def test_shared_blobs_survive_while_one_product_uses_them(
    catalog: Catalog, blobs: FileBlobStore
) -> None:
    store = catalog.create_store("s")
    first, second = (catalog.create_product(store, name, None, 0) for name in ("a", "b"))
    image, contents = _image(blobs, "shared")
    for product, claim in ((first, "c1"), (second, "c2")):
        _put(catalog, blobs, claim, contents)
        catalog.update_media(
            store, product, claim, lambda _current: (MediaSet(main_image=Image(image)), None)
        )
    released = catalog.delete_product(store, first)
    assert released is not None
    assert catalog.collect_garbage(released, blobs.delete) == 0
    product = catalog.get_product(store, second)
    assert product is not None and product.media.main_image is not None
    assert all(blobs.exists(key) for key in contents)


def test_update_of_a_missing_product_keeps_the_claim(
    catalog: Catalog, blobs: FileBlobStore
) -> None:
    store = catalog.create_store("s")
    _, contents = _image(blobs, "orphan")
    _put(catalog, blobs, "c", contents)
    assert catalog.update_media(store, 424242, "c", lambda m: (m, None)) is None
    assert catalog.release("c") == set(contents)
    assert catalog.collect_garbage(contents, blobs.delete) == 5


def test_sweep_clears_what_dead_processes_left(tmp_path: Path, catalog: Catalog) -> None:
    owners = Owners(tmp_path / "owners")
    me = owners.register()
    dead = crashed_owner(owners.folder)
    blobs = FileBlobStore(tmp_path / "media", owner=me.id)
    store = catalog.create_store("s")
    product = catalog.create_product(store, "p", None, 0)
    kept, kept_contents = _image(blobs, "kept")
    _put(catalog, blobs, "c", kept_contents, me.id)
    catalog.update_media(store, product, "c", lambda _m: (MediaSet(main_image=Image(kept)), None))
    _, dead_contents = _image(blobs, "dead")
    _put(catalog, blobs, "dead-request", dead_contents, dead)
    _, legacy_contents = _image(blobs, "legacy")
    _put(catalog, blobs, "claim-from-before-owners", legacy_contents, "")
    _, live_contents = _image(blobs, "live")
    _put(catalog, blobs, "live-request", live_contents, me.id)
    dead_part = blobs.root / "tmp" / f"{dead}.x1.part"
    live_part = blobs.root / "tmp" / f"{me.id}.x2.part"
    for part in (dead_part, live_part):
        part.write_bytes(b"half")
    unreferenced = blob_key(b"nobody", "png")
    blobs.put(unreferenced, b"nobody")

    assert sweep_orphans(catalog, blobs, owners) == 11, "the dead and unclaimed files go"
    assert all(blobs.exists(key) for key in kept_contents), "referenced files stay"
    assert all(blobs.exists(key) for key in live_contents), "a live process's claims hold"
    assert not any(blobs.exists(key) for key in dead_contents | legacy_contents)
    assert not dead_part.exists() and live_part.exists()
    assert catalog.claim_owners() == {me.id}
    assert owners.known() == {me.id}, "the dead owner's lock file is gone"
    assert sweep_orphans(catalog, blobs, owners) == 0
    me.close()


def test_claims_from_before_owners_migrate_as_ownerless(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config()
    with catalog.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO blob_claims (claim, key) VALUES ('c', 'k')"))
    catalog.migrate()
    assert catalog.schema_revision() == SCHEMA_REVISION
    assert catalog.claim_owners() == {""}
    catalog.close()


def test_a_sweep_with_no_dead_owner_may_skip_collecting(tmp_path: Path, catalog: Catalog) -> None:
    owners = Owners(tmp_path / "owners")
    me = owners.register()
    blobs = FileBlobStore(tmp_path / "media", owner=me.id)
    stray = blob_key(b"stray", "png")
    blobs.put(stray, b"stray")
    assert sweep_orphans(catalog, blobs, owners, always_collect=False) == 0
    assert blobs.exists(stray), "no process died, so nothing was listed"
    crashed_owner(owners.folder)
    assert sweep_orphans(catalog, blobs, owners, always_collect=False) == 1
    assert not blobs.exists(stray)
    me.close()
