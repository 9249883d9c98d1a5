"""What a product's last media update asked for and what became of each item, as the media page
shows it. Any token of the store may read it, a public one included, so URLs are kept without
their query strings (where signatures and tokens travel) and credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from product_media.domain.media_update import MediaSource, MediaUpdate
from product_media.domain.plan import ItemResult, UpdateResults
from product_media.domain.urls import without_secrets

# A URL inside a message (messages put a colon or a full stop after it): its query string and
# any credentials go as in `shown_url`.
_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]*[^\s\"'<>:,.;)]", re.IGNORECASE)
HIDDEN = "…"


def shown_url(url: str) -> str:
    """`url` without credentials and with its query string replaced by `?…`."""
    try:
        shown = without_secrets(url)
    except ValueError:
        return HIDDEN
    return f"{shown}?{HIDDEN}" if urlsplit(url).query else shown


def shown_text(text: str) -> str:
    """`text` with every URL in it as `shown_url` gives it."""
    return _URL_IN_TEXT.sub(lambda match: shown_url(match.group()), text)


@dataclass(frozen=True)
class ReportedItem:
    """One requested item: its URLs (as shown) and its result (messages as shown)."""

    image_url: str | None
    video_url: str | None
    result: ItemResult


@dataclass(frozen=True)
class UpdateReport:
    """The items of one media update in request order; `at` is when it was committed (set by
    the catalog)."""

    main: ReportedItem | None
    gallery: tuple[ReportedItem, ...]
    at: datetime | None = None

    def items(self) -> tuple[ReportedItem, ...]:
        return ((self.main,) if self.main is not None else ()) + self.gallery


def _item(source: MediaSource, result: ItemResult) -> ReportedItem:
    message = result.error_message
    return ReportedItem(
        image_url=None if source.image_url is None else shown_url(source.image_url),
        video_url=None if source.video_url is None else shown_url(source.video_url),
        result=ItemResult(
            success=result.success,
            id=result.id,
            error_code=result.error_code,
            error_message=None if message is None else shown_text(message),
            warning=None if result.warning is None else shown_text(result.warning),
        ),
    )


def update_report(update: MediaUpdate, results: UpdateResults) -> UpdateReport:
    """Each requested item beside its result."""
    main = None
    if update.main is not None and results.main is not None:
        main = _item(update.main, results.main)
    gallery = tuple(_item(s, r) for s, r in zip(update.gallery, results.gallery, strict=True))
    return UpdateReport(main=main, gallery=gallery)


def _item_value(item: ReportedItem) -> dict[str, Any]:
    result = item.result
    return {
        "imageUrl": item.image_url,
        "videoUrl": item.video_url,
        "success": result.success,
        "id": result.id,
        "errorCode": result.error_code,
        "errorMessage": result.error_message,
        "warning": result.warning,
    }


def _item_from(value: dict[str, Any]) -> ReportedItem:
    return ReportedItem(
        image_url=value.get("imageUrl"),
        video_url=value.get("videoUrl"),
        result=ItemResult(
            success=bool(value.get("success")),
            id=value.get("id"),
            error_code=value.get("errorCode"),
            error_message=value.get("errorMessage"),
            warning=value.get("warning"),
        ),
    )


def report_value(report: UpdateReport) -> dict[str, Any]:
    """The report as JSON, the way the catalog keeps it."""
    return {
        "mainMedia": None if report.main is None else _item_value(report.main),
        "galleryMedia": [_item_value(item) for item in report.gallery],
    }


def report_from(value: dict[str, Any], at: datetime | None) -> UpdateReport:
    main = value.get("mainMedia")
    return UpdateReport(
        main=None if main is None else _item_from(main),
        gallery=tuple(_item_from(item) for item in value.get("galleryMedia") or ()),
        at=at,
    )
