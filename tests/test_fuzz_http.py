"""Schemathesis against the running service, driven by the /openapi.json that service serves.

Every operation gets the coverage cases schemathesis derives from the schema plus a bounded,
seeded run of generated ones (valid and invalid), sent over HTTP to the real app, served by
uvicorn on a loopback port from a thread of this process (embedded backend: this is about the
API, not storage). Every answer must be a non-5xx that the schema documents: status code,
content type, headers and body; invalid input must be refused with a 4xx, and a 2xx must not
survive a missing or unknown token.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import schemathesis
from requests.structures import CaseInsensitiveDict
from schemathesis import Case, CheckFunction
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.inprocess import EMBEDDED
from tests.inprocess_helpers import SocketService
from tests.media_factory import html, jpeg, png
from tests.source_server import SourceServer
from tests.video_factory import webm

# Fixed, so that a failure found once is found again, on every run and on every machine.
SEED = 20_250_611
# Generated cases per operation, on top of the coverage cases derived from the schema.
MAX_EXAMPLES = 60
MAX_ID = 2**63 - 1

OPERATIONS = (
    "POST /api/v3/{storeId}/products",
    "GET /api/v3/{storeId}/products",
    "GET /api/v3/{storeId}/products/{productId}",
    "DELETE /api/v3/{storeId}/products/{productId}",
    "PUT /api/v3/{storeId}/products/{productId}",
    "PUT /api/v3/{storeId}/products/{productId}/media",
    "POST /api/v3/{storeId}/products/{productId}/image",
    "POST /api/v3/{storeId}/products/{productId}/image/async",
    "DELETE /api/v3/{storeId}/products/{productId}/image",
    "POST /api/v3/{storeId}/products/{productId}/gallery",
    "POST /api/v3/{storeId}/products/{productId}/gallery/async",
    "DELETE /api/v3/{storeId}/products/{productId}/gallery",
    "DELETE /api/v3/{storeId}/products/{productId}/gallery/{galleryItemId}",
    "POST /api/v3/{storeId}/products/{productId}/video",
    "POST /api/v3/{storeId}/products/{productId}/gallery/video",
    "DELETE /api/v3/{storeId}/products/{productId}/video",
    "GET /api/v3/{storeId}/products/{productId}/gallery/video/{galleryVideoId}",
    "PUT /api/v3/{storeId}/products/{productId}/gallery/video/{galleryVideoId}",
    "GET /api/v3/{storeId}/profile",
    "GET /media/{key}",
    "HEAD /media/{key}",
)
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    ignored_auth,
    unsupported_method,
]


def _client(service: SocketService, token: str) -> httpx.Client:
    # No proxy from the environment: test traffic stays on loopback.
    return httpx.Client(
        base_url=service.url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        trust_env=False,
    )


@dataclass
class Target:
    """What fuzzed requests are steered at, so that they get past the 403s and 404s."""

    service: SocketService
    store_id: int
    token: str
    product_ids: list[int]
    other_store_id: int
    blob_keys: list[str]
    # URLs the schema calls valid, and loopback URLs it does not (refused before any fetch).
    source_urls: list[str]
    refused_urls: list[str]
    video_url: str
    # A product with one gallery video, that only the cases naming a gallery video reach.
    video_product_id: int
    video_id: int

    def fresh_product(self) -> int:
        """A product made just now, for a DELETE to remove without starving the other cases."""
        with _client(self.service, self.token) as api:
            response = api.post(f"/api/v3/{self.store_id}/products", json={"name": "Doomed"})
        assert response.status_code == 200, response.text
        product_id: int = response.json()["id"]
        return product_id


@pytest.fixture(scope="module")
def fuzz_sources() -> Iterator[SourceServer]:
    with SourceServer("127.0.0.1") as server:
        server.add("/image.png", png(48, 32, alpha=True))
        server.add("/image.jpg", jpeg(40, 30))
        server.add("/page.html", html(), headers={"Content-Type": "text/html"})
        server.redirect("/moved.jpg", server.url("/image.jpg"))
        server.add("/video.webm", webm(w=64, h=48, seconds=1.0))
        yield server


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketService]:
    # Allowed to fetch from 127.0.0.1, where the sources are; rate limit off.
    service = SocketService(tmp_path_factory.mktemp("fuzz"), EMBEDDED).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def target(fuzz_service: SocketService, fuzz_sources: SourceServer) -> Target:
    store_id, token = fuzz_service.new_store()
    with _client(fuzz_service, token) as api:
        product_ids = [
            api.post(f"/api/v3/{store_id}/products", json=body).json()["id"]
            for body in ({"name": "Shirt", "sku": "S-1", "price": 9.5}, {"name": "Mug"})
        ]
        video_product_id = api.post(f"/api/v3/{store_id}/products", json={"name": "Film"}).json()[
            "id"
        ]
        added = api.post(
            f"/api/v3/{store_id}/products/{video_product_id}/gallery/video",
            json={"url": fuzz_sources.url("/video.webm")},
        )
        assert added.status_code == 200, added.text
    # The files the /media cases ask for belong to a product in a store the fuzzed requests
    # have no token for, so that no fuzzed PUT or DELETE can make them go away.
    other_store_id, other_token = fuzz_service.new_store()
    with _client(fuzz_service, other_token) as api:
        pinned = api.post(f"/api/v3/{other_store_id}/products", json={"name": "Pinned"}).json()
        path = f"/api/v3/{other_store_id}/products/{pinned['id']}"
        update = {
            "mainMedia": {"imageUrl": fuzz_sources.url("/image.jpg")},
            "galleryMedia": [{"imageUrl": fuzz_sources.url("/image.png")}],
        }
        assert api.put(f"{path}/media", json=update).status_code == 200
        product = api.get(path).json()
    blob_keys = sorted(
        {
            urlsplit(value).path.rpartition("/")[2]
            for image in product["media"]["images"]
            for name, value in image.items()
            if name.endswith("Url")
        }
    )
    assert len(blob_keys) >= 2, product
    return Target(
        service=fuzz_service,
        store_id=store_id,
        token=token,
        product_ids=product_ids,
        other_store_id=other_store_id,
        blob_keys=blob_keys,
        source_urls=[
            fuzz_sources.url("/image.png"),
            fuzz_sources.url("/image.jpg"),
            fuzz_sources.url("/moved.jpg"),
            fuzz_sources.url("/page.html"),
            fuzz_sources.url("/missing.jpg"),
        ],
        # Loopback URLs the service refuses before fetching anything, so that the 422 paths
        # stay fuzzed although every generated http(s) URL is replaced.
        refused_urls=[
            fuzz_sources.url("/image.png", host="user:secret@127.0.0.1"),
            fuzz_sources.url("/" + "x" * 2100),
        ],
        video_url=fuzz_sources.url("/video.webm"),
        video_product_id=video_product_id,
        video_id=added.json()["id"],
    )


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """The HTTP session schemathesis sends every case and probe with."""
    with requests.Session() as http:
        # No proxy from the environment: test traffic stays on loopback.
        http.trust_env = False
        yield http


@pytest.fixture(scope="module")
def api_schema(fuzz_service: SocketService) -> schemathesis.BaseSchema:
    with httpx.Client(trust_env=False) as http:
        served = http.get(f"{fuzz_service.url}/openapi.json")
    assert served.status_code == 200, served.text
    config = schemathesis.Config.from_dict(
        {
            "base-url": fuzz_service.url,
            "seed": SEED,
            # Drawing cases is fast here, but a busy machine must not fail the run for it.
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "database": "none",
                # The token is ours to send (or to leave out), not a header to generate.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_dict(served.json(), config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4 reads and rewrites `node._nodeid`, which pytest 9.2 no longer has."""
    node: Any = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8])


