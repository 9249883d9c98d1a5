"""The command line: serve, stores, tokens, migrate."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from product_media import __version__
from product_media.apply.command import apply_command
from product_media.bootstrap import build_blobs, build_catalog, new_owner_id
from product_media.domain.access import (
    CATALOG_SCOPES,
    PREFIX_CHARS,
    PUBLIC_SCOPES,
    new_token,
    parse_scopes,
    token_hash,
    token_prefix,
)
from product_media.logs import configure_logging, uvicorn_log_config
from product_media.metrics import MULTIPROC_ENV, prepare_multiprocess_dir
from product_media.service.blob_lifetimes import collect
from product_media.settings import Settings
from product_media.storage.catalog import (
    AmbiguousToken,
    SqlCatalog,
    StoreExists,
    StoreMissing,
    TokenNotFound,
)
from product_media.storage.engine import UnsupportedDatabase, database_url, make_engine
from product_media.storage.leases import DatabaseLeases
from product_media.storage.ports import BlobStoreUnavailable

# What connecting to a catalog database raises when it cannot be used (down, a host name that
# does not resolve, a SQLite file that cannot be opened).
_DATABASE_UNUSABLE = (DBAPIError, OSError, UnicodeError)

# What `tokens list` shows for a token made before their first characters were kept.
NO_PREFIX = "(not kept)"


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if v is not None and v != ()}


class _Refused(click.ClickException):
    """What may not run as given (a bad setting, options that conflict, a migration that may
    not run): one line, exit status 2 (as for a usage error)."""

    exit_code = 2


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    try:
        return Settings(**_given(overrides))
    except ValidationError as exc:
        raise _Refused(_setting_problem(exc)) from None
    except SettingsError as exc:
        raise _Refused(f"bad setting: {exc}") from None


def _named(setting: str) -> str:
    """A setting as the user can give it: its environment variable, and the option of the
    running command when it has one."""
    env = f"PRODUCT_MEDIA_{setting.upper()}"
    context = click.get_current_context(silent=True)
    params = context.command.params if context is not None else []
    for param in params:
        if param.name == setting and isinstance(param, click.Option):
            return f"{env} ({param.opts[0]})"
    return env


def _setting_problem(exc: ValidationError) -> str:
    """One line per bad setting, naming it as the environment and the command line do."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        lines.append(f"bad setting {_named(name)}: {error['msg']}")
    return "\n".join(lines)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _shown_url(settings: Settings) -> str:
    return make_url(settings.catalog_url).render_as_string(hide_password=True)


def _unreachable(settings: Settings, exc: Exception) -> click.ClickException:
    setting = "database_url" if settings.database_url is not None else "data"
    return click.ClickException(
        f"cannot use the catalog database {_shown_url(settings)} (set by {_named(setting)}): "
        f"{_first_line(exc)}"
    )


def _checked_url(settings: Settings) -> str:
    try:
        return database_url(settings.catalog_url)
    except UnsupportedDatabase as exc:
        raise _Refused(f"bad setting {_named('database_url')}: {exc}") from None


def _catalog(settings: Settings) -> SqlCatalog:
    """The catalog that settings name, created when there is none (serve, stores create)."""
    _checked_url(settings)
    catalog = build_catalog(settings)
    try:
        catalog.migrate()
    except _DATABASE_UNUSABLE as exc:
        catalog.close()
        raise _unreachable(settings, exc) from None
    return catalog


def _reachable(settings: Settings) -> None:
    """Raises the one line that says why the catalog's database cannot be used."""
    _checked_url(settings)
    catalog = build_catalog(settings)
    try:
        catalog.ping()
    except _DATABASE_UNUSABLE as exc:
        raise _unreachable(settings, exc) from None
    finally:
        catalog.close()


def _existing_catalog(settings: Settings) -> SqlCatalog:
    """The catalog that settings name; refused when there is none, so that a mistyped
    --data never leaves an empty catalog behind."""
    url = make_url(_checked_url(settings))
    # Opening a SQLite file that is not there would create it.
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).is_file():
        where = f"--data {settings.data}" if settings.database_url is None else file
        raise click.ClickException(
            f"there is no catalog at {where}: give the folder or database of an existing "
            "one, or make one with `stores create` or `serve`"
        )
    catalog = SqlCatalog(settings.catalog_url, owner_lease=settings.owner_lease)
    try:
        with catalog.engine.connect() as conn:
            empty = not inspect(conn).has_table("alembic_version")
        if empty:
            raise click.ClickException(
                f"there is no catalog in the database {_shown_url(settings)}: "
                "make one with `stores create` or `serve`"
            )
        catalog.migrate()
    except _DATABASE_UNUSABLE as exc:
        catalog.close()
        raise _unreachable(settings, exc) from None
    except click.ClickException:
        catalog.close()
        raise
    return catalog


