"""The BlobStore contract, held by every adapter: the local folder and an S3 bucket."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from product_media.domain.blob_keys import blob_key
from product_media.storage.folder_blobs import FolderBlobStore
from product_media.storage.ports import (
    BlobStore,
    BlobStoreUnavailable,
    ByteRange,
    OpenedBlob,
    RangeNotSatisfiable,
)
from product_media.storage.s3_blobs import CACHE_CONTROL, S3BlobStore, parse_blob_url
from tests.s3_server import AWS_ENV, free_port, fresh_bucket_name

# Several 64 KiB chunks, and no two alike, so a misplaced offset shows.
CONTENT = bytes(range(256)) * 700
KEY = blob_key(CONTENT, "jpg")
SIZE = len(CONTENT)
PREFIX = "media/x"


@dataclass
class Harness:
    """A store under test, and a way to put raw objects beside its blobs."""

    store: BlobStore
    # Writes bytes at a path relative to the store's root (the folder, or the bucket).
    plant: Callable[[str, bytes], None]
    # Where `plant` must write for an object to be the store's blob `key`.
    blob_path: Callable[[str], str]


def _s3_store(blob_url: str, endpoint: str) -> S3BlobStore:
    # Short timeouts, so that a server nobody answers fails the test in seconds, not minutes.
    return S3BlobStore(
        blob_url, endpoint, owner="tester", connect_timeout=1.0, read_timeout=5.0, max_attempts=1
    )


@cache
def _s3_client(endpoint: str) -> Any:
    """The tests' own client, to look behind the store (made once: clients are slow to make)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def _folder(tmp_path: Path) -> Harness:
    root = tmp_path / "media"

    def plant(name: str, content: bytes) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)

    return Harness(
        FolderBlobStore(root, owner="tester"), plant, lambda key: f"{key[:2]}/{key[2:4]}/{key}"
    )


def _s3(endpoint: str) -> Harness:
    bucket = fresh_bucket_name()
    store = _s3_store(f"s3://{bucket}/{PREFIX}", endpoint)
    assert store.ensure_bucket() is True

    def plant(name: str, content: bytes) -> None:
        _s3_client(endpoint).put_object(Bucket=bucket, Key=name, Body=content)

    return Harness(store, plant, lambda key: f"{PREFIX}/{key}")


