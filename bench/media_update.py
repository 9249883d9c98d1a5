"""Times PUT .../media of generated 12 MP JPEGs through the real server, against its floor.

The source adds 200 ms of latency to every response. In one run this prints:

- the floor: the source latency plus the CPU time of the cheapest libvips chain for the same
  images (one shrink-on-load decode to 1500 px, then 800, 400 and 160 px from the previous
  size, each saved as JPEG q85), measured here on one thread and divided by the cores;
- a naive Pillow pipeline on the same images (full decode, each size from the full image with
  Lanczos, JPEG q85), as latency plus CPU time over the cores;
- the first PUT of all 20 and its ratio to the floor, and the CPU time the server process
  spent on it against the floor chain's (a ratio that other load on the machine hardly moves),
  and what the whole machine spent meanwhile (the source's too, and in `--backend scaled`
  PostgreSQL's and the S3 test server's, which share the same cores);
- a second identical PUT whose sources answer 304 to the validators they sent (ETag,
  Last-Modified), and one whose sources send no validators (the same bytes again);
- with `--growth`, the time of a first PUT of 1 to 100 items (each in a store of its own, so
  nothing is reused), to see that it grows linearly.

`--backend scaled` runs the same on a fresh PostgreSQL database and a bucket of the moto S3
server instead of SQLite and a folder.

    .venv/bin/python bench/media_update.py [--images 20] [--latency 0.2] [--rounds 5]
        [--backend folder|scaled] [--growth 1,10,20,50,100]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import httpx
import pyvips
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.s3_server import AWS_ENV, fresh_bucket_name, moto_server
from tests.service import Service
from tests.source_server import SourceServer

SIZES = (1500, 800, 400, 160)


def photo(index: int, width: int = 4000, height: int = 3000) -> bytes:
    """A photo-like JPEG (12 MP by default): smooth gradients with a little grain, different
    per index."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    r = (x * (255 / width) + index * 11) % 256
    g = (y * (255 / height) + index * 23) % 256
    b = ((x + y) * (255 / (width + height)) + index * 37) % 256
    grain = pyvips.Image.gaussnoise(width, height, sigma=6, mean=0)
    image = (r.bandjoin([g, b]) + grain).cast("uchar")
    return bytes(image.jpegsave_buffer(Q=90))


def floor_chain(data: bytes) -> None:
    """The cheapest libvips chain for the four sizes: the floor's unit of work."""
    image = pyvips.Image.thumbnail_buffer(data, SIZES[0], height=SIZES[0], size="down")
    image = image.copy_memory()
    image.jpegsave_buffer(Q=85)
    for box in SIZES[1:]:
        image = image.resize(box / max(image.width, image.height)).copy_memory()
        image.jpegsave_buffer(Q=85)


def naive_pillow(data: bytes) -> None:
    """What a first attempt with Pillow does: decode whole, each size from the whole image."""
    with Image.open(io.BytesIO(data)) as opened:
        full = opened.convert("RGB")
    for box in SIZES:
        copy = full.copy()
        copy.thumbnail((box, box), Image.Resampling.LANCZOS)
        copy.save(io.BytesIO(), "JPEG", quality=85)


def cpu_seconds(work: object, files: list[bytes]) -> float:
    """CPU time of `work` over every file, one after another (all threads of this process)."""
    assert callable(work)
    started = time.process_time()
    for body in files:
        work(body)
    return time.process_time() - started


@contextlib.contextmanager
def backend(name: str, data: Path) -> Iterator[dict[str, str]]:
    """The environment that points a server at `name`'s catalog and blob store."""
    if name == "folder":
        yield {}
        return
    from tests.databases import temporary_database

    with temporary_database() as database, moto_server() as endpoint:
        env = {
            **AWS_ENV,
            "PRODUCT_MEDIA_DATABASE_URL": database,
            "PRODUCT_MEDIA_BLOB_URL": f"s3://{fresh_bucket_name()}/media",
            "PRODUCT_MEDIA_S3_ENDPOINT_URL": endpoint,
        }
        # The command line that makes stores and tokens reads the same settings.
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            yield env
        finally:
            os.environ.clear()
            os.environ.update(saved)


def start_service(data: Path, env: dict[str, str]) -> Service:
    return Service(
        data,
        "--allow-source-network",
        "127.0.0.1/32",
        env={"PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0", **env},
    ).start()