def _create_token(catalog: SqlCatalog, store_id: int, public: bool, scopes: frozenset[str]) -> str:
    token = new_token("public" if public else "secret")
    catalog.add_token(
        store_id,
        token_hash(token),
        "public" if public else "secret",
        scopes,
        prefix=token_prefix(token),
    )
    return token


def _command_name() -> str:
    """This program as the user started it (`.venv/bin/product-media` is not on the PATH)."""
    started = Path(sys.argv[0])
    return str(started) if started.name == "product-media" else "product-media"


def _base_url(settings: Settings) -> str:
    host = settings.host
    if ":" in host and not host.startswith("["):
        # An IPv6 address goes in brackets in a URL, or curl takes its colons for a port.
        host = f"[{host}]"
    return settings.public_url or f"http://{host}:{settings.port}"


def _demo_store(catalog: SqlCatalog) -> tuple[int, int | None]:
    """The demo store: the first store, made with a sample product in an empty catalog.
    Returns its id and the sample product's when it was made just now."""
    existing = catalog.first_store_id()
    if existing is not None:
        return existing, None
    store_id = catalog.create_store("Demo store")
    return store_id, catalog.create_product(store_id, "Demo product", "DEMO-1", 9.99)


def _demo(settings: Settings) -> None:
    """Make a demo store, token and product in an empty catalog and say how to call the API."""
    catalog = _catalog(settings)
    try:
        store_id, product_id = _demo_store(catalog)
        if product_id is None:
            click.echo(
                f"Demo: the catalog has store {store_id} already. Make a token for it with:\n"
                f"  {_command_name()} tokens create --data {settings.data} --store {store_id}"
            )
            return
        token = _create_token(catalog, store_id, False, frozenset(CATALOG_SCOPES))
        click.echo(
            f"Demo store {store_id}, product {product_id}, token (shown once):\n  {token}\n\n"
            "Try:\n"
            f"  curl -H 'Authorization: Bearer {token}' "
            f"{_base_url(settings)}/api/v3/{store_id}/products/{product_id}\n"
        )
    finally:
        catalog.close()


