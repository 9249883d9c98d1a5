"""Three replicas on one PostgreSQL database and one bucket (the moto server standing in for
S3), each with a data folder of its own as if on a host of its own: one write path, whatever
replica a request lands on."""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import create_engine, func, select

from product_media.storage.engine import database_url
from product_media.storage.tables import blob_claims, blob_marks, blob_refs, owners
from tests import media_factory
from tests.databases import temporary_database
from tests.s3_server import AWS_ENV, fresh_bucket_name
from tests.service import Service, cli
from tests.source_server import SourceServer

pytestmark = pytest.mark.slow

LEASE = 2.0


class Cluster:
    def __init__(self, root: Path, database: str, endpoint: str, bucket: str) -> None:
        self.database = database
        self.endpoint = endpoint
        self.bucket = bucket
        self.env = {
            **AWS_ENV,
            "PRODUCT_MEDIA_DATABASE_URL": database,
            "PRODUCT_MEDIA_BLOB_URL": f"s3://{bucket}/media",
            "PRODUCT_MEDIA_S3_ENDPOINT_URL": endpoint,
            "PRODUCT_MEDIA_OWNER_LEASE": str(LEASE),
            "PRODUCT_MEDIA_SWEEP_INTERVAL": "0.5",
            "PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0",
            "PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS": "127.0.0.1/32",
        }
        self.replicas = [Service(root / f"host{n}", env=self.env) for n in range(3)]
        self.engine = create_engine(database_url(database))
        self.s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())

    def new_store(self) -> tuple[int, str]:
        data = self.replicas[0].data
        options = ("--database-url", self.database)
        store_id = int(cli(data, "stores", "create", *options).stdout)
        token = cli(data, "tokens", "create", "--store", str(store_id), *options).stdout.strip()
        return store_id, token

    def objects(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def leftovers(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            referenced = set(conn.execute(select(blob_refs.c.key)).scalars())
            claims = conn.execute(select(func.count()).select_from(blob_claims)).scalar_one()
            marks = conn.execute(select(func.count()).select_from(blob_marks)).scalar_one()
            leases = set(conn.execute(select(owners.c.id)).scalars())
        objects = {key.removeprefix("media/") for key in self.objects()}
        assert referenced <= objects, "every referenced blob is in the bucket"
        return {
            "unreferenced": sorted(objects - referenced),
            "claims": claims,
            "marks": marks,
            "leases": len(leases),
        }


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": AWS_ENV["AWS_DEFAULT_REGION"],
    }


@pytest.fixture
def cluster(tmp_path: Path, s3_endpoint: str) -> Iterator[Cluster]:
    with temporary_database() as database:
        cluster = Cluster(tmp_path, database, s3_endpoint, fresh_bucket_name())
        try:
            for replica in cluster.replicas:
                replica.start()
            yield cluster
        finally:
            for replica in cluster.replicas:
                replica.stop()
            cluster.engine.dispose()


def _urls(product: dict[str, Any]) -> set[str]:
    urls = {value for key, value in product.items() if key.endswith("Url") and value}
    for image in product["media"]["images"]:
        urls.update(value for key, value in image.items() if key.endswith("Url"))
    return urls


def _originals(product: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    main = product.get("originalImageUrl")
    gallery = tuple(item["originalImageUrl"].rsplit("/", 1)[1] for item in product["galleryImages"])
    return (main.rsplit("/", 1)[1] if main else None, gallery)


def _key(content: bytes) -> str:
    return f"{hashlib.sha256(content).hexdigest()}.jpg"


def _served_everywhere(cluster: Cluster, urls: set[str]) -> None:
    """Every replica serves every URL, with bytes that hash to its name."""
    for replica in cluster.replicas:
        with httpx.Client(base_url=replica.url, timeout=30, trust_env=False) as client:
            for url in urls:
                key = url.rsplit("/", 1)[1]
                response = client.get(f"/media/{key}")
                assert response.status_code == 200, (replica.url, key)
                assert hashlib.sha256(response.content).hexdigest() == key.split(".")[0]


def _settled(cluster: Cluster, timeout: float = 30) -> dict[str, Any]:
    expected = {"unreferenced": [], "claims": 0, "marks": 0, "leases": len(cluster.replicas)}
    deadline = time.monotonic() + timeout
    while (left := cluster.leftovers()) != expected:
        assert time.monotonic() < deadline, f"not settled: {left}"
        time.sleep(0.25)
    return left


def test_three_replicas_one_database_one_bucket(cluster: Cluster) -> None:
    store_id, token = cluster.new_store()
    with SourceServer("127.0.0.1", latency=0.05) as sources:
        images = [media_factory.jpeg(300 + 7 * n, 200 + 5 * n) for n in range(12)]
        urls = [sources.add(f"/replicas/{n}.jpg", content) for n, content in enumerate(images)]
        with cluster.replicas[0].client(token) as client:
            created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
        product = f"/api/v3/{store_id}/products/{created.json()['id']}"

        # Concurrent updates of one product, two through each replica.
        requests = [(urls[n], [urls[(n + k) % 12] for k in range(1, 3 + n % 3)]) for n in range(6)]
        barrier = threading.Barrier(len(requests))

        def send(n: int) -> dict[str, Any]:
            main, gallery = requests[n]
            body = {
                "mainMedia": {"imageUrl": main},
                "galleryMedia": [{"imageUrl": u} for u in gallery],
            }
            with cluster.replicas[n % 3].client(token) as client:
                barrier.wait(timeout=30)
                response = client.put(f"{product}/media", json=body)
            assert response.status_code == 200, response.text
            return response.json()

        with ThreadPoolExecutor(len(requests)) as pool:
            results = list(pool.map(send, range(len(requests))))
        assert all(result.get("mainMedia") == {"success": True, "id": "0"} for result in results)

        shown = []
        for replica in cluster.replicas:
            with replica.client(token) as client:
                # Media URLs start with the base of the request, which is the replica's own.
                text = client.get(product).text.replace(replica.url, "http://cdn.example")
                shown.append(json.loads(text))
        assert shown[0] == shown[1] == shown[2], "every replica shows the same product"
        outcomes = {
            n: (_key(images[urls.index(main)]), tuple(_key(images[urls.index(u)]) for u in gallery))
            for n, (main, gallery) in enumerate(requests)
        }
        winners = [n for n, outcome in outcomes.items() if outcome == _originals(shown[0])]
        assert len(winners) == 1, "exactly one request's outcome"
        _served_everywhere(cluster, _urls(shown[0]))
        _settled(cluster)

        # A replica killed mid-update: what it wrote goes once its lease has run out.
        victim = cluster.replicas[2]
        slow = sources.drip("/replicas/slow.jpg", media_factory.jpeg(220, 330), 0.05)
        fast = sources.add("/replicas/fast.jpg", media_factory.jpeg(330, 220))
        body = {"mainMedia": {"imageUrl": fast}, "galleryMedia": [{"imageUrl": slow}]}

        def doomed() -> None:
            try:
                with victim.client(token) as client:
                    client.put(f"{product}/media", json=body)
            except httpx.TransportError:
                pass

        sender = threading.Thread(target=doomed)
        sender.start()
        deadline = time.monotonic() + 30
        while cluster.leftovers()["claims"] == 0 or sources.hits("/replicas/slow.jpg") == 0:
            assert time.monotonic() < deadline, "the update never claimed its first files"
            time.sleep(0.05)
        victim.stop(signal.SIGKILL)
        sender.join(timeout=30)
        assert cluster.leftovers()["unreferenced"], "the killed update left files behind"
        cluster.replicas = cluster.replicas[:2]
        _settled(cluster, timeout=LEASE + 30)
        with cluster.replicas[0].client(token) as client:
            after = json.loads(
                client.get(product).text.replace(cluster.replicas[0].url, "http://cdn.example")
            )
        assert after == shown[0], "the product is as before the killed update"
        _served_everywhere(cluster, _urls(after))


def test_workers_share_metrics_and_log_json(tmp_path: Path, s3_endpoint: str) -> None:
    """`serve --workers 2`: /metrics counts every worker's requests; logs are JSON lines."""
    service = Service(
        tmp_path / "data",
        "--workers",
        "2",
        env={"PRODUCT_MEDIA_LOG_FORMAT": "json", "PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0"},
    ).start()
    try:
        with httpx.Client(base_url=service.url, timeout=10, trust_env=False) as client:
            for _ in range(40):
                assert client.get("/healthz").status_code == 200
            totals = set()
            for _ in range(6):
                text = client.get("/metrics").text
                totals.add(
                    sum(
                        float(line.rsplit(" ", 1)[1])
                        for line in text.splitlines()
                        if line.startswith("product_media_http_requests_total{")
                        and 'route="/healthz"' in line
                    )
                )
            assert min(totals) >= 40, totals
            ready = client.get("/readyz", headers={"X-Request-Id": "probe-1"})
            assert ready.json() == {"status": "ok"}
            assert ready.headers["x-request-id"] == "probe-1"
    finally:
        service.stop()
    lines = [line for line in service.log.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r.get("request_id") == "probe-1" and r.get("path") == "/readyz" for r in records)
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
