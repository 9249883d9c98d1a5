"""The journal on a real file: what it skips, and a last line cut short by a crash."""

from __future__ import annotations

import json
from pathlib import Path

from product_media.apply.journal import Journal
from product_media.apply.manifest import Medium, ProductRef, Row

A = "https://img.example/a.jpg"


def row(line: int, sku: str, url: str = A) -> Row:
    return Row(line, ProductRef(sku=sku), Medium(url), ())


def test_only_rows_that_succeeded_with_the_same_content_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    with Journal(path) as journal:
        journal.record(row(2, "S"), success=True)
        journal.record(row(3, "T"), success=False)
    with Journal(path) as journal:
        assert journal.succeeded(row(9, "S"))  # moved to another line: the same row
        assert not journal.succeeded(row(3, "T"))
        assert not journal.succeeded(row(2, "S", "https://img.example/other.jpg"))
        journal.record(row(3, "T"), success=True)
        assert journal.succeeded(row(3, "T"))


def test_a_line_cut_short_is_ignored_and_the_next_entry_starts_a_line(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    with Journal(path) as journal:
        journal.record(row(2, "S"), success=True)
    entry = json.dumps({"line": 3, "digest": row(3, "T").digest(), "success": True})
    with path.open("a") as file:
        file.write(entry[: len(entry) // 2])
    with Journal(path) as journal:
        assert journal.succeeded(row(2, "S")) and not journal.succeeded(row(3, "T"))
        journal.record(row(4, "U"), success=True)
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["line"] == 4
    with Journal(path) as journal:
        assert journal.succeeded(row(4, "U"))
