"""`product-media apply MANIFEST`: a spreadsheet's media sent to Ecwid or this service."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("apply")
@click.argument(
    "manifest", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
@click.option(
    "--base-url",
    envvar="ECWID_BASE_URL",
    default=None,
    help="The API's base URL, /api/v3 included (ECWID_BASE_URL) "
    "[default: https://app.ecwid.com/api/v3, the client's]",
)
@click.option(
    "--store",
    envvar="ECWID_STORE_ID",
    type=click.IntRange(1),
    required=True,
    help="Store id (ECWID_STORE_ID)",
)
@click.option("--token", envvar="ECWID_TOKEN", required=True, help="Secret token (ECWID_TOKEN)")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Products updated at once",
)
@click.option("--dry-run", is_flag=True, help="Read each product and print what would change")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write one entry per item to FILE (.csv or .json)",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Record each row's outcome in FILE; a re-run skips rows that already succeeded",
)
def apply_command(
    manifest: Path,
    base_url: str | None,
    store: int,
    token: str,
    concurrency: int,
    dry_run: bool,
    report: Path | None,
    journal: Path | None,
) -> None:
    """Set products' main media and galleries from a CSV or JSON Lines manifest."""
    # The client and rich load only when this command runs, not for every other command.
    from product_media.apply.session import apply_manifest

    apply_manifest(manifest, base_url, store, token, concurrency, dry_run, report, journal)
