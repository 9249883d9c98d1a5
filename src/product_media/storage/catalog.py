"""The catalog repository: stores, tokens, products, their media sets and the ledger of blob
lifetimes (SQLAlchemy 2 Core on SQLite or PostgreSQL).

Every public method is one unit of work: one transaction, committed or rolled back as a whole.
No method calls the blob store: blobs are the service layer's to write and delete.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from product_media.domain.access import Grant, TokenKind, token_hash, token_prefix
from product_media.domain.media import DERIVED_SIZES, ImageFiles, MediaSet
from product_media.domain.product import Product
from product_media.domain.product_edits import ProductChanges, ProductSearch, SortBy
from product_media.domain.seed import Seed, SeedConflict, SeedProduct
from product_media.domain.source_validators import Remembered, Validators
from product_media.domain.update_report import UpdateReport, report_from, report_value
from product_media.storage import ids, rows
from product_media.storage.engine import (
    Lookup,
    ThreadCursors,
    db_now,
    epoch_now,
    is_postgresql,
    look_up,
    lookup_engine,
    make_engine,
    migrate,
    read_transaction,
    write_transaction,
)
from product_media.storage.ports import ClaimLost, MediaJob, SkuTaken
from product_media.storage.tables import (
    blob_claims,
    blob_marks,
    blob_refs,
    gallery_items,
    images,
    media_jobs,
    media_reports,
    owners,
    products,
    products_search,
    source_validators,
    stores,
    tokens,
    videos,
)

T = TypeVar("T")


# The lookups every read makes.
_GRANT = Lookup(
    select(tokens.c.token_hash, tokens.c.store_id, tokens.c.kind, tokens.c.scopes).where(
        tokens.c.token_hash == bindparam("hashed")
    )
)
_REVISION_OF = select(products.c.revision).where(
    products.c.id == bindparam("product_id"), products.c.store_id == bindparam("store_id")
)
_REVISION = Lookup(_REVISION_OF)
# Both in one statement (one round trip): no row when the token is unknown.
_GRANT_AND_REVISION = Lookup(
    select(
        tokens.c.token_hash,
        tokens.c.store_id,
        tokens.c.kind,
        tokens.c.scopes,
        _REVISION_OF.scalar_subquery(),
    ).where(tokens.c.token_hash == bindparam("hashed"))
)


def _grant(row: Any) -> tuple[str, Grant] | None:
    if row is None:
        return None
    token_hash, store_id, kind, scopes = row
    return token_hash, Grant(int(store_id), kind, frozenset(filter(None, scopes.split(","))))


class StoreExists(Exception):
    pass


class StoreMissing(Exception):
    pass


class TokenNotFound(Exception):
    pass


class AmbiguousToken(Exception):
    pass


@dataclass(frozen=True)
class TokenListing:
    """What may be shown of a token: its kept prefix (None for tokens made before prefixes
    were kept), its kind and scopes."""

    prefix: str | None
    kind: TokenKind
    scopes: frozenset[str]


class SqlCatalog:
    """`owner_lease` is how long a server that stopped renewing its lease counts as alive: its
    deletion marks hold until then."""

    def __init__(self, url: str, *, owner_lease: float = 60.0) -> None:
        self.engine = make_engine(url)
        # SQLite's lookups made in place, on the event loop (see grant_and_revision_at_once).
        self._in_place = ThreadCursors.for_url(url)
        # PostgreSQL's lookups on a pool that does not ping at each checkout.
        self._lookups = self.engine if self._in_place is not None else lookup_engine(url)
        self._owner_lease = owner_lease
        self._has_search_index: bool | None = None

    def migrate(self) -> None:
        migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if self._in_place is not None:
            self._in_place.dispose()
        else:
            self._lookups.dispose()

    def ping(self) -> None:
        """Raises when the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(select(1))

    # -- stores and tokens -------------------------------------------------------------------

    def create_store(self, name: str, store_id: int | None = None) -> int:
        try:
            with write_transaction(self.engine) as conn:
                if store_id is None:
                    new_id = ids.next_id(conn, "stores")
                    conn.execute(insert(stores).values(id=new_id, name=name))
                    return new_id
                # Generated ids then go past this one.
                ids.lock_for_explicit(conn, "stores")
                conn.execute(insert(stores).values(id=store_id, name=name))
                ids.move_past(conn, "stores", store_id)
                return store_id
        except IntegrityError as exc:
            raise StoreExists(f"store {store_id} exists already") from exc

    def store_exists(self, store_id: int) -> bool:
        with read_transaction(self.engine) as conn:
            return _store_exists(conn, store_id)

    def store_name(self, store_id: int) -> str | None:
        with read_transaction(self.engine) as conn:
            name: str | None = conn.execute(
                select(stores.c.name).where(stores.c.id == store_id)
            ).scalar()
            return name

    def first_store_id(self) -> int | None:
        with read_transaction(self.engine) as conn:
            first: int | None = conn.execute(select(func.min(stores.c.id))).scalar()
            return first

    def list_stores(self) -> list[tuple[int, str]]:
        """Every store's id and name, by id."""
        with read_transaction(self.engine) as conn:
            found = conn.execute(select(stores.c.id, stores.c.name).order_by(stores.c.id))
            return [(row.id, row.name) for row in found]

    def delete_store(self, store_id: int) -> frozenset[str] | None:
        """Delete a store with its tokens and products; returns the blob keys its products
        used, or None when there was no such store."""
        with write_transaction(self.engine) as conn:
            found = conn.execute(
                select(stores.c.id).where(stores.c.id == store_id).with_for_update()
            ).first()
            if found is None:
                return None
            owned = list(
                conn.execute(
                    select(products).where(products.c.store_id == store_id).with_for_update()
                ).all()
            )
            keys: frozenset[str] = frozenset()
            for product in rows.load_products(conn, owned):
                keys |= product.media.blob_keys()
            rows.delete_media_rows(conn, [row.id for row in owned])
            conn.execute(delete(products).where(products.c.store_id == store_id))
            conn.execute(delete(tokens).where(tokens.c.store_id == store_id))
            conn.execute(delete(stores).where(stores.c.id == store_id))
            return keys

    def add_token(
        self,
        store_id: int,
        hashed: str,
        kind: TokenKind,
        scopes: Iterable[str],
        *,
        prefix: str | None = None,
    ) -> None:
        """`prefix`: the token's first characters (`token_prefix`), kept to tell it apart in
        listings; the token itself is never stored."""
        with write_transaction(self.engine) as conn:
            if not _store_exists(conn, store_id):
                raise StoreMissing(f"store {store_id} does not exist")
            conn.execute(
                insert(tokens).values(
                    store_id=store_id,
                    token_hash=hashed,
                    kind=kind,
                    scopes=",".join(sorted(scopes)),
                    prefix=prefix,
                )
            )

    def list_tokens(self, store_id: int) -> list[TokenListing]:
        """A store's tokens, oldest first; raises StoreMissing."""
        with read_transaction(self.engine) as conn:
            if not _store_exists(conn, store_id):
                raise StoreMissing(f"store {store_id} does not exist")
            found = conn.execute(
                select(tokens.c.prefix, tokens.c.kind, tokens.c.scopes)
                .where(tokens.c.store_id == store_id)
                .order_by(tokens.c.id)
            )
            return [
                TokenListing(row.prefix, row.kind, frozenset(filter(None, row.scopes.split(","))))
                for row in found
            ]

    def revoke_token(self, prefix: str | None = None, hashed: str | None = None) -> int:
        """Delete the one token whose kept prefix starts with `prefix`, or whose hash is
        `hashed`; returns its store id. Raises TokenNotFound, or AmbiguousToken naming how many
        tokens the prefix matches (nothing is deleted then)."""
        if hashed is not None:
            where = tokens.c.token_hash == hashed
        elif prefix:
            # Not LIKE: SQLite's is blind to case, and tokens are not.
            where = func.substr(tokens.c.prefix, 1, len(prefix)) == prefix
        else:
            raise TokenNotFound("no token named")
        with write_transaction(self.engine) as conn:
            found = conn.execute(select(tokens.c.id, tokens.c.store_id).where(where).limit(2)).all()
            if not found:
                raise TokenNotFound("no token matches")
            if len(found) > 1:
                count = conn.execute(select(func.count()).select_from(tokens).where(where))
                raise AmbiguousToken(f"{count.scalar_one()} tokens match")
            conn.execute(delete(tokens).where(tokens.c.id == found[0].id))
            store_id: int = found[0].store_id
            return store_id

    def find_grant(self, hashed: str) -> tuple[str, Grant] | None:
        """The stored hash and the grant of a token, looked up by its hash."""
        dialect = self.engine.dialect
        return look_up(
            self._lookups, lambda cursor: _grant(_GRANT.first(cursor, dialect, hashed=hashed))
        )

    def grant_and_revision(
        self, hashed: str, store_id: int, product_id: int
    ) -> tuple[tuple[str, Grant] | None, int | None]:
        """find_grant and product_revision at once, in one statement; the revision is None
        also when the token is unknown."""
        return look_up(
            self._lookups,
            lambda cursor: self._grant_and_revision(cursor, hashed, store_id, product_id),
        )

    def grant_and_revision_at_once(
        self, hashed: str, store_id: int, product_id: int
    ) -> tuple[tuple[str, Grant] | None, int | None] | None:
        """grant_and_revision where it takes microseconds and waits for nothing: on SQLite,
        whose readers of a WAL database never wait for its writers (two lookups by key in a
        local file). None on PostgreSQL: a network round trip belongs in a worker thread."""
        if self._in_place is None:
            return None
        cursor = self._in_place.cursor()
        return self._grant_and_revision(cursor, hashed, store_id, product_id)

    def _grant_and_revision(
        self, cursor: Any, hashed: str, store_id: int, product_id: int
    ) -> tuple[tuple[str, Grant] | None, int | None]:
        """An unknown token's product is not looked up: (None, None)."""
        found = _GRANT_AND_REVISION.first(
            cursor, self.engine.dialect, hashed=hashed, product_id=product_id, store_id=store_id
        )
        if found is None:
            return None, None
        revision = found[4]
        return _grant(found[:4]), None if revision is None else int(revision)

    # -- products ----------------------------------------------------------------------------

    def create_product(
        self,
        store_id: int,
        name: str,
        sku: str | None,
        price: float,
        changes: ProductChanges | None = None,
    ) -> int:
        fresh = Product(id=0, store_id=store_id, name=name, sku=sku or None, price=price)
        if changes is not None:
            fresh = changes.applied(fresh)
        with write_transaction(self.engine) as conn:
            _check_sku(conn, store_id, fresh.sku, None)
            product_id = ids.next_id(conn, "products")
            now = db_now()
            with _sku_constraint():
                conn.execute(
                    insert(products).values(
                        id=product_id,
                        store_id=store_id,
                        created_at=now,
                        updated_at=now,
                        revision=ids.next_id(conn, "revisions"),
                        **_product_fields(fresh),
                    )
                )
            return product_id

    def product_exists(self, store_id: int, product_id: int) -> bool:
        query = select(products.c.id).where(
            products.c.store_id == store_id, products.c.id == product_id
        )
        with read_transaction(self.engine) as conn:
            return conn.execute(query).first() is not None

    def product_revision(self, store_id: int, product_id: int) -> int | None:
        """The product's revision (None when the store has no such product): one lookup by
        primary key."""
        dialect = self.engine.dialect
        found = look_up(
            self._lookups,
            lambda cursor: _REVISION.first(
                cursor, dialect, product_id=product_id, store_id=store_id
            ),
        )
        return None if found is None else int(found[0])

    def get_product(self, store_id: int, product_id: int) -> Product | None:
        # One snapshot for the product's row and its media, so that what is read is exactly
        # its revision (PostgreSQL's default gives each statement a snapshot of its own).
        with read_transaction(self.engine, snapshot=True) as conn:
            found = _product_rows(conn, store_id, [product_id])
            return rows.load_products(conn, found)[0] if found else None

    def list_products(
        self, store_id: int, search: ProductSearch, *, offset: int, limit: int
    ) -> tuple[int, list[Product]]:
        where = _filters(store_id, search, self._search_index())
        with read_transaction(self.engine) as conn:
            total = conn.execute(
                select(func.count()).select_from(products).where(*where)
            ).scalar_one()
            found = conn.execute(
                select(products)
                .where(*where)
                .order_by(*_order(search.sort_by))
                .offset(offset)
                .limit(limit)
            ).all()
            return int(total), rows.load_products(conn, found)

    def _search_index(self) -> bool:
        """Whether keyword search may read SQLite's trigram index (migration 0008 made it,
        unless FTS5 was missing). PostgreSQL's trigram indexes serve the search's ILIKE as
        they are, so no query there names them."""
        if self._has_search_index is None:
            with self.engine.connect() as conn:
                self._has_search_index = not is_postgresql(conn) and inspect(conn).has_table(
                    products_search.name
                )
        return self._has_search_index

    def delete_product(self, store_id: int, product_id: int) -> frozenset[str] | None:
        """Delete a product; returns the blob keys it used, or None when there was none."""
        with write_transaction(self.engine) as conn:
            found = _product_rows(conn, store_id, [product_id], lock=True)
            if not found:
                return None
            media = rows.load_products(conn, found)[0].media
            rows.delete_media_rows(conn, [product_id])
            conn.execute(delete(products).where(products.c.id == product_id))
            return media.blob_keys()

    # -- media -------------------------------------------------------------------------------

    def update_media(
        self,
        store_id: int,
        product_id: int,
        claim: str,
        decide: Callable[[MediaSet], tuple[MediaSet, T]],
        *,
        changes: ProductChanges | None = None,
        job: int | None = None,
        report: Callable[[T], UpdateReport] | None = None,
    ) -> tuple[T, frozenset[str]] | None:
        """Replace a product's media set with `decide(current)` in one transaction, with
        `changes` to the product's fields (SkuTaken), the media job `job` dropped and
        `report(outcome)` kept as the product's last media update.

        Returns what `decide` returned beside it and the blob keys that may have become
        garbage; None when the product does not exist (the claim is kept for the caller).
        Raises ClaimLost when the claim no longer holds the new files.
        """
        with write_transaction(self.engine) as conn:
            # The row lock serialises updates of one product; the plan sees the latest state.
            found = _product_rows(conn, store_id, [product_id], lock=True)
            if not found:
                return None
            product = rows.load_products(conn, found)[0]
            current = product.media
            new, outcome = decide(current)
            released = _release(conn, claim)
            if new.blob_keys() - current.blob_keys() - released:
                raise ClaimLost(f"claim {claim} was dropped before its commit")
            if new != current:
                rows.save_media(conn, store_id, product_id, current, new)
            if changes is not None:
                edited = changes.applied(product)
                fields = _product_fields(edited)
                if fields != _product_fields(product):
                    _check_sku(conn, store_id, edited.sku, product_id)
                    with _sku_constraint():
                        conn.execute(
                            update(products)
                            .where(products.c.id == product_id)
                            .values(
                                updated_at=db_now(),
                                revision=ids.next_id(conn, "revisions"),
                                **fields,
                            )
                        )
            if job is not None:
                conn.execute(delete(media_jobs).where(media_jobs.c.id == job))
            if report is not None:
                _save_report(conn, store_id, product_id, report(outcome))
            return outcome, (current.blob_keys() | released) - new.blob_keys()

    def update_report(self, store_id: int, product_id: int) -> UpdateReport | None:
        """The product's last media update, or None when it has had none (or does not exist)."""
        query = select(media_reports.c.reported_at, media_reports.c.report).where(
            media_reports.c.store_id == store_id, media_reports.c.product_id == product_id
        )
        with read_transaction(self.engine) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return report_from(row.report, rows.utc(row.reported_at))

    def reserve_media_id(self) -> int:
        with write_transaction(self.engine) as conn:
            return ids.next_id(conn, "media")

    # -- the emulator's seed and reset ------------------------------------------------------

    def add_seed(self, seed: Seed) -> list[tuple[int, SeedProduct]]:
        """Create, in one transaction, the stores, tokens and products of `seed` that the
        catalog lacks (what exists is left as it is); returns the products created, with their
        store ids, for their media to be written. Raises SeedConflict, and nothing changes."""
        created: list[tuple[int, SeedProduct]] = []
        with write_transaction(self.engine) as conn:
            ids.lock_for_explicit(conn, "stores")
            ids.lock_for_explicit(conn, "products")
            for store in seed.stores:
                if not _store_exists(conn, store.id):
                    conn.execute(insert(stores).values(id=store.id, name=store.name))
                    ids.move_past(conn, "stores", store.id)
                for number, token in enumerate(store.tokens):
                    hashed = token_hash(token.token)
                    holder = conn.execute(
                        select(tokens.c.store_id).where(tokens.c.token_hash == hashed)
                    ).scalar()
                    if holder is None:
                        conn.execute(
                            insert(tokens).values(
                                store_id=store.id,
                                token_hash=hashed,
                                kind=token.kind,
                                scopes=",".join(sorted(token.scopes)),
                                prefix=token_prefix(token.token),
                            )
                        )
                    elif holder != store.id:
                        raise SeedConflict(
                            f"token {number + 1} of store {store.id} is a token of store {holder}"
                        )
                for product in store.products:
                    if self._seed_product(conn, store.id, product):
                        created.append((store.id, product))
        return created

    def _seed_product(self, conn: Connection, store_id: int, product: SeedProduct) -> bool:
        holder = conn.execute(
            select(products.c.store_id).where(products.c.id == product.id)
        ).scalar()
        if holder == store_id:
            return False
        if holder is not None:
            raise SeedConflict(f"product {product.id} is a product of store {holder}")
        try:
            _check_sku(conn, store_id, product.sku, None)
        except SkuTaken:
            raise SeedConflict(
                f"SKU {product.sku!r} of product {product.id} is taken by another product of "
                f"store {store_id}"
            ) from None
        fresh = Product(product.id, store_id, product.name, product.sku, product.price)
        now = db_now()
        conn.execute(
            insert(products).values(
                id=product.id,
                store_id=store_id,
                created_at=now,
                updated_at=now,
                revision=ids.next_id(conn, "revisions"),
                **_product_fields(fresh),
            )
        )
        ids.move_past(conn, "products", product.id)
        return True

    def empty(self) -> frozenset[str]:
        """Delete every store with its tokens, products, media and async jobs; ids handed out
        later still go past every id used before. Returns the blob keys the media used."""
        with write_transaction(self.engine) as conn:
            used = frozenset(conn.execute(select(blob_refs.c.key).distinct()).scalars())
            # Children first: nothing here relies on ON DELETE CASCADE.
            for table in (
                blob_refs,
                gallery_items,
                media_jobs,
                media_reports,
                source_validators,
                images,
                videos,
                products,
                tokens,
                stores,
            ):
                conn.execute(delete(table))
            return used

    # -- async image jobs --------------------------------------------------------------------

    def add_media_job(
        self, store_id: int, product_id: int, target: str, url: str, details: Mapping[str, Any]
    ) -> int | None:
        with write_transaction(self.engine) as conn:
            if not _product_rows(conn, store_id, [product_id]):
                return None
            job_id = ids.next_id(conn, "media")
            conn.execute(
                insert(media_jobs).values(
                    id=job_id,
                    store_id=store_id,
                    product_id=product_id,
                    target=target,
                    url=url,
                    details=dict(details),
                )
            )
            return job_id

    def media_job_owners(self) -> set[str]:
        with read_transaction(self.engine) as conn:
            held = select(media_jobs.c.owner).where(media_jobs.c.owner.is_not(None)).distinct()
            return set(conn.execute(held).scalars())

    def claim_media_job(self, owner: str, dead: Collection[str]) -> MediaJob | None:
        earlier = media_jobs.alias("earlier")
        free = or_(media_jobs.c.owner.is_(None), media_jobs.c.owner.in_(sorted(set(dead))))
        first_of_product = ~exists().where(
            earlier.c.product_id == media_jobs.c.product_id, earlier.c.id < media_jobs.c.id
        )
        query = select(media_jobs).where(free, first_of_product).order_by(media_jobs.c.id)
        with read_transaction(self.engine) as conn:
            if conn.execute(query.limit(1)).first() is None:
                # Most looks find nothing: they need not queue for the write lock.
                return None
        with write_transaction(self.engine) as conn:
            row = conn.execute(query.limit(1).with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            conn.execute(
                update(media_jobs)
                .where(media_jobs.c.id == row.id)
                .values(owner=owner, claimed_at=epoch_now(), attempts=media_jobs.c.attempts + 1)
            )
            return MediaJob(
                id=row.id,
                store_id=row.store_id,
                product_id=row.product_id,
                target=row.target,
                url=row.url,
                details=dict(row.details or {}),
                attempts=row.attempts + 1,
            )

    def release_media_job(self, job_id: int, owner: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(media_jobs)
                .where(media_jobs.c.id == job_id, media_jobs.c.owner == owner)
                .values(owner=None, claimed_at=None)
            )

    def drop_media_job(self, job_id: int) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(delete(media_jobs).where(media_jobs.c.id == job_id))

    # -- the ledger of blob lifetimes --------------------------------------------------------

    def claim(self, claim: str, owner: str, keys: Collection[str]) -> frozenset[str]:
        keys = sorted(set(keys))
        if not keys:
            return frozenset()
        with write_transaction(self.engine) as conn:
            _lock_keys(conn, keys)
            conn.execute(
                insert(blob_claims), [{"claim": claim, "owner": owner, "key": k} for k in keys]
            )
            return self._being_deleted(conn, keys)

    def being_deleted(self, keys: Collection[str]) -> frozenset[str]:
        with read_transaction(self.engine) as conn:
            return self._being_deleted(conn, sorted(set(keys)))

    def release(self, claim: str) -> frozenset[str]:
        with write_transaction(self.engine) as conn:
            return _release(conn, claim)

    def mark_garbage(self, keys: Collection[str], owner: str) -> frozenset[str]:
        keys = sorted(set(keys))
        if not keys:
            return frozenset()
        with write_transaction(self.engine) as conn:
            _lock_keys(conn, keys)
            # One statement, so one snapshot: a commit that swaps a claim for a reference
            # between two separate reads could otherwise make a key look free.
            used = set(
                conn.execute(
                    union(
                        select(blob_refs.c.key).where(blob_refs.c.key.in_(keys)),
                        select(blob_claims.c.key).where(blob_claims.c.key.in_(keys)),
                        self._live_marks(keys),
                    )
                ).scalars()
            )
            garbage = [key for key in keys if key not in used]
            if garbage:
                # A mark left by a dead owner, or by a delete that never finished, is taken over.
                conn.execute(delete(blob_marks).where(blob_marks.c.key.in_(garbage)))
                conn.execute(
                    insert(blob_marks).values(marked_at=epoch_now()),
                    [{"key": k, "owner": owner} for k in garbage],
                )
            return frozenset(garbage)

    def unmark(self, keys: Collection[str], owner: str) -> None:
        keys = sorted(set(keys))
        if not keys:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(
                delete(blob_marks).where(blob_marks.c.key.in_(keys), blob_marks.c.owner == owner)
            )

    def claim_in_use(self, claim: str, owner: str, groups: Sequence[Collection[str]]) -> list[bool]:
        every = sorted({key for group in groups for key in group})
        if not every:
            return [True] * len(groups)
        with write_transaction(self.engine) as conn:
            # Serialised with mark_garbage per key: once claimed here, no key can be marked
            # until the claim ends; one marked before has no reference left and is refused.
            _lock_keys(conn, every)
            referenced = set(
                conn.execute(
                    select(blob_refs.c.key).where(blob_refs.c.key.in_(every)).distinct()
                ).scalars()
            )
            usable = referenced - self._being_deleted(conn, every)
            answers = [set(group) <= usable for group in groups]
            kept = sorted({key for group in groups if set(group) <= usable for key in group})
            if kept:
                conn.execute(
                    insert(blob_claims), [{"claim": claim, "owner": owner, "key": k} for k in kept]
                )
            return answers

    def state_owners(self) -> set[str]:
        with read_transaction(self.engine) as conn:
            return set(
                conn.execute(
                    union(select(blob_claims.c.owner), select(blob_marks.c.owner))
                ).scalars()
            )

    def drop_owner_state(self, dead: Collection[str]) -> None:
        dead = sorted(set(dead))
        if not dead:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(delete(blob_claims).where(blob_claims.c.owner.in_(dead)))
            conn.execute(delete(blob_marks).where(blob_marks.c.owner.in_(dead)))

    # -- what sources answered, for re-syncs -------------------------------------------------

    def recall(self, store_id: int, urls: Collection[str]) -> dict[str, Remembered]:
        hashes = {_url_hash(url): url for url in urls}
        if not hashes:
            return {}
        remembered: dict[str, Remembered] = {}
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(source_validators).where(
                    source_validators.c.store_id == store_id,
                    source_validators.c.url_hash.in_(list(hashes)),
                )
            ).all()
            files = _files_of(conn, store_id, {row.original_key for row in rows})
            for row in rows:
                if row.original_key in files:
                    validators = Validators(row.etag, row.last_modified)
                    remembered[hashes[row.url_hash]] = Remembered(
                        validators, files[row.original_key]
                    )
        return remembered

    def files_of(self, store_id: int, original_key: str) -> ImageFiles | None:
        with read_transaction(self.engine) as conn:
            return _files_of(conn, store_id, {original_key}).get(original_key)

    def remember(self, store_id: int, sources: Mapping[str, tuple[Validators, str]]) -> None:
        if not sources:
            return
        values = [
            {
                "store_id": store_id,
                "url_hash": _url_hash(url),
                "etag": validators.etag,
                "last_modified": validators.last_modified,
                "original_key": key,
            }
            for url, (validators, key) in sorted(sources.items())
        ]
        with write_transaction(self.engine) as conn:
            upsert = (
                postgresql_insert(source_validators)
                if is_postgresql(conn)
                else sqlite_insert(source_validators)
            )
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[source_validators.c.store_id, source_validators.c.url_hash],
                    set_={
                        "etag": upsert.excluded.etag,
                        "last_modified": upsert.excluded.last_modified,
                        "original_key": upsert.excluded.original_key,
                    },
                ),
                values,
            )

    def _being_deleted(self, conn: Connection, keys: Sequence[str]) -> frozenset[str]:
        marked: Iterable[str] = conn.execute(self._live_marks(keys)).scalars()
        return frozenset(marked)

    def _live_marks(self, keys: Sequence[str]) -> Select[Any]:
        """Keys being deleted: marked within a lease by an owner whose lease still runs. A
        dead owner's mark, or one older than a lease (a delete takes far less), means nothing."""
        horizon = epoch_now() - self._owner_lease
        return (
            select(blob_marks.c.key)
            .join(owners, owners.c.id == blob_marks.c.owner)
            .where(
                blob_marks.c.key.in_(keys),
                blob_marks.c.marked_at > horizon,
                owners.c.renewed_at > horizon,
            )
        )


