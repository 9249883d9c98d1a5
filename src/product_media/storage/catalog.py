"""The catalog repository: stores, tokens, products and their media sets (SQLAlchemy 2 Core).

Every public method is one unit of work: one transaction, committed or rolled back as a whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib.resources import files
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Row,
    column,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.exc import IntegrityError

from product_media.domain.access import Grant, TokenKind
from product_media.domain.media import (
    Alt,
    Blob,
    Image,
    ImageFiles,
    MediaSet,
    Video,
    VideoFiles,
)
from product_media.domain.product import Product
from product_media.storage.tables import (
    blob_claims,
    blob_refs,
    gallery_items,
    images,
    locks,
    products,
    stores,
    tokens,
    videos,
)

T = TypeVar("T")

# The newest migration under migrations/versions (a test keeps the two in step).
SCHEMA_REVISION = "0002"


class StoreExists(Exception):
    pass


class StoreMissing(Exception):
    pass


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN into our own hands so reads see one snapshot and writers queue up.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Catalog:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)

    def schema_revision(self) -> str | None:
        with self._read() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(
                select(column("version_num")).select_from(table("alembic_version"))
            ).scalar()

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        if self.schema_revision() == SCHEMA_REVISION:
            return
        # Alembic takes half a second to import; the command line only pays when it migrates.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option(
            "script_location", str(files("product_media.storage").joinpath("migrations"))
        )
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        conn = self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        with conn, conn.begin():
            yield conn

    @staticmethod
    def _lock_blobs(conn: Connection) -> None:
        """Serialise everything that adds or drops references to blobs."""
        conn.execute(
            update(locks).where(locks.c.name == "blobs").values(counter=locks.c.counter + 1)
        )

    # -- stores and tokens -------------------------------------------------------------------

    def create_store(self, name: str, store_id: int | None = None) -> int:
        values: dict[str, Any] = {"name": name}
        if store_id is not None:
            values["id"] = store_id
        try:
            with self._write() as conn:
                result = conn.execute(insert(stores).values(**values))
                return _new_id(result)
        except IntegrityError as exc:
            raise StoreExists(f"store {store_id} exists already") from exc

    def store_exists(self, store_id: int) -> bool:
        with self._read() as conn:
            return _store_exists(conn, store_id)

    def first_store_id(self) -> int | None:
        with self._read() as conn:
            return conn.execute(select(func.min(stores.c.id))).scalar()

    def add_token(self, store_id: int, hashed: str, kind: TokenKind, scopes: Iterable[str]) -> None:
        with self._write() as conn:
            if not _store_exists(conn, store_id):
                raise StoreMissing(f"store {store_id} does not exist")
            conn.execute(
                insert(tokens).values(
                    store_id=store_id, token_hash=hashed, kind=kind, scopes=",".join(sorted(scopes))
                )
            )

    def find_grant(self, hashed: str) -> tuple[str, Grant] | None:
        """The stored hash and the grant of a token, looked up by its hash."""
        with self._read() as conn:
            row = conn.execute(
                select(
                    tokens.c.token_hash, tokens.c.store_id, tokens.c.kind, tokens.c.scopes
                ).where(tokens.c.token_hash == hashed)
            ).first()
        if row is None:
            return None
        scopes = frozenset(filter(None, row.scopes.split(",")))
        return row.token_hash, Grant(row.store_id, row.kind, scopes)

    # -- products ----------------------------------------------------------------------------

    def create_product(self, store_id: int, name: str, sku: str | None, price: float) -> int:
        with self._write() as conn:
            result = conn.execute(
                insert(products).values(store_id=store_id, name=name, sku=sku, price=price)
            )
            return _new_id(result)

    def product_exists(self, store_id: int, product_id: int) -> bool:
        query = select(products.c.id).where(
            products.c.store_id == store_id, products.c.id == product_id
        )
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def get_product(self, store_id: int, product_id: int) -> Product | None:
        with self._read() as conn:
            rows = self._product_rows(conn, store_id, [product_id])
            return _products(conn, rows)[0] if rows else None

    def list_products(
        self, store_id: int, *, offset: int, limit: int, sku: str | None, keyword: str | None
    ) -> tuple[int, list[Product]]:
        where = [products.c.store_id == store_id]
        if sku is not None:
            where.append(products.c.sku == sku)
        if keyword:
            pattern = (
                "%" + keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            where.append(
                or_(
                    products.c.name.ilike(pattern, escape="\\"),
                    products.c.sku.ilike(pattern, escape="\\"),
                )
            )
        with self._read() as conn:
            total = conn.execute(
                select(func.count()).select_from(products).where(*where)
            ).scalar_one()
            rows = conn.execute(
                select(products).where(*where).order_by(products.c.id).offset(offset).limit(limit)
            ).all()
            return int(total), _products(conn, rows)

    def delete_product(self, store_id: int, product_id: int) -> frozenset[str] | None:
        """Delete a product; returns the blob keys it used, or None when there was none."""
        with self._write() as conn:
            self._lock_blobs(conn)
            rows = self._product_rows(conn, store_id, [product_id])
            if not rows:
                return None
            media = _products(conn, rows)[0].media
            _delete_media_rows(conn, [product_id])
            conn.execute(delete(products).where(products.c.id == product_id))
            return media.blob_keys()

    @staticmethod
    def _product_rows(conn: Connection, store_id: int, ids: Sequence[int]) -> list[Row[Any]]:
        query = select(products).where(products.c.store_id == store_id, products.c.id.in_(ids))
        return list(conn.execute(query).all())

    # -- media -------------------------------------------------------------------------------

    def claim(self, claim: str, owner: str, keys: Iterable[str], write: Callable[[], None]) -> None:
        """Record a claim on `keys` for the running process `owner`, then call `write`.

        The claim commits before the write, so a concurrent garbage collection either ran
        entirely before it (and the write puts back what it removed) or sees the claim.
        """
        rows = [{"claim": claim, "owner": owner, "key": key} for key in keys]
        with self._write() as conn:
            self._lock_blobs(conn)
            conn.execute(insert(blob_claims), rows)
        write()

    def release(self, claim: str) -> frozenset[str]:
        """Drop a claim; returns the keys it held (candidates for collection)."""
        with self._write() as conn:
            self._lock_blobs(conn)
            return _release(conn, claim)

    def update_media(
        self,
        store_id: int,
        product_id: int,
        claim: str,
        decide: Callable[[MediaSet], tuple[MediaSet, T]],
    ) -> tuple[T, frozenset[str]] | None:
        """Replace a product's media set with `decide(current)` in one transaction.

        Returns what `decide` returned beside it and the blob keys that may have become
        garbage; None when the product does not exist (the claim is kept for the caller).
        """
        with self._write() as conn:
            self._lock_blobs(conn)
            rows = self._product_rows(conn, store_id, [product_id])
            if not rows:
                return None
            current = _products(conn, rows)[0].media
            new, outcome = decide(current)
            _save_media(conn, store_id, product_id, current, new)
            released = _release(conn, claim)
            return outcome, (current.blob_keys() | released) - new.blob_keys()

    def collect_garbage(self, keys: Iterable[str], delete_blob: Callable[[str], None]) -> int:
        """Delete every blob in `keys` that no row references and no claim holds."""
        keys = sorted(set(keys))
        if not keys:
            return 0
        with self._write() as conn:
            self._lock_blobs(conn)
            used = set(
                conn.execute(select(blob_refs.c.key).where(blob_refs.c.key.in_(keys))).scalars()
            )
            used.update(
                conn.execute(select(blob_claims.c.key).where(blob_claims.c.key.in_(keys))).scalars()
            )
            garbage = [key for key in keys if key not in used]
            for key in garbage:
                delete_blob(key)
            return len(garbage)

    def claim_owners(self) -> set[str]:
        with self._read() as conn:
            return set(conn.execute(select(blob_claims.c.owner).distinct()).scalars())

    def drop_claims_of(self, owners: Iterable[str]) -> None:
        """Drop the claims of processes that are gone."""
        owners = sorted(set(owners))
        if not owners:
            return
        with self._write() as conn:
            self._lock_blobs(conn)
            conn.execute(delete(blob_claims).where(blob_claims.c.owner.in_(owners)))


def _store_exists(conn: Connection, store_id: int) -> bool:
    return conn.execute(select(stores.c.id).where(stores.c.id == store_id)).first() is not None


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "an insert of one row has a primary key"
    return int(key[0])


def _release(conn: Connection, claim: str) -> frozenset[str]:
    keys = frozenset(
        conn.execute(select(blob_claims.c.key).where(blob_claims.c.claim == claim)).scalars()
    )
    conn.execute(delete(blob_claims).where(blob_claims.c.claim == claim))
    return keys


# -- mapping rows to the media model and back ---------------------------------------------


def _products(conn: Connection, rows: Sequence[Row[Any]]) -> list[Product]:
    media = _load_media(conn, rows)
    return [
        Product(
            id=row.id,
            store_id=row.store_id,
            name=row.name,
            sku=row.sku,
            price=row.price,
            media=media[row.id],
        )
        for row in rows
    ]


def _image_files(refs: list[Row[Any]], width: int, height: int) -> ImageFiles:
    by_role = {ref.role: Blob(ref.key, ref.content_type) for ref in refs}
    original = by_role.pop("original")
    return ImageFiles(
        original=original,
        width=width,
        height=height,
        derived={
            int(role): blob for role, blob in sorted(by_role.items(), key=lambda r: int(r[0]))
        },
    )


def _load_media(conn: Connection, rows: Sequence[Row[Any]]) -> dict[int, MediaSet]:
    ids = [row.id for row in rows]
    image_rows = conn.execute(select(images).where(images.c.product_id.in_(ids))).all()
    video_rows = conn.execute(select(videos).where(videos.c.product_id.in_(ids))).all()
    image_refs: dict[int, list[Row[Any]]] = defaultdict(list)
    video_refs: dict[int, list[Row[Any]]] = defaultdict(list)
    image_ids = [r.id for r in image_rows]
    video_ids = [r.id for r in video_rows]
    if image_ids or video_ids:
        ref_rows = conn.execute(
            select(blob_refs).where(
                or_(blob_refs.c.image_id.in_(image_ids), blob_refs.c.video_id.in_(video_ids))
            )
        ).all()
        for ref in ref_rows:
            if ref.image_id is not None:
                image_refs[ref.image_id].append(ref)
            else:
                video_refs[ref.video_id].append(ref)
    files = {r.id: _image_files(image_refs[r.id], r.width, r.height) for r in image_rows}
    all_images = {r.id: Image(files=files[r.id], id=r.id, alt=_alt(r.alt)) for r in image_rows}
    all_videos = {}
    for r in video_rows:
        file_refs = video_refs[r.id]
        source = VideoFiles(
            url=r.url,
            file=Blob(file_refs[0].key, file_refs[0].content_type) if file_refs else None,
            provider_name=r.provider_name,
            title=r.title,
            cover=files.get(r.cover_image_id) if r.cover_image_id is not None else None,
        )
        all_videos[r.id] = Video(source=source, id=r.id, cover_id=r.cover_image_id)
    gallery: dict[int, list[Image | Video]] = defaultdict(list)
    item_rows = conn.execute(
        select(gallery_items)
        .where(gallery_items.c.product_id.in_(ids))
        .order_by(gallery_items.c.product_id, gallery_items.c.position)
    ).all()
    for item in item_rows:
        if item.image_id is not None:
            gallery[item.product_id].append(all_images[item.image_id])
        else:
            gallery[item.product_id].append(all_videos[item.video_id])
    return {
        row.id: MediaSet(
            main_image=all_images.get(row.main_image_id) if row.main_image_id else None,
            main_video=all_videos.get(row.main_video_id) if row.main_video_id else None,
            gallery=tuple(gallery[row.id]),
        )
        for row in rows
    }


def _alt(value: Any) -> Alt | None:
    if not isinstance(value, dict):
        return None
    return Alt(main=str(value.get("main", "")), translated=dict(value.get("translated") or {}))


def _insert_image(
    conn: Connection, store_id: int, product_id: int, image: ImageFiles, alt: Alt | None
) -> int:
    alt_value = None if alt is None else {"main": alt.main, "translated": dict(alt.translated)}
    image_id = _new_id(
        conn.execute(
            insert(images).values(
                store_id=store_id,
                product_id=product_id,
                width=image.width,
                height=image.height,
                alt=alt_value,
            )
        )
    )
    refs = [
        {"role": "original", "key": image.original.key, "content_type": image.original.content_type}
    ]
    refs += [
        {"role": str(size), "key": blob.key, "content_type": blob.content_type}
        for size, blob in image.derived.items()
    ]
    conn.execute(insert(blob_refs), [dict(ref, image_id=image_id) for ref in refs])
    return image_id


def _stored(
    conn: Connection, store_id: int, product_id: int, item: Image | Video
) -> tuple[str, int]:
    """Insert `item` unless the catalog has it already; returns its kind and id."""
    if isinstance(item, Image):
        if item.id is not None:
            return "image", item.id
        return "image", _insert_image(conn, store_id, product_id, item.files, item.alt)
    if item.id is not None:
        return "video", item.id
    source = item.source
    cover_id = (
        _insert_image(conn, store_id, product_id, source.cover, None) if source.cover else None
    )
    video_id = _new_id(
        conn.execute(
            insert(videos).values(
                store_id=store_id,
                product_id=product_id,
                url=source.url,
                provider_name=source.provider_name,
                title=source.title,
                cover_image_id=cover_id,
            )
        )
    )
    if source.file is not None:
        conn.execute(
            insert(blob_refs).values(
                role="file",
                key=source.file.key,
                content_type=source.file.content_type,
                video_id=video_id,
            )
        )
    return "video", video_id


def _ids(media: MediaSet) -> tuple[set[int], set[int]]:
    image_ids: set[int] = set()
    video_ids: set[int] = set()
    for item in media.items():
        if isinstance(item, Image) and item.id is not None:
            image_ids.add(item.id)
        elif isinstance(item, Video) and item.id is not None:
            video_ids.add(item.id)
            if item.cover_id is not None:
                image_ids.add(item.cover_id)
    return image_ids, video_ids


def _delete_images_and_videos(
    conn: Connection, image_ids: Iterable[int], video_ids: Iterable[int]
) -> None:
    image_ids, video_ids = list(image_ids), list(video_ids)
    if video_ids:
        conn.execute(delete(blob_refs).where(blob_refs.c.video_id.in_(video_ids)))
        conn.execute(delete(videos).where(videos.c.id.in_(video_ids)))
    if image_ids:
        conn.execute(delete(blob_refs).where(blob_refs.c.image_id.in_(image_ids)))
        conn.execute(delete(images).where(images.c.id.in_(image_ids)))


def _delete_media_rows(conn: Connection, product_ids: list[int]) -> None:
    conn.execute(delete(gallery_items).where(gallery_items.c.product_id.in_(product_ids)))
    image_ids = conn.execute(
        select(images.c.id).where(images.c.product_id.in_(product_ids))
    ).scalars()
    video_ids = conn.execute(
        select(videos.c.id).where(videos.c.product_id.in_(product_ids))
    ).scalars()
    _delete_images_and_videos(conn, list(image_ids), list(video_ids))


def _save_media(
    conn: Connection, store_id: int, product_id: int, current: MediaSet, new: MediaSet
) -> None:
    old_images, old_videos = _ids(current)
    kept_images, kept_videos = _ids(new)
    conn.execute(delete(gallery_items).where(gallery_items.c.product_id == product_id))
    _delete_images_and_videos(conn, old_images - kept_images, old_videos - kept_videos)
    main_image_id = (
        _stored(conn, store_id, product_id, new.main_image)[1] if new.main_image else None
    )
    main_video_id = (
        _stored(conn, store_id, product_id, new.main_video)[1] if new.main_video else None
    )
    rows = []
    for position, item in enumerate(new.gallery, start=1):
        kind, item_id = _stored(conn, store_id, product_id, item)
        rows.append(
            {
                "product_id": product_id,
                "position": position,
                "image_id": item_id if kind == "image" else None,
                "video_id": item_id if kind == "video" else None,
            }
        )
    if rows:
        conn.execute(insert(gallery_items), rows)
    conn.execute(
        update(products)
        .where(products.c.id == product_id)
        .values(main_image_id=main_image_id, main_video_id=main_video_id, updated_at=func.now())
    )
