"""Checking a media update request before anything is fetched (DESIGN section 3)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from product_media.domain.media_update import (
    MAX_URL_LENGTH,
    URL_PATTERN,
    InvalidUpdate,
    MediaSource,
    build_update,
    wrong_url,
)

A = "https://shop.example/a.jpg"
V = "https://shop.example/v.mp4"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://shop.example/a.jpg", None),
        ("http://shop.example:8080/a.jpg?x=1#f", None),
        ("HTTPS://SHOP.EXAMPLE/a.jpg", None),
        ("http://127.0.0.1/a.jpg", None),
        ("http://[::1]:8080/a.jpg", None),
        ("http://xn--80ak6aa92e.com/a.jpg", None),
        ("http://bücher.example/a.jpg", None),
        ("http://b\u00fccher..example/a.jpg", "no valid host"),
        ("ftp://shop.example/a.jpg", "absolute http or https"),
        ("file:///etc/passwd", "absolute http or https"),
        ("javascript:alert(1)", "absolute http or https"),
        ("/relative/a.jpg", "absolute http or https"),
        ("shop.example/a.jpg", "absolute http or https"),
        ("http:///a.jpg", "no valid host"),
        ("http://", "no valid host"),
        ("http://user:pass@shop.example/a.jpg", "credentials"),
        ("http://user@shop.example/a.jpg", "credentials"),
        ("http://shop.example:99999/a.jpg", "not a valid URL"),
        ("http://shop.example:0/a.jpg", "invalid port"),
        ("http://shop example/a.jpg", "whitespace"),
        (" https://shop.example/a.jpg", "whitespace"),
        ("http://shop.example/a\x00.jpg", "whitespace or control"),
        ("http://[::1/a.jpg", "not a valid URL"),
        ("https://shop.example/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_wrong_url(url: str, problem: str | None) -> None:
    reason = wrong_url("f", url)
    if problem is None:
        assert reason is None
    else:
        assert reason is not None and problem in reason
        assert reason.startswith("f ")


@pytest.mark.parametrize(
    ("main", "gallery", "expected_main", "expected_gallery"),
    [
        (None, None, None, ()),
        (None, [], None, ()),
        ((None, None), None, None, ()),
        (("", ""), None, None, ()),
        ((A, None), None, MediaSource(A), ()),
        ((None, V), None, MediaSource(None, V), ()),
        ((A, V), None, MediaSource(A, V), ()),
        (
            None,
            [(A, None), (None, V), (A, V)],
            None,
            (MediaSource(A), MediaSource(None, V), MediaSource(A, V)),
        ),
        (None, [(A, "")], None, (MediaSource(A),)),
    ],
)
def test_build_update(main, gallery, expected_main, expected_gallery) -> None:
    update = build_update(main, gallery, max_gallery_items=100)
    assert update.main == expected_main
    assert update.gallery == expected_gallery


@pytest.mark.parametrize(
    ("main", "gallery", "code", "field"),
    [
        (("ftp://x/a.jpg", None), None, "WRONG_URL", "mainMedia.imageUrl"),
        ((None, "nope"), None, "WRONG_URL", "mainMedia.videoUrl"),
        (None, [(A, None), (None, None)], "WRONG_PARAMETER", "galleryMedia[1]"),
        (None, [(A, None), ("", "")], "WRONG_PARAMETER", "galleryMedia[1]"),
        (
            None,
            [(A, None)] * 2 + [("http://u:p@x/a", None)],
            "WRONG_URL",
            "galleryMedia[2].imageUrl",
        ),
        (None, [(A, "x")], "WRONG_URL", "galleryMedia[0].videoUrl"),
        (None, [(A, None)] * 4, "WRONG_PARAMETER", "at most 3"),
    ],
)
def test_invalid_update(main, gallery, code, field) -> None:
    with pytest.raises(InvalidUpdate) as caught:
        build_update(main, gallery, max_gallery_items=3)
    assert caught.value.code == code
    assert field in caught.value.message


@settings(max_examples=500, derandomize=True, database=None, deadline=None)
@given(st.from_regex(URL_PATTERN, fullmatch=True).filter(lambda url: len(url) <= MAX_URL_LENGTH))
def test_every_url_the_schema_publishes_is_accepted(url: str) -> None:
    assert wrong_url("imageUrl", url) is None


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://shop.example:8443/a.jpg?x=1#y", True),
        ("HTTP://127.0.0.1:080/a", True),
        ("https://shop.example:/a.jpg", False),
        ("ftp://shop.example/a.jpg", False),
        ("https://user@shop.example/a.jpg", False),
        ("https://shop.example:0/a.jpg", False),
        ("https://shop.example:65536/a.jpg", False),
        ("https://shop.example/a b.jpg", False),
        ("https://shop.example/a\x7f.jpg", False),
        ("https:/shop.example/a.jpg", False),
        ("https://shop.example\\a.jpg", False),
        # Accepted by the service, left out of the published pattern.
        ("https://[::1]/a.jpg", False),
        ("https://bücher.example/a.jpg", False),
    ],
)
def test_the_published_pattern(url: str, accepted: bool) -> None:
    assert bool(re.fullmatch(URL_PATTERN, url)) is accepted
    if accepted:
        assert wrong_url("imageUrl", url) is None
