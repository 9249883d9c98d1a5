"""The command line: serve, stores create, tokens create, migrate."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from product_media import __version__
from product_media.bootstrap import build_blobs, build_catalog
from product_media.domain.access import (
    CATALOG_SCOPES,
    PUBLIC_SCOPES,
    new_token,
    parse_scopes,
    token_hash,
)
from product_media.logs import configure_logging, uvicorn_log_config
from product_media.metrics import MULTIPROC_ENV, prepare_multiprocess_dir
from product_media.settings import Settings
from product_media.storage.catalog import SqlCatalog, StoreExists, StoreMissing
from product_media.storage.engine import UnsupportedDatabase, make_engine
from product_media.storage.ports import BlobStoreUnavailable


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if v is not None and v != ()}


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    try:
        return Settings(**_given(overrides))
    except ValidationError as exc:
        raise click.UsageError(_setting_problem(exc)) from exc


def _setting_problem(exc: ValidationError) -> str:
    """One line per bad setting, naming it as the environment and the command line do."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        lines.append(
            f"bad setting PRODUCT_MEDIA_{name.upper()} (--{name.replace('_', '-')}): {error['msg']}"
        )
    return "\n".join(lines)


def _catalog(settings: Settings) -> SqlCatalog:
    try:
        catalog = build_catalog(settings)
    except UnsupportedDatabase as exc:
        raise click.UsageError(str(exc)) from exc
    catalog.migrate()
    return catalog


def _create_token(catalog: SqlCatalog, store_id: int, public: bool, scopes: frozenset[str]) -> str:
    token = new_token("public" if public else "secret")
    catalog.add_token(store_id, token_hash(token), "public" if public else "secret", scopes)
    return token


def _demo(settings: Settings) -> None:
    """Make a demo store, token and product in an empty catalog and say how to call the API."""
    catalog = _catalog(settings)
    try:
        base = settings.public_url or f"http://{settings.host}:{settings.port}"
        existing = catalog.first_store_id()
        if existing is not None:
            click.echo(
                f"Demo: the catalog has store {existing} already. Make a token for it with:\n"
                f"  product-media tokens create --data {settings.data} --store {existing}"
            )
            return
        store_id = catalog.create_store("Demo store")
        token = _create_token(catalog, store_id, False, frozenset(CATALOG_SCOPES))
        product_id = catalog.create_product(store_id, "Demo product", "DEMO-1", 9.99)
        click.echo(
            f"Demo store {store_id}, product {product_id}, token (shown once):\n  {token}\n\n"
            "Try:\n"
            f"  curl -H 'Authorization: Bearer {token}' "
            f"{base}/api/v3/{store_id}/products/{product_id}\n"
        )
    finally:
        catalog.close()


@click.group()
@click.version_option(__version__, prog_name="product-media")
def main() -> None:
    """product-media: product images and videos behind an Ecwid-compatible REST API."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [127.0.0.1] (PRODUCT_MEDIA_HOST)")
@click.option("--port", type=int, default=None, help="Port [8080] (PRODUCT_MEDIA_PORT)")
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
    "--workers", type=int, default=None, help="Worker processes [1] (PRODUCT_MEDIA_WORKERS)"
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


@stores.command("create")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Data folder")
@click.option("--database-url", default=None, help="Catalog database URL")
@click.option("--id", "store_id", type=click.IntRange(1, 2**63 - 1), default=None, help="Store id")
@click.option("--name", default="", help="Store name")
def create_store(store_id: int | None, name: str, **options: Any) -> None:
    """Create a store; prints its id."""
    catalog = _catalog(_settings(**options))
    try:
        click.echo(catalog.create_store(name, store_id))
    except StoreExists as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        catalog.close()


@main.group()
def tokens() -> None:
    """Manage access tokens."""


@tokens.command("create")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Data folder")
@click.option("--database-url", default=None, help="Catalog database URL")
@click.option("--store", "store_id", type=click.IntRange(1, 2**63 - 1), required=True)
@click.option(
    "--scopes",
    default=",".join(CATALOG_SCOPES),
    show_default=True,
    help="Comma-separated scopes of a secret token",
)
@click.option("--public", is_flag=True, help="A public, read-only token (read_catalog)")
def create_token(store_id: int, scopes: str, public: bool, **options: Any) -> None:
    """Create an access token; prints it (it is stored hashed and cannot be shown again)."""
    try:
        chosen = frozenset(PUBLIC_SCOPES) if public else parse_scopes(scopes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scopes") from exc
    catalog = _catalog(_settings(**options))
    try:
        click.echo(_create_token(catalog, store_id, public, chosen))
    except StoreMissing as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        catalog.close()


class _Refused(click.ClickException):
    """A migration that may not run: one line, exit status 2 (as for a usage error)."""

    exit_code = 2


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
    try:
        source = make_engine(settings.catalog_url)
        target = make_engine(to_database_url)
    except UnsupportedDatabase as exc:
        raise click.UsageError(str(exc)) from exc

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
    finally:
        source.dispose()
        target.dispose()
    click.echo(
        f"migrated {report.rows['stores']} stores, {report.rows['tokens']} tokens, "
        f"{report.rows['products']} products and {report.blobs} blobs"
    )
