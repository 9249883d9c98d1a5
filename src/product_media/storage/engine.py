"""The catalog's database: engines for SQLite and PostgreSQL, migrations, database time."""

from __future__ import annotations

import ipaddress
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    Float,
    Select,
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
from sqlalchemy.pool import Pool, SingletonThreadPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

T = TypeVar("T")

# The newest migration under migrations/versions (a test keeps the two in step).
SCHEMA_REVISION = "0008"

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
        _check_host(parsed.host)
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return url
    raise UnsupportedDatabase(
        f"unsupported database URL {parsed.drivername}://...: use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DB"
    )


def _check_host(host: str | None) -> None:
    """Refuses a host that no resolver could take (`postgres://...`), which would otherwise
    surface as an encoding error deep inside the driver."""
    if not host or host.startswith("/"):
        return
    try:
        ipaddress.ip_address(host.strip("[]"))
        return
    except ValueError:
        pass
    try:
        host.encode("idna")
    except UnicodeError:
        raise UnsupportedDatabase(f"{host!r} is not a host name") from None


def make_engine(url: str) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class ThreadCursors:
    """For the lookups made in place on SQLite: a DBAPI cursor per thread, kept, on a
    connection of that thread's own, so a lookup neither waits for a connection others hold
    nor pays a checkout from the pool and back (which costs more than a lookup by key)."""

    def __init__(self, url: str) -> None:
        self._engine = _sqlite_engine(url, SingletonThreadPool)
        self._local = threading.local()

    @classmethod
    def for_url(cls, url: str) -> ThreadCursors | None:
        """Cursors for a SQLite URL; None for any other database."""
        url = database_url(url)
        return cls(url) if url.startswith("sqlite") else None

    def cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            # The pool's proxy is kept too: dropped, it would hand the connection back.
            self._local.connection = self._engine.raw_connection()
            cursor = self._local.cursor = self._local.connection.driver_connection.cursor()
        return cursor

    def dispose(self) -> None:
        self._engine.dispose()


def _sqlite_engine(url: str, poolclass: type[Pool] | None = None) -> Engine:
    engine = create_engine(
        url, poolclass=poolclass, connect_args={"timeout": 60, "check_same_thread": False}
    )

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
def read_transaction(engine: Engine, *, snapshot: bool = False) -> Iterator[Connection]:
    """`snapshot`: every statement reads the same snapshot, on PostgreSQL too (SQLite's read
    transactions always do)."""
    with engine.connect() as conn:
        if snapshot and is_postgresql(conn):
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


class Lookup:
    """A SELECT built once and run on a pooled DBAPI connection as it is: for the lookups of
    every request, where SQLAlchemy's execution path costs several times the query itself.
    Its columns come back as the driver gives them (no type processing)."""

    def __init__(self, statement: Select[Any]) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def first(self, cursor: Any, dialect: Dialect, **params: Any) -> Any:
        """The first row, or None."""
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = self._compiled[dialect.name] = (str(compiled), names)
        sql, names = found
        cursor.execute(sql, params if names is None else tuple(params[n] for n in names))
        return cursor.fetchone()


def lookup_engine(url: str) -> Engine:
    """An engine for Lookups on PostgreSQL: no ping at each checkout (a round trip, as long
    as the lookup itself); look_up replaces a connection found dead instead."""
    url = database_url(url)
    return create_engine(url, pool_size=10, max_overflow=20)


def look_up(engine: Engine, run: Callable[[Any], T]) -> T:
    """`run(cursor)` on a pooled DBAPI connection, outside any transaction (each statement is
    its own); once more on a new connection when the first one is found dead."""
    connection = engine.raw_connection()
    try:
        return _on(engine, connection, run)
    except engine.dialect.loaded_dbapi.Error as exc:
        if not engine.dialect.is_disconnect(exc, connection, None):
            raise
        connection.invalidate(exc)
    finally:
        connection.close()
    connection = engine.raw_connection()
    try:
        return _on(engine, connection, run)
    finally:
        connection.close()


def _on(engine: Engine, connection: Any, run: Callable[[Any], T]) -> T:
    postgresql = engine.dialect.name == "postgresql"
    if postgresql:
        # No BEGIN and ROLLBACK around the reads, a round trip each.
        connection.driver_connection.autocommit = True
    try:
        cursor = connection.cursor()
        try:
            return run(cursor)
        finally:
            cursor.close()
    finally:
        if postgresql and not connection.driver_connection.closed:
            connection.driver_connection.autocommit = False


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
