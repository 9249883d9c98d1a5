"""Published Ecwid API clients from npm, for the compatibility tests.

They are pinned by `tests/clients/package-lock.json` and installed with `npm ci` into a cache
outside the repository (one folder per lock file, reused by later runs); the scripts in
`tests/clients/` find them through NODE_PATH. Without Node.js (18 or later) and npm the tests
that need them skip, and the run's header says so in one line; in CI they fail instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from tests.databases import missing

CLIENTS = Path(__file__).parent / "clients"
MIN_NODE = 18
# Proxy settings would send the clients' loopback requests elsewhere (axios reads them).
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@cache
def node_problem() -> str | None:
    """None when node and npm are there and node is recent enough for the clients."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js (node and npm, for the published npm clients)"
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    major = version.lstrip("v").partition(".")[0]
    if not major.isdigit() or int(major) < MIN_NODE:
        return f"Node.js {MIN_NODE} or later (found {version or 'none'})"
    return None


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "product-media-tests" / "npm-clients"


def install() -> Path:
    """The node_modules folder of the pinned clients, installed once per lock file."""
    if (problem := node_problem()) is not None:
        missing(problem)
    manifests = [CLIENTS / "package.json", CLIENTS / "package-lock.json"]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in manifests)).hexdigest()
    root = _cache_root() / digest[:16]
    done = root / ".installed"
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        # Another test run on this machine may be installing the same lock file.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            for path in manifests:
                shutil.copyfile(path, root / path.name)
            result = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if result.returncode != 0:
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                missing(f"the npm clients (npm ci failed: {last})")
            done.touch()
    return root / "node_modules"


def run(node_modules: Path, script: str, *args: str) -> Any:
    """Run `tests/clients/<script>` with the installed clients; what it printed, as JSON."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in _PROXY_VARIABLES and not name.startswith("NODE_")
    }
    env["NODE_PATH"] = str(node_modules)
    result = subprocess.run(
        ["node", str(CLIENTS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stderr}\n{result.stdout}"
    return json.loads(result.stdout)
