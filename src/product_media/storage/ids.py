"""Ids that are never handed out twice: stores, products, and images and videos (one sequence
for both, so that an id names one gallery item), and product revisions (one sequence for the
whole catalog, so that a product deleted and made again with its old id, as a reset or a seed
does, never repeats a revision that a process may still hold a rendering of).

SQLite would give a deleted last row's id again (it hands out max(id) + 1), so there the last
id of each kind is kept in `id_counters`. PostgreSQL sequences never go back: stores and
products use their serial columns' sequences, images and videos share `media_ids`.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Table, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import REGCLASS

from product_media.storage.engine import is_postgresql
from product_media.storage.tables import id_counters, images, products, stores, videos

Kind = Literal["stores", "products", "media", "revisions"]
KINDS: tuple[Kind, ...] = ("stores", "products", "media", "revisions")

# The tables whose rows take their ids from each kind.
TABLES: dict[Kind, tuple[Table, ...]] = {
    "stores": (stores,),
    "products": (products,),
    "media": (images, videos),
}

# The largest value of each kind stored in the catalog's rows.
_STORED: dict[Kind, tuple[ColumnElement[Any], ...]] = {
    "stores": (stores.c.id,),
    "products": (products.c.id,),
    "media": (images.c.id, videos.c.id),
    "revisions": (products.c.revision,),
}


def _sequence(kind: Kind) -> ColumnElement[Any]:
    if kind == "media":
        return cast("media_ids", REGCLASS)
    if kind == "revisions":
        return cast("product_revisions", REGCLASS)
    return cast(func.pg_get_serial_sequence(kind, "id"), REGCLASS)


def next_id(conn: Connection, kind: Kind) -> int:
    """A new id of `kind`, larger than every one handed out or given before; the caller inserts
    the row in the same transaction."""
    return next_ids(conn, kind, 1)[0]


def next_ids(conn: Connection, kind: Kind, count: int) -> list[int]:
    """`count` new ids of `kind` (ascending), drawn together, as next_id draws one."""
    if count <= 0:
        return []
    if is_postgresql(conn):
        if kind in ("stores", "products"):
            # Conflicts with the lock an insert of an explicit id takes (insert_explicit), so
            # that none runs between this id being drawn and its row being inserted.
            conn.execute(text(f"LOCK TABLE {kind} IN ROW EXCLUSIVE MODE"))
        drawn = conn.execute(
            select(func.nextval(_sequence(kind))).select_from(func.generate_series(1, count))
        ).scalars()
        return sorted(int(value) for value in drawn)
    last = conn.execute(
        update(id_counters)
        .where(id_counters.c.name == kind)
        .values(last=id_counters.c.last + count)
        .returning(id_counters.c.last)
    ).scalar_one()
    return list(range(int(last) - count + 1, int(last) + 1))


def lock_for_explicit(conn: Connection, kind: Kind) -> None:
    """Before inserting a row with an id given explicitly: no generated insert of that kind
    runs until the transaction ends (SQLite's single writer needs nothing)."""
    if is_postgresql(conn):
        for table in TABLES[kind]:
            conn.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))


def move_past(conn: Connection, kind: Kind, used: int) -> None:
    """Make the ids of `kind` handed out from now on larger than `used` (never smaller than
    they would have been)."""
    if used <= 0:
        return
    if is_postgresql(conn):
        sequence = _sequence(kind)
        last = func.coalesce(func.pg_sequence_last_value(sequence), 0)
        conn.execute(select(func.setval(sequence, func.greatest(last, used))))
        return
    conn.execute(
        update(id_counters)
        .where(id_counters.c.name == kind)
        .values(last=func.max(id_counters.c.last, used))
    )


def last_issued(conn: Connection, kind: Kind) -> int:
    """The largest id of `kind` handed out or stored so far (0 for none)."""
    top = max(
        int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one())
        for column in _STORED[kind]
    )
    if is_postgresql(conn):
        counted = conn.execute(select(func.pg_sequence_last_value(_sequence(kind)))).scalar()
    else:
        counted = conn.execute(
            select(id_counters.c.last).where(id_counters.c.name == kind)
        ).scalar()
    return max(top, int(counted or 0))
