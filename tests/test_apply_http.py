"""`apply`'s runner against the real app in process and a real source server: a manifest of
mixed rows, the dry run, the report, the journal, and a server that fails for a while."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from product_media.apply.journal import Journal
from product_media.apply.manifest import Parsed, parse
from product_media.apply.report import Outcome, write_report
from product_media.apply.runner import DONE, FAILED, SKIPPED, RowResult, run
from product_media.client import EcwidClient, MediaSource, MediaUpdate, NewProduct
from tests.inprocess import InProcessService
from tests.media_factory import jpeg
from tests.sdk import QUICK, AsyncRouter, Flaky, async_client, image_url, missing_url, sync_client
from tests.source_server import SourceServer


def sku() -> str:
    return f"AP-{uuid.uuid4().hex[:10]}"


def apply(
    service: InProcessService,
    store: tuple[int, str],
    manifest: str,
    *,
    name: str = "m.csv",
    dry_run: bool = False,
    journal: Journal | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[RowResult]:
    parsed: list[Parsed] = parse(name, io.StringIO(manifest, newline=""))

    async def go() -> list[RowResult]:
        async with async_client(service, store, transport, retry=QUICK) as client:
            return await run(client, parsed, concurrency=3, dry_run=dry_run, journal=journal)

    return anyio.run(go)


def items(results: list[RowResult]) -> list[tuple[int, str, str, bool, str | None]]:
    return [
        (o.line, o.position, o.url, o.success, o.error_code)
        for result in results
        for o in result.outcomes
    ]


def state(client: EcwidClient, product_id: int) -> dict[str, Any]:
    product = client.get_product(product_id)
    return {
        "main": product.main_image().imageOriginalUrl if product.main_image() else None,
        "video": product.main_video().url if product.main_video() else None,
        "gallery": [(g.width, g.height) for g in product.galleryImages],
    }


@pytest.fixture
def client(service: InProcessService, store: tuple[int, str]) -> EcwidClient:
    return sync_client(service, store)


def new_product(client: EcwidClient, sources: SourceServer, gallery: int = 0) -> tuple[int, str]:
    code = sku()
    product_id = client.create_product(NewProduct(name="Shirt", sku=code)).id
    update = MediaUpdate(
        mainMedia=MediaSource(imageUrl=image_url(sources, 90, 90)),
        galleryMedia=[MediaSource(imageUrl=image_url(sources, 11, 11)) for _ in range(gallery)],
    )
    client.update_media(product_id, update)
    return product_id, code


def test_a_mixed_manifest(
    service: InProcessService,
    store: tuple[int, str],
    client: EcwidClient,
    sources: SourceServer,
    tmp_path: Path,
) -> None:
    by_id, _ = new_product(client, sources, gallery=2)
    kept, kept_sku = new_product(client, sources, gallery=1)
    cleared, cleared_sku = new_product(client, sources, gallery=3)
    partial, partial_sku = new_product(client, sources)
    main, g1, g2 = (
        image_url(sources, 80, 60),
        image_url(sources, 40, 30),
        image_url(sources, 20, 10),
    )
    missing = missing_url(sources)
    before_kept = state(client, kept)
    manifest = (
        "product_id,sku,main_image_url,gallery_1,gallery_2\n"
        f"{by_id},,{main},{g1},{g2}\n"  # line 2: id, main and gallery replaced
        f",{kept_sku},,{g2},\n"  # line 3: SKU, main kept, gallery replaced
        f",{cleared_sku},,,\n"  # line 4: no gallery cells: the gallery is cleared
        f",{partial_sku},{missing},{g1},{missing}\n"  # line 5: a broken main and gallery item
        f"999999999,,{main},,\n"  # line 6: unknown product
        f",NO-SUCH-{sku()},{main},,\n"  # line 7: unknown SKU
        f",{sku()},notaurl,,\n"  # line 8: malformed URL
        f",,{main},,\n"  # line 9: no product
    )
    results = apply(service, store, manifest)
    assert [(r.line, r.status) for r in results] == [
        (2, DONE),
        (3, DONE),
        (4, DONE),
        (5, FAILED),
        (6, FAILED),
        (7, FAILED),
        (8, FAILED),
        (9, FAILED),
    ]
    assert items(results) == [
        (2, "main", main, True, None),
        (2, "1", g1, True, None),
        (2, "2", g2, True, None),
        (3, "1", g2, True, None),
        (4, "gallery", "", True, None),
        (5, "main", missing, False, "DOWNLOAD_IMAGE_FAILED"),
        (5, "1", g1, True, None),
        (5, "2", missing, False, "DOWNLOAD_IMAGE_FAILED"),
        (6, "main", main, False, "PRODUCT_NOT_FOUND"),
        (7, "main", main, False, "SKU_NOT_FOUND"),
        (8, "main", "notaurl", False, "WRONG_URL"),
        (9, "main", main, False, "NO_PRODUCT"),
    ]
    assert [r.product for r in results[:4]] == [str(by_id), str(kept), str(cleared), str(partial)]
    # Checked through GET.
    after = state(client, by_id)
    assert after["main"] is not None and after["gallery"] == [(40, 30), (20, 10)]
    assert state(client, kept) == {**before_kept, "gallery": [(20, 10)]}
    assert state(client, cleared)["gallery"] == []
    assert state(client, cleared)["main"] is not None
    # A broken main source keeps the main image; the good gallery item is in.
    assert state(client, partial)["gallery"] == [(40, 30)]
    assert state(client, partial)["main"] is not None

    report = tmp_path / "report.json"
    write_report(report, [o for r in results for o in r.outcomes])
    entries = json.loads(report.read_text())
    assert len(entries) == 12
    assert entries[0] == {
        "product": str(by_id),
        "line": 2,
        "position": "main",
        "url": main,
        "success": True,
        "errorCode": None,
        "errorMessage": None,
    }
    assert entries[5]["errorCode"] == "DOWNLOAD_IMAGE_FAILED"
    assert missing in entries[5]["errorMessage"]
    assert entries[10]["errorMessage"] == "main_image_url must be an absolute http or https URL"


def test_a_jsonl_manifest_with_videos(
    service: InProcessService, store: tuple[int, str], client: EcwidClient, sources: SourceServer
) -> None:
    product_id, code = new_product(client, sources)
    youtube = "https://youtu.be/dQw4w9WgXcQ"
    cover = image_url(sources, 16, 9)
    line = {
        "sku": code,
        "main_video_url": youtube,
        "gallery": [image_url(sources), {"videoUrl": youtube, "imageUrl": cover}],
    }
    results = apply(service, store, json.dumps(line) + "\n", name="m.jsonl")
    assert [(o.position, o.url, o.success) for o in results[0].outcomes] == [
        ("main", youtube, True),
        ("1", line["gallery"][0], True),
        ("2", youtube, True),
    ]
    product = client.get_product(product_id)
    # A main video alone: the API deletes the main image.
    assert product.main_image() is None and product.main_video() is not None
    assert [type(item).__name__ for item in product.gallery()] == ["MediaImage", "MediaVideo"]


def test_a_dry_run_reads_and_writes_nothing(
    service: InProcessService, store: tuple[int, str], client: EcwidClient, sources: SourceServer
) -> None:
    product_id, code = new_product(client, sources, gallery=2)
    other, _ = new_product(client, sources)
    before = client.get_product(product_id)
    main, g1 = image_url(sources), image_url(sources)
    manifest = (
        "product_id,sku,main_image_url,main_video_url,gallery_1\n"
        f",{code},{main},,{g1}\n"
        f"{other},,,,\n"
        f",NOPE-{sku()},{main},,\n"
    )
    results = apply(service, store, manifest, dry_run=True)
    assert client.get_product(product_id).model_dump() == before.model_dump()
    assert client.get_product(other).main_image() is not None
    assert sources.hits(urlsplit(main).path) == sources.hits(urlsplit(g1).path) == 0
    assert [r.status for r in results] == [DONE, DONE, FAILED]
    change = results[0].diff
    assert change is not None
    old_main = before.main_image()
    assert old_main is not None
    assert (change.main_image.before, change.main_image.after, change.main_image.change) == (
        old_main.imageOriginalUrl,
        main,
        "replaced",
    )
    assert change.main_video.change == "none"
    assert [e.url for e in change.gallery_before] == [
        g.originalImageUrl for g in before.galleryImages
    ]
    assert [(e.kind, e.url) for e in change.gallery_after] == [("image", g1)]
    kept = results[1].diff
    assert kept is not None
    assert (kept.main_image.change, kept.gallery_change) == ("unchanged", "none")
    assert results[2].outcomes[0].error_code == "SKU_NOT_FOUND"


def test_a_journal_skips_what_succeeded(
    service: InProcessService,
    store: tuple[int, str],
    client: EcwidClient,
    sources: SourceServer,
    tmp_path: Path,
) -> None:
    first, first_sku = new_product(client, sources)
    second, second_sku = new_product(client, sources)
    good, late = image_url(sources), missing_url(sources)
    path = urlsplit(late).path
    manifest = f"sku,gallery_1\n{first_sku},{good}\n{second_sku},{late}\n"
    with Journal(tmp_path / "journal") as journal:
        results = apply(service, store, manifest, journal=journal)
    assert [r.status for r in results] == [DONE, FAILED]
    good_path = urlsplit(good).path
    hits = sources.hits(good_path)
    # The source of the failed row appears; the re-run does only that row.
    sources.add(path, jpeg(30, 30), headers={"Content-Type": "image/jpeg"})
    with Journal(tmp_path / "journal") as journal:
        again = apply(service, store, manifest, journal=journal)
    assert [r.status for r in again] == [SKIPPED, DONE]
    assert sources.hits(good_path) == hits
    assert len(client.get_product(second).galleryImages) == 1
    # A row whose content changed is not the row that succeeded: it runs again.
    changed = f"sku,gallery_1,gallery_2\n{first_sku},{good},{good}\n"
    with Journal(tmp_path / "journal") as journal:
        third = apply(service, store, changed, journal=journal)
    assert [r.status for r in third] == [DONE]
    assert len(client.get_product(first).galleryImages) == 2
    lines = (tmp_path / "journal").read_text().splitlines()
    entries = sorted((json.loads(line)["line"], json.loads(line)["success"]) for line in lines)
    assert entries == [(2, True), (2, True), (3, False), (3, True)]


def test_a_server_failing_for_a_while(
    service: InProcessService, store: tuple[int, str], client: EcwidClient, sources: SourceServer
) -> None:
    """A stand-in in front of the service answers 503 to the first three media updates."""
    ids = [new_product(client, sources)[0] for _ in range(2)]
    g1 = image_url(sources)
    flaky = Flaky(AsyncRouter(), 503, times=3, match=lambda r: r.method == "PUT")
    manifest = "product_id,gallery_1\n" + "".join(f"{i},{g1}\n" for i in ids)
    results = apply(service, store, manifest, transport=flaky)
    assert [r.status for r in results] == [DONE, DONE]
    assert len(flaky.refused) == 3
    assert all(len(client.get_product(i).galleryImages) == 1 for i in ids)
    # Down for longer than the retries last: the rows fail with the server's answer.
    flaky.left = 100
    results = apply(service, store, manifest, transport=flaky)
    assert {(o.success, o.error_code) for r in results for o in r.outcomes} == {
        (False, "STAND_IN_DOWN")
    }


def test_report_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    write_report(
        path,
        [
            Outcome("12", 2, "main", "https://a.example/a.jpg", True),
            Outcome("SKU S", 3, "1", "https://a.example/b,c.jpg", False, "WRONG_URL", "bad, very"),
        ],
    )
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows == [
        {
            "product": "12",
            "line": "2",
            "position": "main",
            "url": "https://a.example/a.jpg",
            "success": "true",
            "errorCode": "",
            "errorMessage": "",
        },
        {
            "product": "SKU S",
            "line": "3",
            "position": "1",
            "url": "https://a.example/b,c.jpg",
            "success": "false",
            "errorCode": "WRONG_URL",
            "errorMessage": "bad, very",
        },
    ]
