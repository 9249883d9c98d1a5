"""The service's Prometheus metrics (DESIGN section 7), right with one process or several.

With `PROMETHEUS_MULTIPROC_DIR` set, every process writes its values to files in that folder and
`render` adds them up. prometheus_client reads the variable when it is first imported, so it
has to be in the environment before then: the CLI sets it before starting its workers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from product_media.domain.plan import DOWNLOAD_IMAGE_FAILED, DOWNLOAD_VIDEO_FAILED

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "product_media_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "product_media_http_request_seconds",
    "Time from a request's arrival to the end of its answer",
    ["route", "method"],
)
MEDIA_UPDATES = Counter("product_media_media_updates", "Media updates (PUT .../media) handled")
MEDIA_UPDATE_SECONDS = Histogram(
    "product_media_media_update_seconds",
    "Duration of a media update, downloads included",
    # Downloads alone may take the whole download timeout (30 s by default).
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
MEDIA_ITEMS = Counter(
    "product_media_media_items",
    "Items of media updates, by result and error code",
    ["result", "error_code"],
)
FETCHED_BYTES = Counter("product_media_fetched_bytes", "Bytes downloaded from media sources")
PROCESSING_SECONDS = Histogram(
    "product_media_processing_seconds",
    "CPU-bound time spent inspecting and rendering one source",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# livesum: the total over the processes alive now; a dead worker's share drops out.
DECODE_BUDGET_BYTES_IN_USE = Gauge(
    "product_media_decode_budget_bytes_in_use",
    "Bytes of the image decode memory budget held",
    multiprocess_mode="livesum",
)
SOURCES_IN_FLIGHT = Gauge(
    "product_media_sources_in_flight",
    "Sources being downloaded or processed",
    multiprocess_mode="livesum",
)

# Each label value makes a time series: a code outside this set is counted as OTHER.
_ITEM_ERROR_CODES = frozenset({DOWNLOAD_IMAGE_FAILED, DOWNLOAD_VIDEO_FAILED})
# Files of live-mode gauges are named gauge_live<mode>_<pid>.db by prometheus_client.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def record_item(success: bool, error_code: str | None = None) -> None:
    """Count one item of a media update's results."""
    if success:
        MEDIA_ITEMS.labels(result="success", error_code="").inc()
    else:
        code = error_code if error_code in _ITEM_ERROR_CODES else "OTHER"
        MEDIA_ITEMS.labels(result="failure", error_code=code).inc()


def prepare_multiprocess_dir(path: Path) -> None:
    """Create `path`, or empty it of a previous run's metric files, before workers start."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _forget_dead_processes(path: str) -> None:
    """Drop the live gauges of workers that died: uvicorn restarts a crashed worker without a
    hook to say so, and a dead worker's sources in flight would otherwise count forever."""
    for file in Path(path).iterdir():
        match = _LIVE_GAUGE_FILE.fullmatch(file.name)
        if match and not _alive(int(match[1])):
            # Another worker's /metrics may be dropping the same file.
            file.unlink(missing_ok=True)


def render() -> tuple[bytes, str]:
    """The body and content type of a /metrics answer: this process's metrics, or all the
    workers' when they share a multiprocess folder."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    _forget_dead_processes(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