@click.group()
@click.version_option(__version__, prog_name="product-media")
def main() -> None:
    """product-media: product images and videos behind an Ecwid-compatible REST API."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [127.0.0.1] (PRODUCT_MEDIA_HOST)")
# Numbers are read by the settings, so a bad one is told as the same bad setting either way.
@click.option("--port", default=None, metavar="INTEGER", help="Port [8080] (PRODUCT_MEDIA_PORT)")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Data folder [data] (PRODUCT_MEDIA_DATA)",
)
@click.option(
    "--database-url", default=None, help="Catalog database URL (PRODUCT_MEDIA_DATABASE_URL)"
)
@click.option("--public-url", default=None, help="Base of media URLs (PRODUCT_MEDIA_PUBLIC_URL)")
@click.option(
    "--allow-source-network",
    "allow_source_networks",
    multiple=True,
    help="CIDR sources may be fetched from despite the policy; repeatable "
    "(PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS, comma-separated)",
)
@click.option(
    "--blob-url", default=None, help="s3://bucket[/prefix] for every blob (PRODUCT_MEDIA_BLOB_URL)"
)
@click.option(
    "--s3-endpoint-url",
    default=None,
    help="An S3-compatible server instead of AWS (PRODUCT_MEDIA_S3_ENDPOINT_URL)",
)
@click.option(
    "--media-base-url",
    default=None,
    help="Hand out media URLs under this base, e.g. a CDN (PRODUCT_MEDIA_MEDIA_BASE_URL)",
)
@click.option(
    "--redis-url", default=None, help="Redis for the shared rate limit (PRODUCT_MEDIA_REDIS_URL)"
)
@click.option(
    "--workers",
    default=None,
    metavar="INTEGER",
    help="Worker processes [1] (PRODUCT_MEDIA_WORKERS)",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="text or json [text] (PRODUCT_MEDIA_LOG_FORMAT)",
)
@click.option(
    "--seed",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON file of stores, tokens and products to create at start (PRODUCT_MEDIA_SEED)",
)
@click.option(
    "--admin-token",
    default=None,
    help="Token of the /_emulator routes: reset, faults, requests (PRODUCT_MEDIA_ADMIN_TOKEN)",
)
@click.option("--demo", is_flag=True, help="Create a demo store, token and product if none exist")
def serve(demo: bool, allow_source_networks: tuple[str, ...], **options: Any) -> None:
    """Run the HTTP server."""
    if allow_source_networks:
        options["allow_source_networks"] = ",".join(allow_source_networks)
    settings = _settings(**options)
    # A database that cannot be used is one line here, not a traceback from every worker.
    _reachable(settings)
    configure_logging(settings.log_format)
    if settings.seed is not None:
        from product_media.api.app import apply_seed_once
        from product_media.seed_file import SeedFileError, load_seed

        try:
            # A file that is wrong in itself is told before anything starts.
            load_seed(settings.seed, max_gallery_items=settings.max_gallery_items)
            apply_seed_once(settings)
        except SeedFileError as exc:
            raise click.ClickException(str(exc)) from None
    if demo:
        _demo(settings)
    import uvicorn

    from product_media.server import header_timeout_protocol

    run: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": uvicorn_log_config(settings.log_format),
        "access_log": False,
        "log_level": "info",
        # SIGTERM waits this long for requests in flight, then cancels them (an update not
        # yet committing changes nothing and gives back what it wrote), so the process stops.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "http": header_timeout_protocol(settings.header_timeout),
    }
    if settings.workers == 1:
        from product_media.api.app import create_app

        uvicorn.run(create_app(settings), **run)
        return
    # Workers are new processes that read their settings from the environment, so the
    # options given here go there too; their metrics meet in one folder.
    for name, value in _given(options).items():
        os.environ[f"PRODUCT_MEDIA_{name.upper()}"] = str(value)
    with contextlib.ExitStack() as stack:
        folder = os.environ.get(MULTIPROC_ENV) or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="product-media-metrics-")
        )
        prepare_multiprocess_dir(Path(folder))
        os.environ[MULTIPROC_ENV] = folder
        uvicorn.run(
            "product_media.api.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            **run,
        )


@main.group()
def stores() -> None:
    """Manage stores."""


_data_option = click.option(
    "--data", type=click.Path(path_type=Path), default=None, help="Data folder [data]"
)
_database_option = click.option("--database-url", default=None, help="Catalog database URL")
_store_id = click.IntRange(1, 2**63 - 1)


@stores.command("create")
@_data_option
@_database_option
@click.option("--id", "store_id", type=_store_id, default=None, help="Store id")
@click.option("--name", default="", help="Store name")
def create_store(store_id: int | None, name: str, **options: Any) -> None:
    """Create a store (and the catalog, if there is none); prints its id."""
    catalog = _catalog(_settings(**options))
    try:
        click.echo(catalog.create_store(name, store_id))
    except StoreExists as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        catalog.close()


@stores.command("list")
@_data_option
@_database_option
def list_stores(**options: Any) -> None:
    """List the stores: id, tab, name."""
    catalog = _existing_catalog(_settings(**options))
    try:
        for store_id, name in catalog.list_stores():
            click.echo(f"{store_id}\t{name}")
    finally:
        catalog.close()


@stores.command("delete")
@_data_option
@_database_option
@click.option("--blob-url", default=None, help="s3://bucket[/prefix] of the blobs")
@click.option("--s3-endpoint-url", default=None, help="An S3-compatible server instead of AWS")
@click.argument("store_id", metavar="N", type=_store_id)
def delete_store(store_id: int, **options: Any) -> None:
    """Delete store N, its tokens, products and their files."""
    settings = _settings(**options)
    catalog = _existing_catalog(settings)
    # Deleting files takes part in the protocol every server follows (a lease, marks), so
    # that a server storing the same file at this moment never loses it.
    leases = DatabaseLeases(catalog.engine, settings.owner_lease, settings.lock_dir)
    owner = new_owner_id()
    try:
        blobs = build_blobs(settings, owner)
        keys = catalog.delete_store(store_id)
        if keys is None:
            raise click.ClickException(f"store {store_id} does not exist")
        leases.register(owner)
        try:
            removed = collect(catalog, blobs, owner, keys)
        finally:
            leases.end(owner)
    except BlobStoreUnavailable as exc:
        raise click.ClickException(
            f"store {store_id} is deleted, but its files could not be: {exc}; "
            "a server's sweep removes them"
        ) from exc
    finally:
        catalog.close()
    click.echo(f"deleted store {store_id} and {removed} media files", err=True)


@main.group()
def tokens() -> None:
    """Manage access tokens."""


@tokens.command("create")
@_data_option
@_database_option
@click.option("--store", "store_id", type=_store_id, default=None, help="The token's store")
@click.option(
    "--demo",
    is_flag=True,
    help="For the demo store instead: the first store, made (with the catalog and a sample "
    "product) when there is none",
)
@click.option(
    "--scopes",
    default=None,
    help=f"Comma-separated scopes of a secret token [{','.join(CATALOG_SCOPES)}]",
)
@click.option("--public", is_flag=True, help="A public, read-only token (read_catalog)")
def create_token(
    store_id: int | None, demo: bool, scopes: str | None, public: bool, **options: Any
) -> None:
    """Create a token; prints it, once (only its hash is kept)."""
    if (store_id is None) == (not demo):
        raise _Refused("give either --store N or --demo")
    if public and scopes is not None:
        raise _Refused(
            "--public makes a read-only token (read_catalog): --scopes is for secret tokens only"
        )
    try:
        if public:
            chosen = frozenset(PUBLIC_SCOPES)
        else:
            chosen = parse_scopes(scopes or ",".join(CATALOG_SCOPES))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scopes") from exc
    settings = _settings(**options)
    catalog = _catalog(settings) if demo else _existing_catalog(settings)
    try:
        if store_id is None:
            store_id = _demo_store(catalog)[0]
        click.echo(_create_token(catalog, store_id, public, chosen))
    except StoreMissing as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        catalog.close()


@tokens.command("list")
@_data_option
@_database_option
@click.option("--store", "store_id", type=_store_id, required=True)
def list_tokens(store_id: int, **options: Any) -> None:
    """List a store's tokens: first characters, tab, scopes.

    A line per token of the store: its first 12 characters, a tab, and its scopes
    comma-separated, or `public`. The tokens themselves are never shown."""
    catalog = _existing_catalog(_settings(**options))
    try:
        listed = catalog.list_tokens(store_id)
    except StoreMissing as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        catalog.close()
    for token in listed:
        shown = "public" if token.kind == "public" else ",".join(sorted(token.scopes))
        click.echo(f"{token.prefix or NO_PREFIX}\t{shown}")


@tokens.command("revoke")
@_data_option
@_database_option
@click.argument("prefix")
def revoke_token(prefix: str, **options: Any) -> None:
    """Revoke a token, named by its first characters.

    PREFIX is the start of the token, as `tokens list` shows it, or the whole token. It stops
    working at once, on every server."""
    catalog = _existing_catalog(_settings(**options))
    try:
        # Longer than what is kept, it can only be the whole token.
        if len(prefix) > PREFIX_CHARS:
            store_id = catalog.revoke_token(hashed=token_hash(prefix))
        else:
            store_id = catalog.revoke_token(prefix=prefix)
    except TokenNotFound:
        # A whole token is not repeated: it could be a live one of another catalog.
        named = "is the token given" if len(prefix) > PREFIX_CHARS else f"starts with {prefix!r}"
        raise click.ClickException(
            f"no token {named}: `tokens list --store N` shows them"
        ) from None
    except AmbiguousToken as exc:
        raise click.ClickException(
            f"{exc} {prefix!r}: give more of the token, up to its first {PREFIX_CHARS} "
            "characters, or the whole token"
        ) from None
    finally:
        catalog.close()
    click.echo(f"revoked a token of store {store_id}", err=True)


@main.command("migrate")
@click.option("--to-database-url", required=True, help="The target catalog's database URL")
@click.option(
    "--to-blob-url",
    required=True,
    help="The target blob store: s3://bucket[/prefix], file:///path or a folder path",
)
@click.option(
    "--to-s3-endpoint-url",
    default=None,
    help="The target bucket's S3-compatible server [PRODUCT_MEDIA_S3_ENDPOINT_URL]",
)
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Source data folder")
@click.option("--database-url", default=None, help="Source catalog database URL")
def migrate_backend(
    to_database_url: str, to_blob_url: str, to_s3_endpoint_url: str | None, **options: Any
) -> None:
    """Copy the catalog and every blob it uses to another, empty backend; resumable."""
    # The migration brings boto3 along; the other commands need not wait for it to import.
    from product_media.storage import migration

    settings = _settings(**options)
    source = make_engine(_checked_url(settings))
    try:
        target = make_engine(to_database_url)
    except UnsupportedDatabase as exc:
        source.dispose()
        raise _Refused(f"bad --to-database-url: {exc}") from None

    def progress(line: str) -> None:
        click.echo(line, err=True)

    try:
        location = migration.blob_location(to_blob_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to-blob-url") from exc
    try:
        migration.prepare_target(source, target, progress)
        target_blobs = migration.target_blob_store(
            location, to_s3_endpoint_url or settings.s3_endpoint_url
        )
        report = migration.copy_backend(
            source, build_blobs(settings, owner=""), target, target_blobs, progress
        )
    except migration.MigrationRefused as exc:
        raise _Refused(str(exc)) from exc
    except (migration.MigrationFailed, BlobStoreUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    except _DATABASE_UNUSABLE as exc:
        raise click.ClickException(f"cannot use a catalog database: {_first_line(exc)}") from None
    finally:
        source.dispose()
        target.dispose()
    click.echo(
        f"migrated {report.rows['stores']} stores, {report.rows['tokens']} tokens, "
        f"{report.rows['products']} products and {report.blobs} blobs"
    )


main.add_command(apply_command)
