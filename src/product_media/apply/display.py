"""What `apply` prints: a progress bar with counts, a dry run's changes per product, and the
summary table."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from product_media.apply.plan import NONE, UNCHANGED, Diff, Entry, Slot
from product_media.apply.runner import DONE, FAILED, SKIPPED, RowResult, Totals


class RowProgress:
    """A bar over the rows with the counts of done, failed and skipped rows."""

    def __init__(self, console: Console, total: int, title: str) -> None:
        self.totals = Totals()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "done {task.fields[done]}  failed {task.fields[failed]}"
                "  skipped {task.fields[skipped]}"
            ),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID = self._progress.add_task(
            title, total=total, done=0, failed=0, skipped=0
        )

    def __enter__(self) -> RowProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, result: RowResult) -> None:
        self.totals.add(result)
        rows = self.totals.rows
        self._progress.update(
            self._task, advance=1, done=rows[DONE], failed=rows[FAILED], skipped=rows[SKIPPED]
        )


def _slot(name: str, slot: Slot) -> list[str]:
    if slot.change == NONE:
        return [f"  {name}: none"]
    if slot.change == UNCHANGED:
        return [f"  {name}: unchanged, {slot.before}"]
    lines = [f"  {name}: {slot.change}"]
    if slot.before:
        lines.append(f"    before: {slot.before}")
    if slot.after:
        lines.append(f"    after:  {slot.after}")
    return lines


def _entries(label: str, entries: tuple[Entry, ...]) -> list[str]:
    pad = " " * len(label)
    return [
        f"    {label if n == 1 else pad} {n}. {entry.kind} {entry.url}"
        for n, entry in enumerate(entries, start=1)
    ]


def diff_lines(result: RowResult) -> list[str]:
    """A dry run's account of one row: what its product has, and what it would have."""
    header = f"line {result.line}: product {result.product}"
    if result.status == SKIPPED:
        return [f"{header}: skipped, applied by an earlier run (journal)"]
    if result.diff is None:
        first = result.outcomes[0]
        return [f"{header}: {first.error_code}: {first.error_message}"]
    change: Diff = result.diff
    lines = [header]
    lines += _slot("main image", change.main_image)
    lines += _slot("main video", change.main_video)
    before, after = len(change.gallery_before), len(change.gallery_after)
    if change.gallery_change == NONE:
        lines.append("  gallery: none")
    else:
        lines.append(f"  gallery: {change.gallery_change}, {before} items -> {after} items")
    lines += _entries("before:", change.gallery_before)
    lines += _entries("after: ", change.gallery_after)
    return lines


def summary(totals: Totals, dry_run: bool) -> Table:
    table = Table(title="dry run: nothing was written" if dry_run else "apply")
    table.add_column("")
    table.add_column("done" if not dry_run else "valid", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("total", justify="right")
    rows = totals.rows
    table.add_row(
        "rows",
        str(rows[DONE]),
        str(rows[FAILED]),
        str(rows[SKIPPED]),
        str(sum(rows.values())),
    )
    if not dry_run:
        items = totals.items_succeeded + totals.items_failed
        table.add_row(
            "items", str(totals.items_succeeded), str(totals.items_failed), "", str(items)
        )
    return table


def failures(results: list[RowResult]) -> list[str]:
    """One line per failed item, with the manifest's line number."""
    return [
        f"line {o.line}: product {o.product}{f' {o.position} {o.url}' if o.url else ''}: "
        f"{o.error_code or 'ERROR'}: {o.error_message}"
        for result in results
        for o in result.outcomes
        if not o.success
    ]
