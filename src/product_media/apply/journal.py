"""The journal: each row's outcome, one JSON object per line, appended and flushed as rows
finish, so a run that is stopped at any moment resumes where it was. A re-run skips a row
whose product and media are those of a row that already succeeded."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO

from product_media.apply.manifest import Row


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._succeeded: set[str] = set()
        cut_short = False
        if path.exists():
            self._succeeded = _succeeded(path)
            cut_short = _ends_mid_line(path)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        if cut_short:
            self._file.write("\n")

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def succeeded(self, row: Row) -> bool:
        return row.digest() in self._succeeded

    def record(self, row: Row, success: bool) -> None:
        entry = {
            "line": row.line,
            "product": row.product.key,
            "digest": row.digest(),
            "success": success,
        }
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        if success:
            self._succeeded.add(row.digest())


def _ends_mid_line(path: Path) -> bool:
    with path.open("rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return False
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


def _succeeded(path: Path) -> set[str]:
    """Digests of the rows that succeeded; a last line cut short by a crash is ignored."""
    done: set[str] = set()
    with path.open(encoding="utf-8") as file:
        for text in file:
            try:
                entry = json.loads(text)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("success") is True:
                digest = entry.get("digest")
                if isinstance(digest, str):
                    done.add(digest)
    return done
