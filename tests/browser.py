"""Debian's Chromium for the browser tests, driven by Playwright (never Playwright's own browser
downloads). Missing, it is installed with apt-get when the tests run as root; otherwise the
tests that need it skip, and the run's header says so in one line; in CI they fail instead."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from tests.databases import missing

CHROMIUM = Path("/usr/bin/chromium")
_LOCK = Path("/tmp/product-media-tests-chromium.lock")


@cache
def chromium_problem() -> str | None:
    """None when Chromium is there or can be installed (root with apt-get)."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() == 0 and shutil.which("apt-get") is not None:
        return None
    return f"Chromium ({CHROMIUM}; install the Debian package chromium)"


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env=environment,
    )


def chromium() -> Path:
    """Chromium's executable, installed first when missing and installable."""
    if (problem := chromium_problem()) is not None:
        missing(problem)
    with _LOCK.open("w") as lock:
        # Other test processes may be installing it right now.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not CHROMIUM.exists():
            install = ("install", "-y", "--no-install-recommends", "chromium")
            result = _apt_get(*install)
            if result.returncode != 0:
                # A fresh machine has no package lists yet.
                _apt_get("update")
                result = _apt_get(*install)
            if result.returncode != 0 or not CHROMIUM.exists():
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                missing(f"Chromium (apt-get install chromium failed: {last})")
    return CHROMIUM
