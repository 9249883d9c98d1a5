"""Blobs in a local folder, under `root/ab/cd/<key>`: the embedded default store."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from glob import escape as glob_escape
from pathlib import Path

from product_media.domain.blob_keys import is_blob_key
from product_media.storage.byte_ranges import resolve
from product_media.storage.ports import BlobStoreUnavailable, ByteRange, OpenedBlob

CHUNK_SIZE = 64 * 1024


class FolderBlobStore:
    """Writes are atomic (a temp file renamed into place), so a reader never sees half a file."""

    def __init__(self, root: Path, owner: str = "") -> None:
        self.root = root
        # Temp files carry the writer's owner id, so a sweep knows whose crash left them.
        self._owner = owner
        self._tmp = root / "tmp"
        # A folder that cannot be made is for ping (readiness) to report, not a crash at start.
        with contextlib.suppress(OSError):
            self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path | None:
        return self.root / key[:2] / key[2:4] / key if is_blob_key(key) else None

    def put(self, key: str, content: bytes) -> None:
        """Store `content` under `key` unless it is there already (same key, same bytes)."""
        target = self._path(key)
        if target is None:
            raise ValueError(f"not a blob key: {key!r}")
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

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at `path` under `key` unless it is there already: linked where the
        two share a file system (no copy at all), else copied by the kernel."""
        target = self._path(key)
        if target is None:
            raise ValueError(f"not a blob key: {key!r}")
        if target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = self._tmp / f"{self._owner}.{uuid.uuid4().hex}.part"
        try:
            try:
                os.link(path, staged)
            except OSError:
                shutil.copyfile(path, staged)
            fd = os.open(staged, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            staged.replace(target)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise

    def open(self, key: str, byte_range: ByteRange | None = None) -> OpenedBlob | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            # One descriptor for the size and every read: a delete (unlink) after this point
            # leaves the open file whole until it is closed.
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        reader = _Reader(fd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                reader.close()
                return None
            size = info.st_size
            start, end = (0, size - 1) if byte_range is None else resolve(byte_range, size)
        except BaseException:
            reader.close()
            raise
        return OpenedBlob(
            size=size,
            start=start,
            end=end,
            chunks=reader.chunks(start, end - start + 1),
            close=reader.close,
        )

    def exists(self, key: str) -> bool:
        path = self._path(key)
        return path is not None and path.is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path is not None:
            path.unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        for path in self.root.glob("??/??/*"):
            if is_blob_key(path.name):
                yield path.name

    def partial_write_owners(self) -> set[str]:
        return {path.name.split(".", 1)[0] for path in self._tmp.glob("*.part")}

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        for owner in owners:
            for path in self._tmp.glob(f"{glob_escape(owner)}.*.part"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def ping(self) -> None:
        # A real write where put writes first: permission bits tell nothing when run as root.
        try:
            with tempfile.TemporaryFile(dir=self._tmp):
                pass
        except OSError as exc:
            raise BlobStoreUnavailable(f"{self.root} is not a writable folder") from exc


class _Reader:
    """One open descriptor: its reads and a close that is safe to call twice."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def chunks(self, offset: int, length: int) -> Iterator[bytes]:
        while length > 0:
            if self._fd is None:
                raise OSError("blob closed while being read")
            # pread: the position is this reader's own, whatever else uses the descriptor.
            chunk = os.pread(self._fd, min(CHUNK_SIZE, length), offset)
            if not chunk:
                raise OSError("blob shorter than its size")
            offset += len(chunk)
            length -= len(chunk)
            yield chunk

    def close(self) -> None:
        # Only the first close releases the descriptor: by a second one, its number may
        # already name another file.
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
