"""A server process that takes a lease and then dies by SIGKILL, as in a crash."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

_REGISTER = """
import sys, time, uuid
from pathlib import Path
from product_media.storage.engine import make_engine
from product_media.storage.leases import DatabaseLeases
owner = uuid.uuid4().hex
DatabaseLeases(make_engine(sys.argv[1]), 60.0, Path(sys.argv[2])).register(owner)
print(owner, flush=True)
time.sleep(120)
"""


def crashed_owner(database_url: str, lock_dir: Path) -> str:
    """Take a lease in another process, kill that process with SIGKILL; return its owner id.

    Its lease still looks fresh in the database; only its lock file on this host says it died.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", _REGISTER, database_url, str(lock_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    owner_id = process.stdout.readline().strip()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    assert owner_id, "the process did not register"
    return owner_id
