"""Blobs in an S3-compatible bucket, each the object `{prefix}/{key}`.

boto3: the reference S3 client, kept by AWS; speaks every S3-compatible server (path-style,
custom endpoints), creates buckets and does multipart; calls are blocking, so the service runs
them in worker threads.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.utils import ReadFileChunk

from product_media.domain.blob_keys import is_blob_key
from product_media.ingest.formats import by_extension
from product_media.storage.byte_ranges import resolve
from product_media.storage.ports import (
    BlobStoreUnavailable,
    ByteRange,
    OpenedBlob,
    RangeNotSatisfiable,
)

CHUNK_SIZE = 64 * 1024
CACHE_CONTROL = "public, max-age=31536000, immutable"
DEFAULT_REGION = "us-east-1"
# put_file sends a file larger than this in parts of this size, one part in memory at a time.
PART_SIZE = 16 * 1024 * 1024
# Under the prefix, beside the blobs: one small object per multipart upload under way, named
# after its owner, so that a sweep can abort the uploads of a process that died mid-way.
PARTIAL = "partial"

# The rules AWS gives for new buckets; S3-compatible servers accept these too.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)")


def parse_blob_url(blob_url: str) -> tuple[str, str]:
    """The bucket and prefix (without slashes at its ends) of `s3://bucket[/prefix]`."""
    parts = urlsplit(blob_url)
    if parts.scheme != "s3":
        raise ValueError(f"a blob URL is s3://bucket[/prefix], not {blob_url!r}")
    if parts.query or parts.fragment or parts.username or parts.port is not None:
        raise ValueError(f"a blob URL is s3://bucket[/prefix], with nothing else: {blob_url!r}")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"{blob_url!r} does not name a bucket: 3 to 63 lowercase letters, digits, dots or "
            "hyphens, starting and ending with a letter or digit"
        )
    prefix = parts.path.strip("/")
    if prefix and any(segment in ("", ".", "..") for segment in prefix.split("/")):
        raise ValueError(f"the prefix of {blob_url!r} has an empty, '.' or '..' segment")
    return bucket, prefix


class S3BlobStore:
    """Content-addressed blobs in a bucket. Credentials and region come from the standard AWS
    environment (boto3's default chain), the region defaulting to us-east-1."""

    def __init__(
        self,
        blob_url: str,
        endpoint_url: str | None = None,
        owner: str = "",
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
        part_size: int = PART_SIZE,
    ) -> None:
        # Names the record of each multipart upload this process has under way.
        self._owner = owner
        # S3 takes parts of 5 MiB or more (the last one excepted).
        self._part_size = max(part_size, 5 * 1024 * 1024)
        self.bucket, self.prefix = parse_blob_url(blob_url)
        session = boto3.session.Session()
        self.region: str = session.region_name or DEFAULT_REGION
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": max_attempts},
            # Worker threads share the client: one connection each, and a few to spare.
            max_pool_connections=32,
            # Virtual-host names need DNS per bucket, which S3-compatible servers rarely have.
            s3={"addressing_style": "path"} if endpoint_url else None,
            # Many S3-compatible servers refuse the CRC trailers boto3 now sends by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: Any = session.client(
            "s3", endpoint_url=endpoint_url, region_name=self.region, config=config
        )

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _headers(self, key: str) -> dict[str, str]:
        fmt = by_extension(key.rpartition(".")[2])
        return {
            "ContentType": fmt.mime if fmt else "application/octet-stream",
            "CacheControl": CACHE_CONTROL,
        }

    def put(self, key: str, content: bytes) -> None:
        """Upload `content` unless the key is there already (same key, same bytes)."""
        if not is_blob_key(key):
            raise ValueError(f"not a blob key: {key!r}")
        if self.exists(key):
            return
        self._client.put_object(
            Bucket=self.bucket, Key=self._object(key), Body=content, **self._headers(key)
        )

    def put_file(self, key: str, path: Path) -> None:
        """Upload the file at `path` unless the key is there already: in one request up to a
        part's size (PART_SIZE), else as a multipart upload; streamed from the file either way."""
        if not is_blob_key(key):
            raise ValueError(f"not a blob key: {key!r}")
        if self.exists(key):
            return
        if path.stat().st_size <= self._part_size:
            with path.open("rb") as body:
                self._client.put_object(
                    Bucket=self.bucket, Key=self._object(key), Body=body, **self._headers(key)
                )
            return
        self._multipart(key, path)

    def _multipart(self, key: str, path: Path) -> None:
        """A multipart upload, recorded under PARTIAL while it runs: the record is written
        before the upload starts and names it once it has, so a process dying at any point
        leaves something the sweep finds (see clear_partial_writes)."""
        record = self._object(f"{PARTIAL}/{self._owner}.{uuid.uuid4().hex}")
        self._record(record, key, None)
        upload_id: str | None = None
        try:
            upload_id = str(
                self._client.create_multipart_upload(
                    Bucket=self.bucket, Key=self._object(key), **self._headers(key)
                )["UploadId"]
            )
            self._record(record, key, upload_id)
            parts: list[dict[str, Any]] = []
            size = path.stat().st_size
            for number, start in enumerate(range(0, size, self._part_size), start=1):
                # A window on the file that botocore reads in small pieces (to sign, then to
                # send), so not even a whole part is held in memory.
                with ReadFileChunk.from_filename(str(path), start, self._part_size) as part:
                    answer = self._client.upload_part(
                        Bucket=self.bucket,
                        Key=self._object(key),
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=part,
                    )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._object(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            upload_id = None
        finally:
            if upload_id is not None:
                self._abort(key, upload_id)
            self._client.delete_object(Bucket=self.bucket, Key=record)

    def _record(self, record: str, key: str, upload_id: str | None) -> None:
        body = json.dumps({"key": key, "uploadId": upload_id}).encode()
        self._client.put_object(Bucket=self.bucket, Key=record, Body=body)

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._object(key), UploadId=upload_id
            )
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise

    def open(self, key: str, byte_range: ByteRange | None = None) -> OpenedBlob | None:
        if not is_blob_key(key):
            return None
        request: dict[str, str] = {"Bucket": self.bucket, "Key": self._object(key)}
        if byte_range is not None:
            request["Range"] = _range_header(byte_range)
        try:
            response = self._client.get_object(**request)
        except ClientError as exc:
            if _is_missing_key(exc):
                return None
            if _status(exc) != 416 and _code(exc) != "InvalidRange":
                raise
            size = self._size(key)
            if size is None:
                return None
            raise RangeNotSatisfiable(size) from None
        body = response["Body"]
        try:
            content_range = response.get("ContentRange")
            if content_range:
                match = _CONTENT_RANGE.fullmatch(str(content_range))
                if match is None:
                    raise OSError(f"unreadable Content-Range {content_range!r} from the bucket")
                start, end, size = (int(group) for group in match.groups())
                skip = 0
            else:
                # The server sent the whole object: it ignored the range, or none was asked.
                size = int(response["ContentLength"])
                start, end = (0, size - 1) if byte_range is None else resolve(byte_range, size)
                skip = start
        except BaseException:
            body.close()
            raise
        return OpenedBlob(
            size=size,
            start=start,
            end=end,
            chunks=_chunks(body, skip, end - start + 1),
            close=body.close,
        )

    def _size(self, key: str) -> int | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if _is_missing_key(exc):
                return None
            raise
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        return is_blob_key(key) and self._size(key) is not None

    def delete(self, key: str) -> None:
        if not is_blob_key(key):
            return
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if not _is_missing_key(exc):
                raise

    def keys(self) -> Iterator[str]:
        under = f"{self.prefix}/" if self.prefix else ""
        paginator = self._client.get_paginator("list_objects_v2")
        # The delimiter keeps deeper "folders" out of the listing: keys live directly here.
        for page in paginator.paginate(Bucket=self.bucket, Prefix=under, Delimiter="/"):
            for item in page.get("Contents", ()):
                name = str(item["Key"])[len(under) :]
                if is_blob_key(name):
                    yield name

    def _records(self) -> Iterator[tuple[str, str]]:
        """(object name, owner) of every record of a multipart upload under way."""
        under = self._object(f"{PARTIAL}/")
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=under):
            for item in page.get("Contents", ()):
                name = str(item["Key"])
                yield name, name[len(under) :].split(".", 1)[0]

    def _read_record(self, record: str) -> tuple[str, str | None] | None:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=record)["Body"]
            with contextlib.closing(body):
                data = json.loads(body.read())
        except ClientError as exc:
            if _is_missing_key(exc):
                return None
            raise
        except ValueError:
            return None
        key, upload_id = data.get("key"), data.get("uploadId")
        if not isinstance(key, str) or not is_blob_key(key):
            return None
        return key, upload_id if isinstance(upload_id, str) else None

    def partial_write_owners(self) -> set[str]:
        # Single puts are atomic; only multipart uploads leave something when interrupted.
        return {owner for _, owner in self._records()}

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        """Abort the multipart uploads of `owners` (gone) and drop their records."""
        gone = set(owners)
        if not gone:
            return
        records = list(self._records())
        # Uploads that live owners have under way, which must never be aborted.
        live = {
            read[1]
            for record, owner in records
            if owner not in gone and (read := self._read_record(record)) is not None
        }
        for record, owner in records:
            if owner not in gone:
                continue
            read = self._read_record(record)
            if read is not None:
                key, upload_id = read
                if upload_id is not None:
                    self._abort(key, upload_id)
                else:
                    # The owner died between starting the upload and recording its id.
                    self._abort_unrecorded(key, live)
            self._client.delete_object(Bucket=self.bucket, Key=record)

    def _abort_unrecorded(self, key: str, live: set[str | None]) -> None:
        name = self._object(key)
        paginator = self._client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=name):
            for upload in page.get("Uploads", ()):
                if upload["Key"] == name and upload["UploadId"] not in live:
                    self._abort(key, str(upload["UploadId"]))

    def ping(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreUnavailable(f"bucket {self.bucket}: {_reason(exc)}") from exc

    def ensure_bucket(self) -> bool:
        """Create the bucket when it is missing: True when this call made it, False when it was
        there already. Raises BlobStoreUnavailable when it is neither there nor creatable
        (no server, no right to create it)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if _status(exc) != 404:
                raise BlobStoreUnavailable(f"bucket {self.bucket}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"bucket {self.bucket}: {_reason(exc)}") from exc
        request: dict[str, Any] = {"Bucket": self.bucket}
        # us-east-1 is the one region that refuses to be named as a location.
        if self.region != DEFAULT_REGION:
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**request)
        except ClientError as exc:
            # Another replica starting at the same time made it first.
            if _code(exc) == "BucketAlreadyOwnedByYou":
                return False
            raise BlobStoreUnavailable(
                f"bucket {self.bucket} cannot be created: {_reason(exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(
                f"bucket {self.bucket} cannot be created: {_reason(exc)}"
            ) from exc
        return True


def _range_header(byte_range: ByteRange) -> str:
    if byte_range.start is None:
        return f"bytes=-{byte_range.end or 0}"
    return f"bytes={byte_range.start}-{'' if byte_range.end is None else byte_range.end}"


def _chunks(body: Any, skip: int, length: int) -> Iterator[bytes]:
    while skip > 0:
        skipped = body.read(min(CHUNK_SIZE, skip))
        if not skipped:
            raise OSError("object shorter than its size")
        skip -= len(skipped)
    while length > 0:
        chunk = body.read(min(CHUNK_SIZE, length))
        if not chunk:
            raise OSError("object shorter than its size")
        length -= len(chunk)
        yield bytes(chunk)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _is_missing_key(exc: ClientError) -> bool:
    # HEAD answers carry no error body: a bare 404 is all a missing key says there.
    return _code(exc) in ("NoSuchKey", "NotFound", "404")


def _reason(exc: BotoCoreError | ClientError) -> str:
    if isinstance(exc, ClientError):
        return f"{_status(exc)} {_code(exc)}".strip()
    return type(exc).__name__
