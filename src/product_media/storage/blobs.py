"""Content-addressed blob store on a local folder: a blob's key is the SHA-256 of its bytes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from glob import escape as glob_escape
from pathlib import Path

_KEY = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]{2,5}$")


def blob_key(content: bytes, extension: str) -> str:
    return f"{hashlib.sha256(content).hexdigest()}.{extension}"


def is_blob_key(key: str) -> bool:
    return bool(_KEY.match(key))


class FileBlobStore:
    """Blobs under `root/ab/cd/<key>`; writes are atomic, so a reader never sees half a file."""

    def __init__(self, root: Path, owner: str = "") -> None:
        self.root = root
        # Temp files carry the writer's owner id, so a sweep knows whose crash left them.
        self._owner = owner
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if not is_blob_key(key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, key: str, content: bytes) -> None:
        """Store `content` under `key` unless it is there already (same key, same bytes)."""
        target = self.path(key)
        if target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix=f"{self._owner}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(content)
                tmp.flush()
                os.fsync(tmp.fileno())
            Path(tmp_name).replace(target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        for path in self.root.glob("??/??/*"):
            if is_blob_key(path.name):
                yield path.name

    def partial_write_owners(self) -> set[str]:
        """The owners of temp files still lying around."""
        return {path.name.split(".", 1)[0] for path in self._tmp.glob("*.part")}

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        """Remove the temp files of `owners`, whose writes a crash interrupted."""
        for owner in owners:
            for path in self._tmp.glob(f"{glob_escape(owner)}.*.part"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
