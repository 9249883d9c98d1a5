"""A server process that registers as an owner and then dies by SIGKILL, as in a crash."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

_REGISTER = """
import sys, time
from pathlib import Path
from product_media.storage.owners import Owners
print(Owners(Path(sys.argv[1])).register().id, flush=True)
time.sleep(120)
"""


def crashed_owner(folder: Path) -> str:
    """Register an owner in another process, kill that process with SIGKILL; return its id."""
    process = subprocess.Popen(
        [sys.executable, "-c", _REGISTER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    owner_id = process.stdout.readline().strip()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    return owner_id
