"""`product-media apply MANIFEST`: a spreadsheet's media sent to Ecwid or this service."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.console import Console

from product_media.apply.display import RowProgress, diff_lines, failures, summary
from product_media.apply.journal import Journal
from product_media.apply.manifest import ManifestError, Parsed, parse
from product_media.apply.report import check_report_path, write_report
from product_media.apply.runner import FAILED, CannotRun, RowResult, check_service, run
from product_media.client import ECWID_BASE_URL, AsyncEcwidClient

# Exit statuses: every item succeeded; some failed; the command could not run.
OK, SOME_FAILED, CANNOT_RUN = 0, 1, 2


class _CannotRun(click.ClickException):
    exit_code = CANNOT_RUN


def _read(path: Path) -> list[Parsed]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return parse(path.name, file)
    except UnicodeDecodeError as exc:
        raise _CannotRun(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except ManifestError as exc:
        raise _CannotRun(f"{path}: {exc}") from exc
    except OSError as exc:
        raise _CannotRun(f"{path}: {exc.strerror}") from exc


async def _run(
    client: AsyncEcwidClient,
    parsed: list[Parsed],
    concurrency: int,
    dry_run: bool,
    journal: Journal | None,
    progress: RowProgress,
) -> list[RowResult]:
    async with client:
        await check_service(client)
        with progress:
            return await run(
                client,
                parsed,
                concurrency=concurrency,
                dry_run=dry_run,
                journal=journal,
                on_row=progress.advance,
            )


@click.command("apply")
@click.argument(
    "manifest", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
@click.option(
    "--base-url",
    envvar="ECWID_BASE_URL",
    default=ECWID_BASE_URL,
    show_default=True,
    help="The API's base URL, /api/v3 included (ECWID_BASE_URL)",
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
    base_url: str,
    store: int,
    token: str,
    concurrency: int,
    dry_run: bool,
    report: Path | None,
    journal: Path | None,
) -> None:
    """Set products' main media and galleries from a CSV or JSON Lines manifest."""
    if report is not None:
        try:
            check_report_path(report)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--report") from exc
    if not token.strip():
        raise click.BadParameter("the token is empty", param_hint="--token")
    try:
        client = AsyncEcwidClient(base_url, store, token)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--base-url") from exc
    parsed = _read(manifest)
    out = Console(highlight=False, soft_wrap=True)
    progress = RowProgress(
        Console(stderr=True, highlight=False), len(parsed), "checking" if dry_run else "applying"
    )
    try:
        opened = Journal(journal) if journal is not None else None
    except OSError as exc:
        raise _CannotRun(f"{journal}: {exc.strerror}") from exc
    try:
        results = asyncio.run(_run(client, parsed, concurrency, dry_run, opened, progress))
    except CannotRun as exc:
        raise _CannotRun(str(exc)) from exc
    except KeyboardInterrupt:
        hint = " with the same --journal" if journal is not None else " with --journal next time"
        raise _CannotRun(f"interrupted: run again{hint} to go on where it stopped") from None
    finally:
        if opened is not None:
            opened.close()
    if dry_run:
        for result in results:
            for line in diff_lines(result):
                out.print(line, markup=False)
    else:
        for line in failures(results):
            out.print(line, markup=False)
    out.print(summary(progress.totals, dry_run))
    if report is not None:
        write_report(report, [o for result in results for o in result.outcomes])
    sys.exit(SOME_FAILED if any(r.status == FAILED for r in results) else OK)