def _pick(case: Case[Any], salt: str, choices: int) -> int:
    """A choice that depends only on what the case holds, so every run makes the same ones."""
    headers = dict(case.headers) if case.headers else None
    content = [salt, case.method, case.path, case.path_parameters, headers, case.query, case.body]
    # What is not JSON (a missing body) counts by its type: a repr may hold an address.
    text = json.dumps(content, sort_keys=True, default=lambda value: type(value).__name__)
    return _digest(text) % choices


def _is_positive(case: Case[Any]) -> bool:
    """Whether schemathesis made the case valid by the schema (then it must be accepted)."""
    return case.meta is not None and case.meta.generation.mode.is_positive


def _as_id(value: object) -> int | None:
    """The id a path parameter names, if it is a valid one (coverage cases send strings)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def _steer(case: Case[Any], target: Target) -> None:
    """Point valid ids at real stores, products and files most of the time; keep invalid ones."""
    params = case.path_parameters
    if not params:
        return
    deleting = case.method.upper() == "DELETE"
    choice = _pick(case, "path", 16)
    if choice == 0:
        # Generated ids are small numbers too, and may name the products the other cases need.
        if deleting and _as_id(params.get("productId")) in target.product_ids:
            params["productId"] = target.fresh_product()
        return
    if _as_id(params.get("storeId")) is not None:
        params["storeId"] = target.other_store_id if choice == 1 else target.store_id
    if _as_id(params.get("productId")) is not None:
        if deleting:
            params["productId"] = target.fresh_product()
        else:
            params["productId"] = target.product_ids[choice % len(target.product_ids)]
    valid_video_id = _as_id(params.get("galleryVideoId")) is not None
    if valid_video_id and not deleting and not _meant_refused(case, ParameterLocation.PATH):
        params["productId"] = target.video_product_id
        params["galleryVideoId"] = target.video_id
    if isinstance(params.get("key"), str):
        key = params["key"] = target.blob_keys[choice % len(target.blob_keys)]
        _steer_file_headers(case, key)


def _steer_file_headers(case: Case[Any], key: str) -> None:
    """Now and then a Range or If-None-Match that a random string would hardly ever be."""
    etag = f'"{key.partition(".")[0]}"'
    # The schema cannot say which ranges a file satisfies, so only cases that are meant to
    # be refused ask for one past the end (416).
    past_the_end = {} if _is_positive(case) else {"Range": "bytes=99999999-"}
    extra = [
        {},
        {},
        {"Range": "bytes=0-9"},
        {"Range": "bytes=0-1, 4-5"},
        {"Range": "bytes=-3"},
        past_the_end,
        {"If-None-Match": etag},
        {"If-None-Match": f'W/"other", {etag}'},
    ][_pick(case, "headers", 8)]
    if extra:
        headers = CaseInsensitiveDict(case.headers or {})
        headers.update(extra)
        case.headers = headers


def _looks_fetchable(text: str) -> bool:
    """Whether `text` could pass for an http(s) URL with any lenient parser.

    Python's urlsplit drops tabs and newlines anywhere and control characters in front, so
    those, and anything else unprintable, are ignored before looking at the scheme. This is
    wider than what the service accepts on purpose: a false positive costs nothing.
    """
    visible = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
    return visible.lower().startswith(("http:", "https:"))


def _loopback_only(value: Any, sources: list[str], where: str) -> Any:
    """`value` with every string that might be fetched replaced by a loopback source URL.

    A PUT .../media makes the service download the URLs in its body, and a generated host
    name would send a DNS query, then a request, off this machine. Strings that are not
    http(s) URLs get a 422 before anything is fetched, so they stay as generated, as do
    numbers, nulls and wrong shapes: they exercise validation. The whole body is walked, not
    only the media fields, so that no other field (or a future one) can carry a URL out.
    `where` (the case and the place in the body) picks the source, so that the few URLs the
    generator repeats still lead to every source.
    """
    if isinstance(value, str):
        if _looks_fetchable(value):
            return sources[_digest(f"{where}={value}") % len(sources)]
        return _rewritten_json_text(value, sources, where)
    if isinstance(value, bytes):
        return _rewritten_json_text(value, sources, where)
    if isinstance(value, dict):
        return {key: _loopback_only(item, sources, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_loopback_only(item, sources, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def _rewritten_json_text(text: str | bytes, sources: list[str], where: str) -> str | bytes:
    """A raw body the service would parse as JSON, with the URLs in it replaced too."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if not isinstance(document, dict | list):
        return text
    rewritten = _loopback_only(document, sources, where)
    if rewritten == document:
        return text
    encoded = json.dumps(rewritten)
    return encoded.encode() if isinstance(text, bytes) else encoded