def _store_exists(conn: Connection, store_id: int) -> bool:
    return conn.execute(select(stores.c.id).where(stores.c.id == store_id)).first() is not None


def _product_rows(
    conn: Connection, store_id: int, ids: Sequence[int], *, lock: bool = False
) -> list[Row[Any]]:
    query = select(products).where(products.c.store_id == store_id, products.c.id.in_(ids))
    if lock:
        query = query.with_for_update()
    return list(conn.execute(query).all())


def _save_report(conn: Connection, store_id: int, product_id: int, report: UpdateReport) -> None:
    # The product row is locked, so no other update of it can slip in between.
    conn.execute(delete(media_reports).where(media_reports.c.product_id == product_id))
    conn.execute(
        insert(media_reports).values(
            product_id=product_id,
            store_id=store_id,
            reported_at=db_now(),
            report=report_value(report),
        )
    )


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _files_of(
    conn: Connection, store_id: int, original_keys: Collection[str]
) -> dict[str, ImageFiles]:
    """For each of `original_keys` that is the original of one of the store's images, the
    files of the newest such image, if it has a full set (every derived size and its border:
    images stored before borders existed do not). Three statements, however many keys."""
    if not original_keys:
        return {}
    newest: dict[str, int] = {
        key: image_id
        for key, image_id in conn.execute(
            select(blob_refs.c.key, func.max(images.c.id))
            .join(images, images.c.id == blob_refs.c.image_id)
            .where(
                images.c.store_id == store_id,
                blob_refs.c.role == "original",
                blob_refs.c.key.in_(sorted(original_keys)),
            )
            .group_by(blob_refs.c.key)
        )
    }
    image_ids = sorted(set(newest.values()))
    found = {
        row.id: row
        for row in conn.execute(
            select(images.c.id, images.c.width, images.c.height, images.c.border).where(
                images.c.id.in_(image_ids)
            )
        )
    }
    refs: dict[int, list[Row[Any]]] = defaultdict(list)
    for ref in conn.execute(select(blob_refs).where(blob_refs.c.image_id.in_(image_ids))):
        refs[ref.image_id].append(ref)
    files: dict[str, ImageFiles] = {}
    for key, image_id in newest.items():
        image = found.get(image_id)
        # Deleted since the first statement (on PostgreSQL each statement sees the latest
        # commits): there is nothing to reuse.
        if image is None or not any(ref.role == "original" for ref in refs[image_id]):
            continue
        made = rows.image_files(refs[image_id], image.width, image.height, image.border)
        if set(made.derived) == set(DERIVED_SIZES) and made.border is not None:
            files[key] = made
    return files