@pytest.fixture(params=["folder", "s3"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "folder":
        return _folder(tmp_path)
    request.getfixturevalue("aws_env")
    return _s3(request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def store(harness: Harness) -> BlobStore:
    return harness.store


def _read(blob: OpenedBlob | None) -> bytes:
    assert blob is not None
    try:
        return b"".join(blob.chunks)
    finally:
        blob.close()


def test_a_put_blob_exists_and_reads_whole(store: BlobStore) -> None:
    assert not store.exists(KEY)
    store.put(KEY, CONTENT)
    assert store.exists(KEY)
    blob = store.open(KEY)
    assert blob is not None
    assert (blob.size, blob.start, blob.end, blob.length) == (SIZE, 0, SIZE - 1, SIZE)
    assert _read(blob) == CONTENT


@pytest.mark.parametrize(
    ("byte_range", "start", "end"),
    [
        (ByteRange(0, 9), 0, 9),
        (ByteRange(70_000, 140_000), 70_000, 140_000),
        (ByteRange(SIZE - 1, SIZE - 1), SIZE - 1, SIZE - 1),
        (ByteRange(5, None), 5, SIZE - 1),
        (ByteRange(10, SIZE + 1000), 10, SIZE - 1),
        (ByteRange(None, 3), SIZE - 3, SIZE - 1),
        (ByteRange(None, SIZE + 1000), 0, SIZE - 1),
    ],
)
def test_ranges_read_just_their_bytes(
    store: BlobStore, byte_range: ByteRange, start: int, end: int
) -> None:
    store.put(KEY, CONTENT)
    blob = store.open(KEY, byte_range)
    assert blob is not None
    assert (blob.size, blob.start, blob.end) == (SIZE, start, end)
    assert _read(blob) == CONTENT[start : end + 1]


@pytest.mark.parametrize(
    "byte_range",
    [ByteRange(SIZE, None), ByteRange(SIZE + 10, SIZE + 20), ByteRange(None, 0)],
)
def test_ranges_past_the_end_are_refused(store: BlobStore, byte_range: ByteRange) -> None:
    store.put(KEY, CONTENT)
    with pytest.raises(RangeNotSatisfiable) as refused:
        store.open(KEY, byte_range)
    assert refused.value.size == SIZE


def test_an_empty_blob_reads_empty_and_refuses_every_range(store: BlobStore) -> None:
    key = blob_key(b"", "png")
    store.put(key, b"")
    blob = store.open(key)
    assert blob is not None
    assert (blob.size, blob.length) == (0, 0)
    assert _read(blob) == b""
    for byte_range in (ByteRange(0, None), ByteRange(0, 5), ByteRange(None, 3)):
        with pytest.raises(RangeNotSatisfiable) as refused:
            store.open(key, byte_range)
        assert refused.value.size == 0


@pytest.mark.parametrize("key", [KEY, "none", "../catalog.db", "0" * 63 + ".jpg", ""])
def test_missing_or_invalid_keys_open_as_none(store: BlobStore, key: str) -> None:
    assert store.open(key) is None
    assert store.open(key, ByteRange(0, 9)) is None
    assert not store.exists(key)


def test_a_range_of_a_missing_key_is_none(store: BlobStore) -> None:
    assert store.open(KEY, ByteRange(SIZE + 10, None)) is None


def test_put_of_a_stored_key_keeps_what_is_there(store: BlobStore) -> None:
    store.put(KEY, CONTENT)
    # Same key, so same bytes in real use: these differ only to show no second write happened.
    store.put(KEY, b"never written")
    assert _read(store.open(KEY)) == CONTENT
    assert list(store.keys()) == [KEY]


def test_delete_removes_and_a_missing_key_is_fine(store: BlobStore) -> None:
    store.put(KEY, CONTENT)
    store.delete(KEY)
    assert not store.exists(KEY)
    assert store.open(KEY) is None
    store.delete(KEY)
    store.delete("not a key")


def test_a_started_read_survives_a_delete(store: BlobStore) -> None:
    store.put(KEY, CONTENT)
    blob = store.open(KEY)
    assert blob is not None
    first = next(blob.chunks)
    store.delete(KEY)
    assert not store.exists(KEY)
    # moto may have sent the whole body already; S3 itself finishes a GET it has begun.
    assert first + _read(blob) == CONTENT


def test_keys_lists_only_blobs_of_this_store(harness: Harness) -> None:
    store = harness.store
    other = blob_key(b"other", "mp4")
    store.put(KEY, CONTENT)
    store.put(other, b"other")
    stray = blob_key(b"stray", "png")
    for name in (
        harness.blob_path("not-a-key.jpg"),
        harness.blob_path(KEY.upper()),
        "tmp/tester.abc.part",
        f"{PREFIX}/sub/{stray}",
        f"{PREFIX}x/{stray}",
        f"media/{stray}",
        stray,
    ):
        harness.plant(name, b"junk")
    assert sorted(store.keys()) == sorted([KEY, other])


def test_a_fresh_store_has_no_partial_writes_and_pings(store: BlobStore) -> None:
    assert store.partial_write_owners() == set()
    store.clear_partial_writes({"tester"})
    store.ping()


def test_put_file_stores_the_file_and_leaves_it(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "upload"
    source.write_bytes(CONTENT)
    key = blob_key(CONTENT, "mp4")
    store.put_file(key, source)
    assert source.read_bytes() == CONTENT
    source.unlink()
    assert _read(store.open(key)) == CONTENT
    assert _read(store.open(key, ByteRange(1000, 1999))) == CONTENT[1000:2000]
    # A stored key is kept as it is.
    source.write_bytes(b"other")
    store.put_file(key, source)
    assert _read(store.open(key)) == CONTENT
    assert store.partial_write_owners() == set()
    assert list(store.keys()) == [key]


def test_folder_put_file_links_instead_of_copying(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path / "media", owner="me")
    source = tmp_path / "upload"
    source.write_bytes(CONTENT)
    key = blob_key(CONTENT, "webm")
    store.put_file(key, source)
    assert source.stat().st_nlink == 2
    assert list((tmp_path / "media" / "tmp").iterdir()) == []


def test_folder_partial_writes_are_found_and_cleared(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path, owner="me")
    for name in ("dead.1.part", "dead.2.part", "alive.3.part"):
        (tmp_path / "tmp" / name).write_bytes(b"half")
    assert store.partial_write_owners() == {"dead", "alive"}
    store.clear_partial_writes({"dead"})
    assert store.partial_write_owners() == {"alive"}


def test_folder_ping_fails_when_the_folder_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.write_bytes(b"not a folder")
    with pytest.raises(BlobStoreUnavailable):
        FolderBlobStore(root).ping()


# -- S3 only ------------------------------------------------------------------------------


@pytest.fixture
def s3(aws_env: None, s3_endpoint: str) -> Iterator[tuple[S3BlobStore, str]]:
    """An S3 store whose bucket does not exist yet, and the server's endpoint."""
    yield _s3_store(f"s3://{fresh_bucket_name()}/{PREFIX}", s3_endpoint), s3_endpoint


def test_s3_objects_carry_their_type_and_caching(s3: tuple[S3BlobStore, str]) -> None:
    store, endpoint = s3
    store.ensure_bucket()
    store.put(KEY, CONTENT)
    video = blob_key(b"video", "mp4")
    store.put(video, b"video")
    client = _s3_client(endpoint)
    for key, mime in ((KEY, "image/jpeg"), (video, "video/mp4")):
        head = client.head_object(Bucket=store.bucket, Key=f"{PREFIX}/{key}")
        assert head["ContentType"] == mime
        assert head["CacheControl"] == CACHE_CONTROL


MIB = 1024 * 1024


def _multipart_store(endpoint: str, owner: str, bucket: str | None = None) -> S3BlobStore:
    store = S3BlobStore(
        f"s3://{bucket or fresh_bucket_name()}/{PREFIX}", endpoint, owner, part_size=5 * MIB
    )
    store.ensure_bucket()
    return store


def _uploads(endpoint: str, bucket: str) -> list[str]:
    return [
        upload["UploadId"]
        for upload in _s3_client(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]


def test_s3_put_file_sends_a_large_file_in_parts(
    aws_env: None, s3_endpoint: str, tmp_path: Path
) -> None:
    store = _multipart_store(s3_endpoint, "a" * 32)
    content = CONTENT * 32  # 5.5 MiB: two parts
    source = tmp_path / "video.mp4"
    source.write_bytes(content)
    key = blob_key(content, "mp4")
    store.put_file(key, source)
    assert _read(store.open(key)) == content
    client = _s3_client(s3_endpoint)
    head = client.head_object(Bucket=store.bucket, Key=f"{PREFIX}/{key}")
    assert (head["ContentType"], head["CacheControl"]) == ("video/mp4", CACHE_CONTROL)
    assert head["ETag"].endswith('-2"')
    # Nothing else is left under the prefix: no record, no upload.
    listed = client.list_objects_v2(Bucket=store.bucket)
    assert [item["Key"] for item in listed["Contents"]] == [f"{PREFIX}/{key}"]
    assert _uploads(s3_endpoint, store.bucket) == []
    assert store.partial_write_owners() == set()


def test_s3_a_failed_multipart_upload_is_aborted(
    aws_env: None, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _multipart_store(s3_endpoint, "a" * 32)
    source = tmp_path / "video.mp4"
    source.write_bytes(CONTENT * 32)

    def broken(**_: Any) -> None:
        raise OSError("connection lost")

    monkeypatch.setattr(store._client, "complete_multipart_upload", broken)
    with pytest.raises(OSError, match="connection lost"):
        store.put_file(blob_key(CONTENT * 32, "mp4"), source)
    assert _uploads(s3_endpoint, store.bucket) == []
    assert store.partial_write_owners() == set()
    assert list(store.keys()) == []


def test_s3_sweep_aborts_the_uploads_of_dead_owners(aws_env: None, s3_endpoint: str) -> None:
    """What a process killed mid-upload leaves: its record, with the upload's id or (killed
    right after starting the upload) without; a live owner's upload is never touched."""
    dead, alive = "d" * 32, "e" * 32
    store = _multipart_store(s3_endpoint, alive)
    client = _s3_client(s3_endpoint)
    started = {}
    for owner, name, recorded in ((dead, "x", True), (dead, "y", False), (alive, "z", True)):
        key = blob_key(name.encode(), "mp4")
        upload = client.create_multipart_upload(Bucket=store.bucket, Key=f"{PREFIX}/{key}")
        started[name] = upload["UploadId"]
        record = f"{PREFIX}/partial/{owner}.{name}"
        body = {"key": key, "uploadId": upload["UploadId"] if recorded else None}
        client.put_object(Bucket=store.bucket, Key=record, Body=json.dumps(body).encode())
    assert store.partial_write_owners() == {dead, alive}
    assert list(store.keys()) == []
    store.clear_partial_writes({dead})
    assert _uploads(s3_endpoint, store.bucket) == [started["z"]]
    assert store.partial_write_owners() == {alive}


def test_s3_ensure_bucket_creates_a_missing_one(s3: tuple[S3BlobStore, str]) -> None:
    store, _ = s3
    with pytest.raises(BlobStoreUnavailable):
        store.ping()
    assert store.ensure_bucket() is True
    assert store.ensure_bucket() is False
    store.ping()


def test_s3_ensure_bucket_names_the_configured_region(
    s3_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    store = _s3_store(f"s3://{fresh_bucket_name()}", s3_endpoint)
    assert store.ensure_bucket() is True
    client = _s3_client(s3_endpoint)
    location = client.get_bucket_location(Bucket=store.bucket)
    assert location["LocationConstraint"] == "eu-west-1"


def test_s3_without_a_prefix_keeps_blobs_at_the_bucket_root(
    s3_endpoint: str, aws_env: None
) -> None:
    store = _s3_store(f"s3://{fresh_bucket_name()}", s3_endpoint)
    store.ensure_bucket()
    store.put(KEY, CONTENT)
    client = _s3_client(s3_endpoint)
    listed = client.list_objects_v2(Bucket=store.bucket)
    assert [item["Key"] for item in listed["Contents"]] == [KEY]
    assert list(store.keys()) == [KEY]


def test_s3_nobody_listening_is_unavailable_fast(aws_env: None) -> None:
    store = _s3_store("s3://bucket", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(BlobStoreUnavailable):
        store.ping()
    with pytest.raises(BlobStoreUnavailable):
        store.ensure_bucket()
    assert time.monotonic() - started < 5


def test_s3_a_server_that_ignores_the_range_still_gives_just_the_range(aws_env: None) -> None:
    store = S3BlobStore("s3://bucket/p", "http://127.0.0.1:1")
    with Stubber(store._client) as stub:
        for asked in ("bytes=70000-70009", f"bytes={SIZE}-"):
            stub.add_response(
                "get_object",
                {"Body": StreamingBody(_Body(CONTENT), SIZE), "ContentLength": SIZE},
                {"Bucket": "bucket", "Key": f"p/{KEY}", "Range": asked},
            )
        assert _read(store.open(KEY, ByteRange(70_000, 70_009))) == CONTENT[70_000:70_010]
        with pytest.raises(RangeNotSatisfiable):
            store.open(KEY, ByteRange(SIZE, None))


class _Body:
    """A file-like body for StreamingBody, as urllib3 hands it."""

    def __init__(self, content: bytes) -> None:
        self._content = content
        self._at = 0

    def read(self, amount: int | None = None) -> bytes:
        end = len(self._content) if amount is None else self._at + amount
        chunk = self._content[self._at : end]
        self._at += len(chunk)
        return chunk

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://my.bucket-1/media", "my.bucket-1", "media"),
        ("s3://bucket/media/x/", "bucket", "media/x"),
    ],
)
def test_blob_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert parse_blob_url(url) == (bucket, prefix)


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "http://x",
        "s3:///p",
        "bucket",
        "s3://b",
        "s3://Bucket",
        "s3://under_score",
        "s3://-bucket",
        "s3://a..b",
        "s3://user@bucket",
        "s3://bucket:9000",
        "s3://bucket?versioning=1",
        "s3://bucket/a//b",
        "s3://bucket/../b",
    ],
)
def test_bad_blob_urls_are_refused(url: str) -> None:
    # The message names the URL, so a typo in the setting is easy to find.
    with pytest.raises(ValueError, match=re.escape(repr(url))):
        S3BlobStore(url)
