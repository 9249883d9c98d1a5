"""The report of a media update that the media page shows: URLs without their secrets, each
requested item beside its result, and the JSON form the catalog keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from product_media.domain.media_update import MediaSource, MediaUpdate
from product_media.domain.plan import ItemResult, UpdateResults
from product_media.domain.update_report import (
    ReportedItem,
    UpdateReport,
    report_from,
    report_value,
    shown_text,
    shown_url,
    update_report,
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://shop.example/a.jpg", "https://shop.example/a.jpg"),
        ("https://shop.example/a.jpg?sig=abc&exp=1", "https://shop.example/a.jpg?…"),
        ("https://user:pass@shop.example/a.jpg", "https://shop.example/a.jpg"),
        ("https://shop.example/a.jpg#part", "https://shop.example/a.jpg"),
        ("http://127.0.0.1:9000/x.png?", "http://127.0.0.1:9000/x.png"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://www.youtube.com/watch?…"),
        ("http://[::1", "…"),
    ],
)
def test_shown_url(url: str, shown: str) -> None:
    assert shown_url(url) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain words", "plain words"),
        (
            "https://a.example/x.jpg?token=secret_abc: HTTP 404 from source",
            "https://a.example/x.jpg?…: HTTP 404 from source",
        ),
        (
            "redirect from http://a.example/1 to HTTPS://b.example/2?s=1 refused",
            "redirect from http://a.example/1 to https://b.example/2?… refused",
        ),
        ('"https://a.example/x?y=1"', '"https://a.example/x?…"'),
        ("see https://a.example/x.jpg.", "see https://a.example/x.jpg."),
    ],
)
def test_shown_text(text: str, shown: str) -> None:
    assert shown_text(text) == shown


def _failed(message: str) -> ItemResult:
    return ItemResult(False, error_code="DOWNLOAD_IMAGE_FAILED", error_message=message)


def test_each_item_beside_its_result_in_request_order() -> None:
    update = MediaUpdate(
        main=MediaSource(image_url="https://a.example/main.jpg?sig=1"),
        gallery=(
            MediaSource(image_url="https://a.example/1.jpg"),
            MediaSource(video_url="https://a.example/v.webm", image_url="https://a.example/c.jpg"),
            MediaSource(image_url="https://a.example/gone.jpg?sig=2"),
        ),
    )
    results = UpdateResults(
        main=ItemResult(True, id="0"),
        gallery=(
            ItemResult(True, id="1"),
            ItemResult(True, id="1", warning="cover from https://a.example/c.jpg?x=1"),
            _failed("https://a.example/gone.jpg?sig=2: HTTP 404 from source"),
        ),
    )
    report = update_report(update, results)
    assert report.main == ReportedItem("https://a.example/main.jpg?…", None, ItemResult(True, "0"))
    assert [item.image_url for item in report.gallery] == [
        "https://a.example/1.jpg",
        "https://a.example/c.jpg",
        "https://a.example/gone.jpg?…",
    ]
    assert report.gallery[1].video_url == "https://a.example/v.webm"
    assert report.gallery[1].result.warning == "cover from https://a.example/c.jpg?…"
    assert report.gallery[2].result == _failed("https://a.example/gone.jpg?…: HTTP 404 from source")
    assert len(report.items()) == 4


@pytest.mark.parametrize(
    ("update", "results", "items"),
    [
        # The main media untouched: no main item, whatever the results say.
        (MediaUpdate(None, ()), UpdateResults(None, ()), 0),
        (
            MediaUpdate(MediaSource(video_url="https://v.example/a.mp4"), ()),
            UpdateResults(ItemResult(True, id="0"), ()),
            1,
        ),
    ],
)
def test_items_counted(update: MediaUpdate, results: UpdateResults, items: int) -> None:
    assert len(update_report(update, results).items()) == items


def test_the_kept_form_reads_back_as_it_was() -> None:
    report = UpdateReport(
        main=None,
        gallery=(
            ReportedItem("https://a.example/1.jpg", None, ItemResult(True, id="1")),
            ReportedItem(None, "https://v.example/v", ItemResult(True, id="1", warning="w")),
            ReportedItem("https://a.example/2.jpg", None, _failed("gone")),
        ),
    )
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert report_from(report_value(report), at) == UpdateReport(report.main, report.gallery, at)
    with_main = UpdateReport(main=report.gallery[0], gallery=())
    assert report_from(report_value(with_main), None) == with_main