def _assert_loopback_only(value: Any, sources: list[str]) -> None:
    """Fail before sending if anything fetchable is not one of the loopback sources."""
    if isinstance(value, str | bytes):
        assert not isinstance(value, str) or not _looks_fetchable(value) or value in sources, value
        try:
            document = json.loads(value)
        except (ValueError, RecursionError):
            return
        if isinstance(document, dict | list):
            _assert_loopback_only(document, sources)
    elif isinstance(value, dict):
        for item in value.values():
            _assert_loopback_only(item, sources)
    elif isinstance(value, list):
        for item in value:
            _assert_loopback_only(item, sources)


# Operations that take an image's bytes, or fetch the externalUrl of their query.
UPLOADS = frozenset(
    [
        *(f"POST /api/v3/{{storeId}}/products/{{productId}}/{e}" for e in ("image", "gallery")),
        "PUT /api/v3/{storeId}/products/{productId}/gallery/video/{galleryVideoId}",
    ]
)
# Operations that fetch the video named by the `url` of their body.
VIDEO_UPLOADS = frozenset(
    f"POST /api/v3/{{storeId}}/products/{{productId}}/{endpoint}"
    for endpoint in ("video", "gallery/video")
)


def _steer_upload(case: Case[Any], target: Target) -> None:
    """An upload fetches its externalUrl: loopback sources only, one that works for a valid
    case (the schema cannot say which URLs serve an image) and one refused before any fetch
    for a case whose query is meant to be refused; a valid case without one gets an image's
    bytes, which the schema cannot describe either."""
    query = case.query if isinstance(case.query, dict) else {}
    if _meant_refused(case, ParameterLocation.QUERY):
        # Whatever was generated (a null goes as no parameter at all, which is valid with
        # an image's bytes), the URL must be one the service refuses.
        query["externalUrl"] = _loopback_only(
            query.get("externalUrl") or "http:", target.refused_urls, "externalUrl"
        )
        case.query = query
    elif query.get("externalUrl") is not None:
        sources = target.source_urls[:3]
        if not _is_positive(case):
            sources = target.source_urls + target.refused_urls
        query["externalUrl"] = _loopback_only(query["externalUrl"], sources, "externalUrl")
        _assert_loopback_only(query["externalUrl"], sources)
    elif _is_positive(case):
        case.body = jpeg(40 + _pick(case, "size", 8), 30)


