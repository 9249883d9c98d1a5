"""Reads: how fast the real server answers GET of a product, and whether GET and keyword
search stay flat as a store grows.

1. Throughput, measured with wrk (2 threads, 32 connections, 10 s by default) in one run,
   the two servers taking turns (3 rounds by default):
   `GET /api/v3/{store}/products/{id}` of a product with 20 media items (a main image and 19
   gallery images) on `product-media serve` (one worker, rate limit off), and a bare Starlette
   route on the same uvicorn returning the same JSON bytes from memory. Prints both and the
   ratio. `--profile FILE` also samples the server with py-spy during its run and prints
   where its time went (FILE: the collapsed stacks).
2. Growth: the store is filled with bulk inserts to 100, 10,000 and 100,000 products; at each
   size the median time of GET of that product and of a keyword search that matches three
   products, measured from outside (sequential requests over one keep-alive connection).

wrk is the Debian package `wrk` (`apt-get install wrk`). `--database-url` runs on PostgreSQL
(a new, empty database) instead of the embedded SQLite.

    .venv/bin/python bench/reads.py [--seconds 10] [--rounds 3] [--sizes 100,10000,100000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import media_factory
from tests.service import Service, cli, free_port
from tests.source_server import SourceServer

from product_media.storage import ids
from product_media.storage.engine import database_url, is_postgresql
from product_media.storage.tables import products

NEEDLE = "Zebrafinch"
# Words of the generated product names; none holds the needle's letters in a row.
_WORDS = (
    *("linen", "cotton", "wool", "oak", "walnut", "brass", "steel", "copper", "glass"),
    *("lamp", "chair", "table", "shelf", "mirror", "rug", "vase", "bowl", "mug", "plate"),
    *("blue", "green", "grey", "white", "black", "amber", "olive", "coral", "ivory", "navy"),
)


def _cpu_seconds(pid: int) -> float:
    """User and system time of a process so far (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, token: str | None, seconds: float) -> float:
    """Requests per second; refuses a run with errors or answers other than 2xx."""
    command = ["wrk", "-t2", "-c32", f"-d{seconds:g}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw failures:\n{out}")
    found = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"no rate in wrk's output:\n{out}")
    return float(found.group(1))


def _bare_route(body: Path, port: int) -> None:
    """Serve `body`'s bytes at every path, on uvicorn as `serve` runs it (one worker)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    content = body.read_bytes()

    async def product(_request: Request) -> Response:
        return Response(content, media_type="application/json")

    app = Starlette(routes=[Route("/{path:path}", product)])
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def _start_bare(body: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--bare", str(body), "--port", str(port)])
    url = f"http://127.0.0.1:{port}/product"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1).raise_for_status()
            return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the bare route did not start") from None
            time.sleep(0.1)


def _profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "250",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
    )


def _summarise(collapsed: Path, top: int = 25) -> None:
    """The functions the samples were in (own time and time including callees), as shares of
    the samples of the event loop's thread and of all threads."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"  py-spy: {samples} samples of every thread; the functions holding most of them:")
    print("    incl.    own   function (file:line)")
    for frame, n in total.most_common(top):
        print(f"    {100 * n / samples:4.1f}%  {100 * own[frame] / samples:4.1f}%   {frame}")


def throughput(
    service: Service, url: str, token: str, seconds: float, profile: Path | None, rounds: int
) -> None:
    """The two servers take turns, `rounds` times each, so a slow spell of the machine falls
    on both; the ratio of each round and their median are printed."""
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        answer = client.get(url)
    answer.raise_for_status()
    assert service.process is not None
    pid = service.process.pid
    print(
        f"GET of a product with 20 media items ({len(answer.content)} bytes of JSON), wrk "
        f"-t2 -c32 -d{seconds:g}s, {rounds} rounds taking turns"
    )
    columns = ("round", "serve req/s", "µs CPU", "bare req/s", "µs CPU")
    print("  " + "  ".join(columns) + "  ratio")
    ratios = []
    with tempfile.TemporaryDirectory(prefix="bench-reads-bare-") as folder:
        body = Path(folder) / "product.json"
        body.write_bytes(answer.content)
        bare, bare_url = _start_bare(body)
        try:
            for n in range(1, rounds + 1):
                sampler = _profile(pid, seconds, profile) if profile and n == 1 else None
                served, served_cpu = _rate_and_cpu(pid, url, token, seconds)
                if sampler is not None:
                    sampler.wait()
                alone, alone_cpu = _rate_and_cpu(bare.pid, bare_url, None, seconds)
                ratios.append(served / alone)
                figures = (n, served, 1e6 * served_cpu, alone, 1e6 * alone_cpu)
                cells = [f"{x:>{len(c)},.0f}" for x, c in zip(figures, columns, strict=True)]
                print("  " + "  ".join(cells) + f"  {served / alone:.3f}x")
        finally:
            bare.send_signal(signal.SIGTERM)
            bare.wait()
    print(f"  ratio, median of {rounds}: {statistics.median(ratios):.3f}x")
    if profile is not None:
        _summarise(profile)