def _release(conn: Connection, claim: str) -> frozenset[str]:
    keys = frozenset(
        conn.execute(select(blob_claims.c.key).where(blob_claims.c.claim == claim)).scalars()
    )
    conn.execute(delete(blob_claims).where(blob_claims.c.claim == claim))
    return keys


def _key_lock(key: str) -> int:
    """A 64-bit advisory lock id for a blob key; two keys sharing one only wait for each other."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _lock_keys(conn: Connection, keys: Sequence[str]) -> None:
    """Serialise, per key, the transactions that claim blobs and those that mark them for
    deletion. SQLite needs nothing: its write transactions run one at a time already."""
    if not is_postgresql(conn):
        return
    locks = sorted({_key_lock(key) for key in keys})
    # In one order for everyone, so that two transactions never wait on each other.
    conn.execute(
        text(
            "SELECT pg_advisory_xact_lock(k) FROM "
            "(SELECT unnest(CAST(:locks AS bigint[])) AS k ORDER BY 1) AS ordered"
        ),
        {"locks": locks},
    )


def _product_fields(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "sku": product.sku,
        "price": product.price,
        "enabled": product.enabled,
        "description": product.description,
        "quantity": product.quantity,
        "unlimited": product.unlimited,
    }


def _check_sku(conn: Connection, store_id: int, sku: str | None, product_id: int | None) -> None:
    if sku is None:
        return
    query = select(products.c.id).where(products.c.store_id == store_id, products.c.sku == sku)
    if product_id is not None:
        query = query.where(products.c.id != product_id)
    if conn.execute(query.limit(1)).first() is not None:
        raise SkuTaken(f"SKU {sku!r} is taken by another product of the store")


@contextmanager
def _sku_constraint() -> Iterator[None]:
    """Turns the unique index's refusal (two writers taking one SKU at once) into SkuTaken;
    the products table has no other constraint an insert or update of ours can break."""
    try:
        yield
    except IntegrityError as exc:
        raise SkuTaken("SKU is taken by another product of the store") from exc


# The trigram index finds nothing shorter than a trigram.
_SHORTEST_INDEXED = 3


def _filters(
    store_id: int, search: ProductSearch, search_index: bool = False
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    keyword = search.keyword or ""
    # FTS5 reads a query string only up to a NUL; such a keyword scans.
    indexed = search_index and len(keyword) >= _SHORTEST_INDEXED and "\x00" not in keyword
    if search.product_ids is None and indexed:
        # `store_id + 0` keeps SQLite from reading the store's whole index beside the trigram
        # index's few ids (its documented way to rule out an index for a term).
        where.append(products.c.store_id + 0 == store_id)
    else:
        where.append(products.c.store_id == store_id)
    if search.enabled_only:
        where.append(products.c.enabled.is_(True))
    if search.product_ids is not None:
        # As on Ecwid, naming the products makes the other filters moot.
        where.append(products.c.id.in_(search.product_ids))
        return where
    if search.enabled is not None:
        where.append(products.c.enabled.is_(search.enabled))
    if search.sku is not None:
        where.append(products.c.sku == search.sku)
    if search.keyword:
        keyword = search.keyword
        pattern = "%" + keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(
                products.c.name.ilike(pattern, escape="\\"),
                products.c.sku.ilike(pattern, escape="\\"),
            )
        )
        if indexed:
            where.append(products.c.id.in_(_indexed_matches(keyword)))
    return where


def _indexed_matches(keyword: str) -> Select[Any]:
    """The ids whose name or SKU holds `keyword`, by the trigram index: case folded for all
    of Unicode, so a superset of what the ILIKE above keeps (it folds ASCII only), which
    then decides. The keyword is one FTS5 string, so no character in it is syntax."""
    phrase = '"' + keyword.replace('"', '""') + '"'
    return select(products_search.c.rowid).where(products_search.c.products_search.match(phrase))


def _order(sort_by: SortBy | None) -> list[ColumnElement[Any]]:
    """Ids only grow, so they order by creation; the id also breaks every tie."""
    c = products.c
    match sort_by:
        case SortBy.ADDED_TIME_DESC:
            return [c.id.desc()]
        case SortBy.NAME_ASC:
            return [func.lower(c.name), c.id]
        case SortBy.NAME_DESC:
            return [func.lower(c.name).desc(), c.id.desc()]
        case SortBy.SKU_ASC:
            # Products without a SKU last, either way.
            return [c.sku.is_(None), c.sku, c.id]
        case SortBy.SKU_DESC:
            return [c.sku.is_(None), c.sku.desc(), c.id.desc()]
        case SortBy.UPDATED_TIME_DESC:
            return [c.updated_at.desc(), c.id.desc()]
        case _:
            return [c.id]