def server_cpu(service: Service) -> float:
    """CPU seconds the server process has used so far (user + system, all its threads)."""
    assert service.process is not None
    fields = Path(f"/proc/{service.process.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds every process of the machine has used so far (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed_put(api: httpx.Client, store_id: int, urls: list[str]) -> float:
    """Seconds of one PUT of `urls` (main image, then the gallery) to a new product."""
    product = api.post(f"/api/v3/{store_id}/products", json={"name": "Bench"}).json()
    return put(api, store_id, product["id"], urls)


def put(api: httpx.Client, store_id: int, product_id: int, urls: list[str]) -> float:
    body = {
        "mainMedia": {"imageUrl": urls[0]},
        "galleryMedia": [{"imageUrl": url} for url in urls[1:]],
    }
    started = time.perf_counter()
    response = api.put(f"/api/v3/{store_id}/products/{product_id}/media", json=body)
    wall = time.perf_counter() - started
    response.raise_for_status()
    results = [response.json()["mainMedia"], *response.json()["galleryMedia"]]
    failed = [r for r in results if not r["success"]]
    assert not failed, failed
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=5, help="repeat the PUTs, print each")
    parser.add_argument("--backend", choices=("folder", "scaled"), default="folder")
    parser.add_argument("--growth", default="", help="item counts, e.g. 1,10,20,50,100")
    args = parser.parse_args()
    growth = [int(n) for n in args.growth.split(",") if n]
    count = max([args.images, *growth])
    cores = os.cpu_count() or 1
    others = ", PostgreSQL's and the S3 test server's" if args.backend == "scaled" else ""

    print(f"generating {count} JPEGs of 4000x3000 ...", flush=True)
    files = [photo(i) for i in range(count)]
    sample = files[: args.images]
    print(f"  sizes {min(map(len, files)) / 1e6:.1f}-{max(map(len, files)) / 1e6:.1f} MB")

    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    pillow_cpu = cpu_seconds(naive_pillow, sample)
    pillow = args.latency + pillow_cpu / cores

    with (
        tempfile.TemporaryDirectory() as tmp,
        backend(args.backend, Path(tmp)) as env,
        SourceServer(latency=args.latency) as source,
    ):
        with_validators = [
            source.add(
                f"/v{i}.jpg",
                body,
                headers={"ETag": f'"v{i}"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"},
                not_modified_for=f'"v{i}"',
            )
            for i, body in enumerate(sample)
        ]
        without = [source.add(f"/n{i}.jpg", body) for i, body in enumerate(sample)]
        service = start_service(Path(tmp) / "data", env)
        try:
            print(f"backend: {args.backend}; {cores} cores; source latency {args.latency} s")
            # Other images, so nothing of them is reused: what a server does once in its life
            # (imports, thread and memory pools) is not counted against the first round.
            warm_up = [source.add(f"/w{i}.jpg", photo(1000 + i)) for i in range(4)]
            store_id, token = service.new_store()
            with service.client(token, timeout=300) as api:
                warm = timed_put(api, store_id, warm_up)
            print(f"warm-up PUT of 4 other images after start: {warm:.2f} s")
            print(
                "each round measures the floor chain right before and right after its first "
                "PUT and takes the mean, so a slower spell of the machine falls on both"
            )
            ratios: dict[str, list[float]] = {"first": [], "cpu": [], "304": [], "plain": []}
            for n in range(1, args.rounds + 1):
                floor_before = cpu_seconds(floor_chain, sample)
                store_id, token = service.new_store()
                with service.client(token, timeout=300) as api:
                    cpu_before, all_before = server_cpu(service), machine_cpu()
                    first = timed_put(api, store_id, with_validators)
                    first_cpu = server_cpu(service) - cpu_before
                    all_cpu = machine_cpu() - all_before
                    floor_cpu = (floor_before + cpu_seconds(floor_chain, sample)) / 2
                    floor = args.latency + floor_cpu / cores
                    product = api.post(f"/api/v3/{store_id}/products", json={"name": "Re"}).json()
                    again = put(api, store_id, product["id"], with_validators)
                # The same bytes in another store: nothing of the first store's is reused.
                store_id, token = service.new_store()
                with service.client(token, timeout=300) as api:
                    first_plain = timed_put(api, store_id, without)
                    again_plain = timed_put(api, store_id, without)
                limit = args.latency + 0.25 * first_plain
                ratios["first"].append(first / floor)
                ratios["cpu"].append(first_cpu / floor_cpu)
                ratios["304"].append(again / args.latency)
                ratios["plain"].append(again_plain / limit)
                print(f"round {n}")
                print(f"  floor (latency + {floor_cpu:.2f} s CPU / {cores}): {floor:6.2f} s")
                print(
                    f"  naive Pillow (latency + {pillow_cpu:.2f} s CPU / {cores}): {pillow:6.2f} s"
                )
                print(
                    f"  first PUT of {args.images}: {first:6.2f} s = {first / floor:4.2f}x floor "
                    f"(Pillow {pillow / floor:4.2f}x); target <= 1.3x"
                )
                print(
                    f"    server CPU in that PUT: {first_cpu:5.2f} s = "
                    f"{first_cpu / floor_cpu:4.2f}x the floor chain's {floor_cpu:.2f} s"
                )
                print(
                    f"    the whole machine's CPU in it: {all_cpu:5.2f} s (the server's, the "
                    f"source's{others})"
                )
                print(
                    f"  re-PUT, sources answer 304: {again:6.2f} s = "
                    f"{again / args.latency:4.2f}x one round trip; target <= 1.5x"
                )
                print(
                    f"  first PUT, no validators: {first_plain:6.2f} s; re-PUT: "
                    f"{again_plain:6.2f} s; target <= latency + 25% of first = {limit:.2f} s"
                )
            if args.rounds > 1:
                print(f"median of {args.rounds} rounds:")
                print(
                    f"  first PUT / floor:                 {median(ratios['first']):4.2f}x (<= 1.3)"
                )
                print(f"  server CPU / floor chain's:        {median(ratios['cpu']):4.2f}x")
                print(
                    f"  304 re-PUT / one round trip:       {median(ratios['304']):4.2f}x (<= 1.5)"
                )
                print(
                    f"  no-validator re-PUT / its limit:   {median(ratios['plain']):4.2f}x (<= 1)"
                )

            if growth:
                print("growth: first PUT of n items, each in a new store")
                print("  items | seconds | per item")
                for n in growth:
                    urls = [source.add(f"/g{n}-{i}.jpg", body) for i, body in enumerate(files[:n])]
                    store_id, token = service.new_store()
                    with service.client(token, timeout=600) as api:
                        wall = timed_put(api, store_id, urls)
                    print(f"  {n:5d} | {wall:7.2f} | {wall / n:8.3f}")
        finally:
            service.stop()


if __name__ == "__main__":
    main()
