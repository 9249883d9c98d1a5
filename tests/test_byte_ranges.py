"""Range headers as RFC 9110 writes them, and where each range falls in a blob."""

from __future__ import annotations

import pytest

from product_media.storage.byte_ranges import parse_range_header, resolve
from product_media.storage.ports import ByteRange, RangeNotSatisfiable


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=5-", ByteRange(5, None)),
        ("bytes=-3", ByteRange(None, 3)),
        ("bytes=-0", ByteRange(None, 0)),
        ("bytes=7-7", ByteRange(7, 7)),
        ("BYTES=0-1", ByteRange(0, 1)),
        (" bytes=0-1 ", ByteRange(0, 1)),
        ("bytes= 0-1", ByteRange(0, 1)),
        ("bytes=0-9,", ByteRange(0, 9)),
        ("bytes=, 2-4 ,", ByteRange(2, 4)),
        ("bytes=007-010", ByteRange(7, 10)),
        ("bytes=99999999999999999999999-", ByteRange(10**18, None)),
        ("bytes=0-99999999999999999999999", ByteRange(0, 10**18)),
        ("bytes=" + "0" * 40 + "5-", ByteRange(5, None)),
        # Malformed, another unit or several ranges: None, the whole file.
        ("bytes=9-2", None),
        ("bytes=0-1, 4-5", None),
        ("bytes=0-1,-3", None),
        ("bytes=-", None),
        ("bytes=", None),
        ("bytes=,", None),
        ("bytes=abc", None),
        ("bytes=1-2-3", None),
        ("bytes=+1-2", None),
        ("bytes=-+3", None),
        ("bytes=1 - 2", None),
        ("bytes=٣-٤", None),
        ("bytes 0-1", None),
        ("bytes:0-1", None),
        ("pages=1-2", None),
        ("bytesx=0-1", None),
        ("byte\u017f=0-1", None),
        ("nonsense", None),
        ("", None),
    ],
)
def test_parse_range_header(header: str, expected: ByteRange | None) -> None:
    assert parse_range_header(header) == expected


@pytest.mark.parametrize(
    ("byte_range", "size", "expected"),
    [
        (ByteRange(0, 9), 100, (0, 9)),
        (ByteRange(0, 0), 1, (0, 0)),
        (ByteRange(5, None), 100, (5, 99)),
        (ByteRange(99, None), 100, (99, 99)),
        (ByteRange(90, 200), 100, (90, 99)),
        (ByteRange(0, 10**18), 100, (0, 99)),
        (ByteRange(None, 3), 100, (97, 99)),
        (ByteRange(None, 100), 100, (0, 99)),
        (ByteRange(None, 500), 100, (0, 99)),
    ],
)
def test_resolve(byte_range: ByteRange, size: int, expected: tuple[int, int]) -> None:
    assert resolve(byte_range, size) == expected


@pytest.mark.parametrize(
    ("byte_range", "size"),
    [
        (ByteRange(None, 0), 100),
        (ByteRange(100, None), 100),
        (ByteRange(100, 200), 100),
        (ByteRange(10**18, None), 100),
        (ByteRange(0, None), 0),
        (ByteRange(0, 0), 0),
        (ByteRange(None, 3), 0),
    ],
)
def test_resolve_refuses_what_selects_no_byte(byte_range: ByteRange, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as refused:
        resolve(byte_range, size)
    assert refused.value.size == size
