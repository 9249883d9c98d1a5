"""A folder for the files that ingest streams to disk (video downloads), named after the
process that made them, so that a sweep can clear what a crashed process left."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from glob import escape as glob_escape
from pathlib import Path

_SUFFIX = ".download"


class Scratch:
    """Files `{owner}.{random}.download` under `root`; each lives while its `file()` block
    runs, and the sweep removes those of owners that are gone."""

    def __init__(self, root: Path, owner: str) -> None:
        self.root = root
        self._owner = owner

    @contextlib.contextmanager
    def file(self) -> Iterator[Path]:
        """A fresh path in the folder (not yet created), removed after the block."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{self._owner}.{uuid.uuid4().hex}{_SUFFIX}"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def partial_write_owners(self) -> set[str]:
        """Owners whose files lie in the folder."""
        return {path.name.split(".", 1)[0] for path in self.root.glob(f"*{_SUFFIX}")}

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        """Remove the files of `owners`, which are gone."""
        for owner in owners:
            for path in self.root.glob(f"{glob_escape(owner)}.*{_SUFFIX}"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