def _rate_and_cpu(pid: int, url: str, token: str | None, seconds: float) -> tuple[float, float]:
    """wrk's requests per second, and the server's CPU seconds per request meanwhile."""
    cpu = _cpu_seconds(pid)
    rate = _wrk(url, token, seconds)
    return rate, (_cpu_seconds(pid) - cpu) / (rate * seconds)


def _fill(database: str, store_id: int, upto: int, rng: random.Random, needles: int = 0) -> None:
    """Bulk-insert generated products into the store until it holds `upto`, the first
    `needles` of them named with NEEDLE."""
    engine = create_engine(database_url(database))
    with engine.begin() as conn:
        have = conn.execute(
            select(func.count()).select_from(products).where(products.c.store_id == store_id)
        ).scalar_one()
        ids.lock_for_explicit(conn, "products")
        first = ids.last_issued(conn, "products") + 1
        rows = []
        for n in range(upto - have):
            words = " ".join(rng.choice(_WORDS) for _ in range(3)).title()
            number = first + n
            if n < needles:
                words = f"{NEEDLE} {words}"
            rows.append(
                {
                    "id": number,
                    "store_id": store_id,
                    "name": f"{words} {number}",
                    "sku": f"SKU-{number:07d}",
                    "price": rng.randint(100, 99_900) / 100,
                }
            )
        for start in range(0, len(rows), 5000):
            conn.execute(insert(products), rows[start : start + 5000])
        if rows:
            ids.move_past(conn, "products", rows[-1]["id"])
        if is_postgresql(conn):
            # What autovacuum does after such a load: the planner's statistics.
            conn.execute(text("ANALYZE products"))
    engine.dispose()


def _times_ms(client: httpx.Client, path: str, times: int = 60) -> tuple[float, float]:
    """The median and the fastest of `times` requests in a row, in milliseconds."""
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        spent.append(time.perf_counter() - started)
    return 1000 * statistics.median(spent), 1000 * min(spent)


def growth(
    service: Service, database: str, store_id: int, token: str, product: str, sizes: list[int]
) -> None:
    rng = random.Random(11)
    search = f"/api/v3/{store_id}/products?keyword={NEEDLE[1:8].upper()}"
    needles = 3
    print("GET and keyword search as the store grows: median (fastest) of 60 in a row, ms")
    print(f"  {'products':>9}  {'GET':>15}  {'search':>15}  matches")
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}) as api:
        for size in sizes:
            _fill(database, store_id, size, rng, needles)
            needles = 0
            found = api.get(search).json()["total"]
            get, hunt = _times_ms(api, product), _times_ms(api, search)
            print(
                f"  {size:>9,}  {get[0]:6.2f} ({get[1]:5.2f})  "
                f"{hunt[0]:6.2f} ({hunt[1]:5.2f})  {found}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--database-url", help="a new, empty PostgreSQL database")
    parser.add_argument("--profile", type=Path, help="sample the server with py-spy")
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare is not None:
        _bare_route(args.bare, args.port)
        return
    if shutil.which("wrk") is None:
        sys.exit("bench/reads.py needs wrk: apt-get install wrk")
    sizes = [int(size) for size in args.sizes.split(",") if size]
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as folder, SourceServer() as source:
        data = Path(folder)
        database = args.database_url or f"sqlite:///{data / 'catalog.db'}"
        env = {
            "PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0",
            "PRODUCT_MEDIA_DATABASE_URL": database,
            "PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS": "127.0.0.1/32",
        }
        os.environ.update(env)
        service = Service(data, env=env).start()
        try:
            store_id = int(cli(data, "stores", "create", "--name", "Bench").stdout)
            token = cli(data, "tokens", "create", "--store", str(store_id)).stdout.strip()
            urls = [source.add(f"/{n}.jpg", media_factory.jpeg(640 + n, 480)) for n in range(20)]
            with service.client(token) as api:
                created = api.post(f"/api/v3/{store_id}/products", json={"name": "Bench lamp"})
                path = f"/api/v3/{store_id}/products/{created.json()['id']}"
                api.put(
                    f"{path}/media",
                    json={
                        "mainMedia": {"imageUrl": urls[0]},
                        "galleryMedia": [{"imageUrl": url} for url in urls[1:]],
                    },
                ).raise_for_status()
            throughput(service, service.url + path, token, args.seconds, args.profile, args.rounds)
            if sizes:
                growth(service, database, store_id, token, path, sizes)
        finally:
            service.stop()


if __name__ == "__main__":
    main()
