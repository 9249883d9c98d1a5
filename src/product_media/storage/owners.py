"""Which server processes are alive: each holds an exclusive lock on its own file until it exits.

The kernel drops a process's `flock` when the process dies, even by SIGKILL, so an owner whose
lock can be taken is gone for good, and so are the claims and half-written files it left.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

_LOCK_SUFFIX = ".lock"
_OWNER_ID = re.compile(r"^[0-9a-f]{32}$")


def is_owner_id(text: str) -> bool:
    return bool(_OWNER_ID.match(text))


class Owner:
    """This process's registration; `close` ends it (the kernel does so on a crash)."""

    def __init__(self, owner_id: str, fd: int, path: Path) -> None:
        self.id = owner_id
        self._fd = fd
        self._path = path

    def close(self) -> None:
        if self._fd < 0:
            return
        self._path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = -1


class Owners:
    """Lock files under `folder`, one per registered process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def register(self) -> Owner:
        """A new owner id, locked before its file appears under its final name."""
        owner_id = uuid.uuid4().hex
        staging = self.folder / f"{owner_id}.new"
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # A sweeper never finds the file unlocked, so never takes a starting owner for dead.
            final = self.folder / f"{owner_id}{_LOCK_SUFFIX}"
            staging.rename(final)
        except BaseException:
            os.close(fd)
            staging.unlink(missing_ok=True)
            raise
        return Owner(owner_id, fd, final)

    def known(self) -> set[str]:
        """Every owner that has a lock file, alive or not."""
        return {
            path.name.removesuffix(_LOCK_SUFFIX)
            for path in self.folder.glob(f"*{_LOCK_SUFFIX}")
            if is_owner_id(path.name.removesuffix(_LOCK_SUFFIX))
        }

    def is_alive(self, owner_id: str) -> bool:
        with self._locked(owner_id) as taken:
            return not taken

    def forget(self, owner_id: str) -> None:
        """Remove a dead owner's lock file; a live owner's stays."""
        with self._locked(owner_id) as taken:
            if taken:
                (self.folder / f"{owner_id}{_LOCK_SUFFIX}").unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, owner_id: str) -> Iterator[bool]:
        """Yields True while holding the owner's lock (it is dead), False if someone holds it.

        An owner with no lock file is dead too: it registers the file before claiming anything.
        """
        if not is_owner_id(owner_id):
            yield True
            return
        try:
            fd = os.open(self.folder / f"{owner_id}{_LOCK_SUFFIX}", os.O_RDWR)
        except FileNotFoundError:
            yield True
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)
