"""HTTP byte ranges (RFC 9110 section 14): reading a Range header and placing it in a blob."""

from __future__ import annotations

import re

from product_media.storage.ports import ByteRange, RangeNotSatisfiable

_UNIT = re.compile(r"bytes=", re.IGNORECASE | re.ASCII)
_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
# Beyond any blob's size; longer numbers are read as this, so int() never parses a huge string.
_FAR = 10**18


def parse_range_header(value: str) -> ByteRange | None:
    """The single range `value` asks for, or None (serve the whole file) when it is malformed,
    in another unit, or asks for several ranges, as RFC 9110 allows.

    One range only: multipart/byteranges buys clients little for the work and abuse it invites.
    """
    value = value.strip()
    if not _UNIT.match(value):
        return None
    # A list may hold empty elements (RFC 9110 section 5.6.1): "bytes=0-9," is one range.
    specs = [spec.strip(" \t") for spec in value[len("bytes=") :].split(",")]
    specs = [spec for spec in specs if spec]
    if len(specs) != 1 or (match := _SPEC.fullmatch(specs[0])) is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    start = _number(first) if first else None
    end = _number(last) if last else None
    if start is not None and end is not None and end < start:
        return None
    return ByteRange(start, end)


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < len(str(_FAR)) else _FAR


def resolve(byte_range: ByteRange, size: int) -> tuple[int, int]:
    """The inclusive first and last byte of `byte_range` in a blob of `size` bytes; raises
    RangeNotSatisfiable when it selects no byte."""
    if byte_range.start is None:
        suffix = byte_range.end or 0
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(size - suffix, 0), size - 1
    if byte_range.start >= size:
        raise RangeNotSatisfiable(size)
    end = size - 1 if byte_range.end is None else min(byte_range.end, size - 1)
    return byte_range.start, end
