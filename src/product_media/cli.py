"""The command line: serve, stores create, tokens create."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from product_media import __version__
from product_media.domain.access import (
    CATALOG_SCOPES,
    PUBLIC_SCOPES,
    new_token,
    parse_scopes,
    token_hash,
)
from product_media.settings import Settings
from product_media.storage.catalog import Catalog, StoreExists, StoreMissing


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None and v != ()})
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc


def _catalog(settings: Settings) -> Catalog:
    settings.data.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    catalog.migrate()
    return catalog


def _create_token(catalog: Catalog, store_id: int, public: bool, scopes: frozenset[str]) -> str:
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
@click.option("--demo", is_flag=True, help="Create a demo store, token and product if none exist")
def serve(demo: bool, allow_source_networks: tuple[str, ...], **options: Any) -> None:
    """Run the HTTP server."""
    if allow_source_networks:
        options["allow_source_networks"] = ",".join(allow_source_networks)
    settings = _settings(**options)
    if demo:
        _demo(settings)
    import uvicorn

    from product_media.api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request's full URL, and source query strings may carry secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # libvips narrates every thumbnail at INFO; its warnings still come through.
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


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
