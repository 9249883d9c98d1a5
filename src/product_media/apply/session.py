"""What `product-media apply` does once its options are read: the manifest read, the rows
sent (or, for a dry run, compared), the progress shown, the report and the journal written."""

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
from product_media.client import AsyncEcwidClient

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


def apply_manifest(
    manifest: Path,
    base_url: str | None,
    store: int,
    token: str,
    concurrency: int,
    dry_run: bool,
    report: Path | None,
    journal: Path | None,
) -> None:
    """Apply `manifest` and exit with OK, SOME_FAILED or CANNOT_RUN."""
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
