"""`product-media apply` as a merchant runs it: the real command against a real server
(`product-media serve` on a free port) and a real source server."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from product_media.client import EcwidClient, MediaSource, MediaUpdate, NewProduct
from tests.media_factory import jpeg
from tests.service import CLI, Service, free_port, loopback_service
from tests.source_server import SourceServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = loopback_service(tmp_path_factory.mktemp("apply-cli")).start()
    yield service
    service.stop()


@pytest.fixture
def shop(server: Service) -> Iterator[tuple[int, str, EcwidClient]]:
    store_id, token = server.new_store()
    with EcwidClient(f"{server.url}/api/v3", store_id, token) as client:
        yield store_id, token, client


def image(sources: SourceServer, w: int = 40, h: int = 30) -> str:
    return sources.add(
        f"/cli/{uuid.uuid4().hex}.jpg", jpeg(w, h), headers={"Content-Type": "image/jpeg"}
    )


def new_product(client: EcwidClient, sources: SourceServer, gallery: int = 0) -> tuple[int, str]:
    code = f"CLI-{uuid.uuid4().hex[:8]}"
    product_id = client.create_product(NewProduct(name="Mug", sku=code)).id
    client.update_media(
        product_id,
        MediaUpdate(
            mainMedia=MediaSource(imageUrl=image(sources, 70, 70)),
            galleryMedia=[MediaSource(imageUrl=image(sources, 9, 9)) for _ in range(gallery)],
        ),
    )
    return product_id, code


def env_for(server_url: str, store_id: int, token: str) -> dict[str, str]:
    """The connection as the environment twins give it (a token stays out of `ps`)."""
    return {
        **os.environ,
        "ECWID_BASE_URL": f"{server_url}/api/v3",
        "ECWID_STORE_ID": str(store_id),
        "ECWID_TOKEN": token,
        "COLUMNS": "200",
    }


def apply(
    manifest: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "apply", str(manifest), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def test_a_mixed_manifest_with_a_report(
    server: Service,
    shop: tuple[int, str, EcwidClient],
    sources: SourceServer,
    tmp_path: Path,
) -> None:
    store_id, token, client = shop
    by_id, _ = new_product(client, sources, gallery=1)
    _, code = new_product(client, sources, gallery=2)
    main, g1 = image(sources, 80, 60), image(sources, 30, 20)
    missing = sources.url(f"/cli/{uuid.uuid4().hex}-gone.jpg")
    manifest = tmp_path / "media.csv"
    manifest.write_text(
        "product_id,sku,main_image_url,gallery_1,gallery_2\n"
        f"{by_id},,{main},{g1},{missing}\n"
        f",{code},,{g1},\n"
        f",NO-{uuid.uuid4().hex[:6]},{main},,\n"
        f",{code}-X,not-a-url,,\n"
    )
    report = tmp_path / "report.csv"
    done = apply(manifest, "--report", str(report), env=env_for(server.url, store_id, token))
    assert done.returncode == 1, done.stderr
    assert f"line 2: product {by_id} 2 {missing}: DOWNLOAD_IMAGE_FAILED" in done.stdout
    assert "line 4: product" in done.stdout and "SKU_NOT_FOUND" in done.stdout
    assert "line 5: product" in done.stdout and "WRONG_URL" in done.stdout
    assert re.search(r"rows\s+│\s+1\s+│\s+3\s+│\s+0\s+│\s+4", done.stdout), done.stdout
    with report.open(newline="") as file:
        rows = [
            (r["line"], r["position"], r["success"], r["errorCode"]) for r in csv.DictReader(file)
        ]
    assert rows == [
        ("2", "main", "true", ""),
        ("2", "1", "true", ""),
        ("2", "2", "false", "DOWNLOAD_IMAGE_FAILED"),
        ("3", "1", "true", ""),
        ("4", "main", "false", "SKU_NOT_FOUND"),
        ("5", "main", "false", "WRONG_URL"),
    ]
    product = client.get_product(by_id)
    assert product.originalImage is not None and product.originalImage.width == 80
    assert [(g.width, g.height) for g in product.galleryImages] == [(30, 20)]
    found = client.search_products(sku=code).items[0]
    assert [(g.width, g.height) for g in found.galleryImages] == [(30, 20)]


def test_a_dry_run_prints_the_change_and_writes_nothing(
    server: Service,
    shop: tuple[int, str, EcwidClient],
    sources: SourceServer,
    tmp_path: Path,
) -> None:
    store_id, token, client = shop
    product_id, code = new_product(client, sources, gallery=1)
    before = client.get_product(product_id)
    main, g1 = image(sources), image(sources)
    manifest = tmp_path / "media.jsonl"
    manifest.write_text(
        json.dumps({"sku": code, "main_image_url": main, "gallery": [g1]})
        + "\n"
        + json.dumps({"product_id": product_id})
        + "\n"
    )
    env = env_for(server.url, store_id, token)
    done = apply(manifest, "--dry-run", "--concurrency", "1", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    old_main = before.originalImageUrl
    old_gallery = before.galleryImages[0].originalImageUrl
    expected = [
        f"line 1: product {product_id}",
        "  main image: replaced",
        f"    before: {old_main}",
        f"    after:  {main}",
        "  main video: none",
        "  gallery: replaced, 1 items -> 1 items",
        f"    before: 1. image {old_gallery}",
        f"    after:  1. image {g1}",
        f"line 2: product {product_id}",
        f"  main image: unchanged, {old_main}",
        "  main video: none",
        "  gallery: deleted, 1 items -> 0 items",
        f"    before: 1. image {old_gallery}",
    ]
    assert done.stdout.splitlines()[: len(expected)] == expected
    assert "dry run: nothing was written" in done.stdout
    assert client.get_product(product_id).model_dump() == before.model_dump()
    assert sources.hits(urlsplit(main).path) == sources.hits(urlsplit(g1).path) == 0
    # An invalid row makes the dry run's status 1.
    manifest.write_text(json.dumps({"sku": code, "main_image_url": "nope"}) + "\n")
    assert apply(manifest, "--dry-run", env=env).returncode == 1


def test_an_interrupted_run_resumes_from_its_journal(
    server: Service, shop: tuple[int, str, EcwidClient], tmp_path: Path
) -> None:
    store_id, token, client = shop
    with SourceServer("127.0.0.1") as own:
        products = [new_product(client, own) for _ in range(4)]
        urls = [image(own, 10 + n, 10) for n in range(4)]
        # The third row's source hangs, so the run is stopped while it waits for it.
        stuck = own.stall(f"/cli/{uuid.uuid4().hex}.jpg", seconds=5)
        manifest = tmp_path / "media.csv"
        manifest.write_text(
            "sku,gallery_1\n"
            + f"{products[0][1]},{urls[0]}\n{products[1][1]},{urls[1]}\n"
            + f"{products[2][1]},{stuck}\n{products[3][1]},{urls[3]}\n"
        )
        journal = tmp_path / "journal.jsonl"
        command = [*CLI, "apply", str(manifest), "--concurrency", "1", "--journal", str(journal)]
        run = subprocess.Popen(
            command,
            env=env_for(server.url, store_id, token),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal.exists() and len(journal.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert [json.loads(line)["line"] for line in journal.read_text().splitlines()] == [2, 3]
        own.add(urlsplit(stuck).path, jpeg(12, 10), headers={"Content-Type": "image/jpeg"})
        hits = [own.hits(urlsplit(url).path) for url in urls[:2]]
        again = apply(manifest, "--journal", str(journal), env=env_for(server.url, store_id, token))
        assert again.returncode == 0, again.stdout + again.stderr
        assert re.search(r"rows\s+│\s+2\s+│\s+0\s+│\s+2\s+│\s+4", again.stdout), again.stdout
        # The rows done before the interruption were not sent again.
        assert [own.hits(urlsplit(url).path) for url in urls[:2]] == hits
        widths = [client.get_product(p).galleryImages[0].width for p, _ in products]
        assert widths == [10, 11, 12, 13]


def test_429_from_a_tiny_rate_limit(sources: SourceServer, tmp_path: Path) -> None:
    """Three requests a minute per token: the run's fourth request is refused with
    Retry-After, which the client waits out (up to a minute and a half, on the server's
    clock) before the row goes through."""
    server = Service(
        tmp_path / "limited",
        "--allow-source-network",
        "127.0.0.1/32",
        env={"PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "3"},
    ).start()
    try:
        store_id, setup_token = server.new_store()
        ids = []
        with EcwidClient(f"{server.url}/api/v3", store_id, setup_token) as client:
            ids = [client.create_product(NewProduct(name=f"Cap {n}")).id for n in range(3)]
        token = server.new_token(store_id)
        manifest = tmp_path / "media.csv"
        manifest.write_text("product_id\n" + "".join(f"{i}\n" for i in ids))
        done = apply(manifest, env=env_for(server.url, store_id, token))
        assert done.returncode == 0, done.stdout + done.stderr
        assert re.search(r"rows\s+│\s+3\s+│\s+0\s+│\s+0\s+│\s+3", done.stdout), done.stdout
        assert re.search(r"PUT /api/v3/\d+/products/\d+/media 429 ", server.log.read_text())
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("content", "args", "words"),
    [
        ("sku,galery_1\nS,x\n", (), "unknown column 'galery_1'"),
        ("main_image_url\nhttps://a.example/a.jpg\n", (), "no product column"),
        ("sku\nS\n", ("--concurrency", "0"), "--concurrency"),
        ("sku\nS\n", ("--report", "out.txt"), "--report"),
        ("sku\nS\n", ("--base-url", "app.ecwid.com/api/v3"), "--base-url"),
    ],
)
def test_what_cannot_run_exits_2(
    tmp_path: Path, content: str, args: tuple[str, ...], words: str
) -> None:
    manifest = tmp_path / "media.csv"
    manifest.write_text(content)
    env = env_for(f"http://127.0.0.1:{free_port()}", 1, "secret_x")
    done = apply(manifest, *args, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr


def test_no_service_or_a_wrong_token_exits_2(server: Service, tmp_path: Path) -> None:
    manifest = tmp_path / "media.csv"
    manifest.write_text("sku\nS\n")
    missing = apply(manifest, "--token", "", env=env_for(server.url, 1, ""))
    assert missing.returncode == 2 and "--token" in missing.stderr
    store_id, _ = server.new_store()
    refused = apply(manifest, env=env_for(server.url, store_id, "secret_wrong"))
    assert refused.returncode == 2 and "INVALID_API_TOKEN" in refused.stderr
    nobody = apply(manifest, env=env_for(f"http://127.0.0.1:{free_port()}", 1, "secret_x"))
    assert nobody.returncode == 2 and "cannot reach" in nobody.stderr
