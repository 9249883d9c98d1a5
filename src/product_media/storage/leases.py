"""Which server processes are alive: a lease in the database that each renews while it runs,
and, beside it, a lock file that the kernel frees the moment its process dies.

Across hosts the lease decides: a process that has not renewed for `lease` seconds (database
time, one clock for everyone) is dead. On one host the lock file tells at once, so a restarted
server cleans what its killed predecessor left without waiting for the lease to run out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
from collections.abc import Collection, Iterator
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, update

from product_media.storage.engine import epoch_now, read_transaction, write_transaction
from product_media.storage.tables import owners

_OWNER_ID = re.compile(r"^[0-9a-f]{32}$")
_SUFFIX = ".lock"


def is_owner_id(text: str) -> bool:
    return bool(_OWNER_ID.match(text))


class DatabaseLeases:
    """Leases in the catalog's `owners` table; lock files under `lock_dir` on this host."""

    def __init__(self, engine: Engine, lease: float, lock_dir: Path) -> None:
        self._engine = engine
        self.lease = lease
        self._lock_dir = lock_dir
        self._held: dict[str, int] = {}

    def register(self, owner: str) -> None:
        """Start `owner`'s lease; the lock file is taken first, so no sweeper on this host ever
        finds a registered owner's file free."""
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        staging = self._lock_dir / f"{owner}.new"
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            staging.rename(self._lock_dir / f"{owner}{_SUFFIX}")
        except BaseException:
            os.close(fd)
            staging.unlink(missing_ok=True)
            raise
        self._held[owner] = fd
        with write_transaction(self._engine) as conn:
            conn.execute(
                insert(owners).values(
                    id=owner,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=epoch_now(),
                    renewed_at=epoch_now(),
                )
            )

    def renew(self, owner: str) -> bool:
        """Extend the lease; False when it had already been taken for dead and dropped."""
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                update(owners).where(owners.c.id == owner).values(renewed_at=epoch_now())
            )
            return result.rowcount == 1

    def end(self, owner: str) -> None:
        """A clean stop: the lease goes, and so does the lock file."""
        with write_transaction(self._engine) as conn:
            conn.execute(delete(owners).where(owners.c.id == owner))
        fd = self._held.pop(owner, None)
        if fd is not None:
            (self._lock_dir / f"{owner}{_SUFFIX}").unlink(missing_ok=True)
            os.close(fd)

    def known(self) -> set[str]:
        with read_transaction(self._engine) as conn:
            rows = set(conn.execute(select(owners.c.id)).scalars())
        files = {
            path.name.removesuffix(_SUFFIX)
            for path in self._lock_dir.glob(f"*{_SUFFIX}")
            if is_owner_id(path.name.removesuffix(_SUFFIX))
        }
        return rows | files

    def dead(self, candidates: Collection[str]) -> set[str]:
        """Those of `candidates` that are gone: a free lock file on this host says so at once;
        a held one says alive; otherwise the lease decides (no row at all: dead)."""
        candidates = set(candidates)
        if not candidates:
            return set()
        with read_transaction(self._engine) as conn:
            leased = set(
                conn.execute(
                    select(owners.c.id).where(
                        owners.c.id.in_(sorted(candidates)),
                        owners.c.renewed_at > epoch_now() - self.lease,
                    )
                ).scalars()
            )
        dead = set()
        for owner in candidates:
            with self._lock(owner) as free:
                alive = owner in leased if free is None else not free
            if not alive:
                dead.add(owner)
        return dead

    def forget(self, dead: Collection[str]) -> None:
        """Drop the leases and lock files of owners found dead."""
        dead = sorted(set(dead))
        if not dead:
            return
        with write_transaction(self._engine) as conn:
            conn.execute(delete(owners).where(owners.c.id.in_(dead)))
        for owner in dead:
            with self._lock(owner) as free:
                if free:
                    (self._lock_dir / f"{owner}{_SUFFIX}").unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self, owner: str) -> Iterator[bool | None]:
        """Yields True while holding a dead owner's lock file, False when its process holds
        it, None when this host has no lock file of that owner."""
        if owner in self._held:
            yield False
            return
        if not is_owner_id(owner):
            yield None
            return
        try:
            fd = os.open(self._lock_dir / f"{owner}{_SUFFIX}", os.O_RDWR)
        except FileNotFoundError:
            yield None
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
