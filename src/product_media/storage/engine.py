"""The catalog's database: engines for SQLite and PostgreSQL, migrations, database time."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Float,
    column,
    create_engine,
    event,
    select,
    table,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# The newest migration under migrations/versions (a test keeps the two in step).
SCHEMA_REVISION = "0007"

# Any number works as long as every process uses the same one: it names the lock that lets
# one of several replicas starting at once run the migrations.
_MIGRATION_LOCK = 7_238_341_202


class UnsupportedDatabase(ValueError):
    """A database URL this service cannot use; the message says which ones it can."""


def database_url(url: str) -> str:
    """`url` with plain postgresql:// and postgres:// read as psycopg 3; raises
    UnsupportedDatabase for anything but SQLite and PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabase(f"not a database URL: {url!r}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql" and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return url
    raise UnsupportedDatabase(
        f"unsupported database URL {parsed.drivername}://...: use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DB"
    )


def make_engine(url: str) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN into our own hands so reads see one snapshot and writers queue up.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _use_wal(cursor: Any) -> None:
    """Switch a new database file to WAL (the file remembers). The switch needs the database
    to itself and does not wait for a busy one, so processes opening a new file at once retry."""
    deadline = time.monotonic() + 60
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def is_postgresql(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: on SQLite it takes the write lock at BEGIN, so that its reads
    and writes are one step that no other writer interleaves with."""
    conn = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
    with conn, conn.begin():
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def schema_revision(conn: Connection) -> str | None:
    from sqlalchemy import inspect

    if not inspect(conn).has_table("alembic_version"):
        return None
    revision: str | None = conn.execute(
        select(column("version_num")).select_from(table("alembic_version"))
    ).scalar()
    return revision


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; safe when several processes start at once."""
    with read_transaction(engine) as conn:
        if schema_revision(conn) == SCHEMA_REVISION:
            return
    # Alembic takes half a second to import; the command line only pays when it migrates.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(files("product_media.storage").joinpath("migrations"))
    )
    with write_transaction(engine) as conn:
        if is_postgresql(conn):
            # Held to the end of the transaction: the others wait, then find nothing to do.
            conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _MIGRATION_LOCK})
        if schema_revision(conn) == SCHEMA_REVISION:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


class epoch_now(FunctionElement[float]):
    """The database server's clock in epoch seconds: one clock for every replica."""

    type = Float()
    inherit_cache = True


@compiles(epoch_now, "postgresql")
def _epoch_now_pg(_element: epoch_now, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "extract(epoch from clock_timestamp())::float8"


@compiles(epoch_now, "sqlite")
def _epoch_now_sqlite(_element: epoch_now, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


class db_now(FunctionElement[Any]):
    """The database server's clock as a timestamp, to the millisecond at least (SQLite's
    CURRENT_TIMESTAMP stops at the second, too coarse to order product updates by)."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(db_now, "postgresql")
def _db_now_pg(_element: db_now, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "clock_timestamp()"


@compiles(db_now, "sqlite")
def _db_now_sqlite(_element: db_now, _compiler: SQLCompiler, **_kw: Any) -> str:
    # The text SQLAlchemy stores SQLite datetimes as: microseconds in six digits.
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
