"""The first hour of a new user, with real processes: README's walk-through run as written
against a real server, `make token`, what `make run` says while it installs, and the demo
hint on an IPv6 address."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service import CLI, Service, free_port

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# The virtual environment the tests run in stands in for the one `make` would create.
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _make() -> str:
    make = shutil.which("make")
    assert make is not None, "make is the set-up of this project, and must be installed"
    return make


def _make_token(data: Path) -> list[str]:
    """`make -s token`, on the tests' own environment, which is up to date (-o)."""
    return [
        _make(),
        "-s",
        "-C",
        str(REPO),
        "-o",
        ".venv/.installed",
        f"BIN={BIN}",
        f"DATA={data}",
        "token",
    ]


def _section_blocks(heading: str) -> list[str]:
    """The ```sh blocks of a README section."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def _expected_after(block: str, command_start: str) -> str:
    """The output the README shows under a command: its `#   ` lines joined."""
    lines = block.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(command_start))
    shown = []
    for line in lines[first + 1 :]:
        if line.startswith("#   "):
            shown.append(line[4:].strip())
        elif shown:
            break
    return " ".join(shown)


def test_readme_walk_through_works_as_written(tmp_path: Path) -> None:
    walk, commands = _section_blocks("Walk-through")
    terminal_one, _, terminal_two = walk.partition("# terminal 2")
    served = [line for line in terminal_one.splitlines() if line and not line.startswith("#")]
    assert served == ["PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS=127.0.0.1/32 make run"]
    # What `make run` runs, so that the server below is the one the README starts.
    assert "\t$(BIN)/product-media serve --demo --data $(DATA)\n" in (REPO / "Makefile").read_text()

    data = tmp_path / "data"
    server = Service(
        data, "--demo", env={"PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS": "127.0.0.1/32"}
    ).start()
    photos_port = free_port()
    substitutions = [
        # Ports and paths only: the server's and the photo server's free ports, this test's
        # data folder and virtual environment.
        ("make -s token", " ".join(_make_token(data))),
        (".venv/bin/python ", f"{sys.executable} "),
        (".venv/bin/product-media ", f"{' '.join(CLI)} "),
        ("--data data ", f"--data {data} "),
        ("127.0.0.1:8080", f"127.0.0.1:{server.port}"),
        ("9000", str(photos_port)),
    ]
    script = "# terminal 2" + terminal_two + commands
    for old, new in substitutions:
        assert old in script, old
        script = script.replace(old, new)
    shell = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = shell.communicate(timeout=120)
    finally:
        # The photo server, if the script stopped before its last line stops it.
        if shell.poll() is None:
            shell.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
        server.stop()
    assert shell.returncode == 0, f"{out}\n{err}"

    created = _expected_after(walk, "curl -s -H")
    assert created == '{"id":2}'
    assert created in out
    results = json.loads(_expected_after(walk, "curl -s -X PUT"))
    results["galleryMedia"][1]["errorMessage"] = results["galleryMedia"][1]["errorMessage"].replace(
        "9000", str(photos_port)
    )
    assert json.dumps(results, separators=(",", ":")) in out
    headers = out.lower()
    assert "http/1.1 200 ok" in headers
    assert "content-type: image/jpeg" in headers
    assert "cache-control: public, max-age=31536000, immutable" in headers
    # The second block: a store made, three tokens, one revoked by its prefix, the store gone.
    assert "\n2\n" in out
    assert re.search(r"\n1\tDemo store\n2\tMy store\n", out)
    assert "revoked a token of store 2" in err
    assert "deleted store 2" in err


def test_make_token_prints_a_token_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = subprocess.run(
        _make_token(data), capture_output=True, text=True, check=True, timeout=60
    )
    second = subprocess.run(
        _make_token(data), capture_output=True, text=True, check=True, timeout=60
    )
    assert re.fullmatch(r"secret_[A-Za-z0-9_-]{32}\n", first.stdout), first.stdout
    assert re.fullmatch(r"secret_[A-Za-z0-9_-]{32}\n", second.stdout), second.stdout
    assert first.stdout != second.stdout
    stores = subprocess.run(
        [*CLI, "stores", "list", "--data", str(data)], capture_output=True, text=True, check=True
    )
    assert stores.stdout == "1\tDemo store\n"


def test_make_run_says_what_it_installs(tmp_path: Path) -> None:
    """Each slow step of the set-up is announced before it runs (dry run, nothing installed)."""
    planned = subprocess.run(
        [_make(), "-n", "-C", str(REPO), f"VENV={tmp_path / 'venv'}", "run"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    slow = [i for i, line in enumerate(planned) if " -m venv " in line or " -m pip " in line]
    assert len(slow) == 3, planned
    for i in slow:
        assert planned[i - 1].startswith('echo "make: '), planned[i - 1]


def test_demo_hint_brackets_an_ipv6_host(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--demo", "--host", "::1", "--port", str(port), "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        hint = ""
        for line in server.stdout:
            if "curl" in line:
                hint = line
                break
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"http://[::1]:{port}/api/v3/1/products/1" in hint, hint