def _meant_refused(case: Case[Any], location: ParameterLocation) -> bool:
    """Whether schemathesis expects the case refused for its parameters at `location`: they
    are negative, or a coverage case mutates one (those may say positive all the same)."""
    meta = case.meta
    if meta is None:
        return False
    mutated = getattr(meta.phase.data, "parameter_location", None) == location
    return mutated or meta.is_negative_at(location)


def _auth_headers(case: Case[Any], target: Target) -> dict[str, str] | None:
    """Our token for most cases; none, or one nobody issued, for a few."""
    choice = _pick(case, "auth", 16)
    if choice == 0:
        return None
    if choice == 1:
        return {"Authorization": "Bearer secret_not-a-token-anyone-issued"}
    return {"Authorization": f"Bearer {target.token}"}


@pytest.fixture(scope="module")
def answers(
    request: pytest.FixtureRequest, fuzz_sources: SourceServer
) -> Iterator[Counter[tuple[str, int]]]:
    """The status codes each operation answered, checked once the fuzzing is over.

    A run that never gets past authentication or the 404s would check conformance on very
    little and still pass; this makes such a run fail instead.
    """
    seen: Counter[tuple[str, int]] = Counter()
    yield seen
    if request.session.testsfailed:
        return
    for label in OPERATIONS:
        assert any(op == label and 200 <= status < 300 for op, status in seen), (label, seen)
    assert {400, 403, 404, 415, 422} <= {status for _, status in seen}, seen
    # (416 needs a case meant to be refused; test_media_http checks it directly.)
    assert {206, 304} <= {status for op, status in seen if op == "GET /media/{key}"}, seen
    # Fuzzed media updates downloaded images, and met sources that fail; the pinned product
    # took the first two images.
    images = sum(map(fuzz_sources.hits, ("/image.png", "/image.jpg", "/moved.jpg"))) - 2
    failing = sum(map(fuzz_sources.hits, ("/page.html", "/missing.jpg")))
    assert images > 0 and failing > 0, (images, failing)


@schema.parametrize()
def test_every_response_is_documented(
    case: Case[Any],
    target: Target,
    session: requests.Session,
    answers: Counter[tuple[str, int]],
) -> None:
    _steer(case, target)
    # Chosen before the body holds source URLs, whose port changes from run to run.
    headers = _auth_headers(case, target)
    if case.operation.label in UPLOADS:
        _steer_upload(case, target)
    if not isinstance(case.body, NotSet):
        where = str(_pick(case, "body", 2**32))
        sources = target.source_urls
        if not _is_positive(case):
            sources = sources + target.refused_urls
        case.body = _loopback_only(case.body, sources, where)
        _assert_loopback_only(case.body, sources)
        if case.operation.label in VIDEO_UPLOADS and _is_positive(case):
            # The schema cannot say which URLs serve a video: a valid case names one that does.
            case.body = {"url": target.video_url}
    response = case.call_and_validate(session=session, headers=headers, checks=CHECKS)
    answers[case.operation.label, response.status_code] += 1
