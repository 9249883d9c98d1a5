"""The emulator's seed, reset, faults and request log over HTTP (DESIGN section 9), as an app
developer's test suite relies on them: in-process over ASGI, each test on a service of its own
(a reset empties the whole catalog), sources on a real server on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from product_media.domain.access import CATALOG_SCOPES, token_hash
from tests.conftest import scaled_backend
from tests.databases import temporary_database
from tests.inprocess import EMBEDDED, Backend, InProcessService, running
from tests.media_factory import jpeg, png
from tests.service import Service, cli
from tests.source_server import SourceServer

ADMIN = "admin-secret-for-tests"
SEED_TOKEN = "secret_seeded-token-for-tests"
PUBLIC_TOKEN = "public_seeded-token-for-tests"
# Never resolved: a fault stands in for it before any lookup.
NO_SUCH_HOST = "img.invalid"


def _service(tmp_path: Path, backend: Backend = EMBEDDED, **settings: Any) -> InProcessService:
    return InProcessService(tmp_path / "data", backend, admin_token=ADMIN, **settings)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[InProcessService]:
    with running(_service(tmp_path)) as service:
        yield service


def _admin(service: InProcessService) -> httpx.Client:
    return service.client(ADMIN)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _injected(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"errorMessage": "injected fault", "errorCode": "INJECTED_FAULT"}


def _fault(service: InProcessService, body: dict[str, Any]) -> str:
    fault_id: str = _ok(_admin(service).post("/_emulator/faults", json=body))["id"]
    return fault_id


def _product(api: httpx.Client, store_id: int, name: str = "Mug") -> int:
    product_id: int = _ok(api.post(f"/api/v3/{store_id}/products", json={"name": name}))["id"]
    return product_id


def _image(sources: SourceServer, content: bytes | None = None) -> str:
    return sources.add(f"/emulator/{uuid.uuid4().hex}.jpg", content or jpeg(48, 32))


def _files(service: InProcessService) -> set[str]:
    return set(service.state.adapters.blobs.keys())


# -- the admin token ---------------------------------------------------------------------------

ROUTES = [
    ("POST", "/_emulator/reset"),
    ("POST", "/_emulator/faults"),
    ("GET", "/_emulator/faults"),
    ("DELETE", "/_emulator/faults"),
    ("GET", "/_emulator/requests"),
]


def test_without_an_admin_token_the_emulator_routes_do_not_exist(tmp_path: Path) -> None:
    with running(InProcessService(tmp_path / "data")) as service:
        store_id, token = service.new_store()
        for bearer in (None, token, ADMIN):
            for method, path in ROUTES:
                response = service.client(bearer).request(method, path, json={})
                assert response.status_code == 404, (method, path, response.text)
                assert response.json()["errorCode"] == "NOT_FOUND"
        assert service.client(token).get(f"/api/v3/{store_id}/products").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {ADMIN}", "Bearer", ADMIN])
def test_a_missing_or_wrong_admin_token_is_403(
    emulator: InProcessService, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    client = emulator.client(None)
    for method, path in ROUTES:
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert "PRODUCT_MEDIA_ADMIN_TOKEN" in response.json()["errorMessage"]
    assert _files(emulator) == set()


def test_a_stores_token_is_not_the_admin_token(emulator: InProcessService) -> None:
    _, token = emulator.new_store()
    assert emulator.client(token).get("/_emulator/faults").status_code == 403
    assert _ok(_admin(emulator).get("/_emulator/faults")) == {"items": []}


# -- faults on API calls ---------------------------------------------------------------------


def test_a_fault_on_one_path_leaves_the_others_alone(emulator: InProcessService) -> None:
    store_id, token = emulator.new_store()
    other_store, other_token = emulator.new_store()
    api = emulator.client(token)
    broken, fine = _product(api, store_id), _product(api, store_id)
    # Store 1's products must not match a fault on store 1x's: whole path segments count.
    _fault(emulator, {"match": {"path": f"/api/v3/{store_id}/products/{broken}"}, "status": 500})
    _fault(emulator, {"match": {"method": "PUT", "path": f"/api/v3/{other_store}"}, "status": 502})

    _injected(api.get(f"/api/v3/{store_id}/products/{broken}"), 500)
    _injected(api.put(f"/api/v3/{store_id}/products/{broken}/media", json={}), 500)
    assert _ok(api.get(f"/api/v3/{store_id}/products/{fine}"))["id"] == fine
    assert _ok(api.get(f"/api/v3/{store_id}/products"))["total"] == 2
    assert _ok(api.put(f"/api/v3/{store_id}/products/{fine}/media", json={})) == {
        "galleryMedia": []
    }

    other = emulator.client(other_token)
    product = _product(other, other_store)
    assert _ok(other.get(f"/api/v3/{other_store}/products/{product}"))["id"] == product
    _injected(other.put(f"/api/v3/{other_store}/products/{product}/media", json={}), 502)
    # Neither the emulator's routes nor the media files are API calls.
    assert _admin(emulator).get("/_emulator/faults").status_code == 200
    assert emulator.client(None).get("/healthz").status_code == 200


def test_an_injected_fault_comes_before_the_token_is_checked(emulator: InProcessService) -> None:
    _fault(emulator, {"match": {"path": "/api/v3"}, "status": 429})
    response = emulator.client("secret_unknown").get("/api/v3/1/products")
    _injected(response, 429)
    assert response.headers["Retry-After"] == "1"
    assert response.headers["X-Request-Id"]


def test_times_runs_out(emulator: InProcessService) -> None:
    store_id, token = emulator.new_store()
    api = emulator.client(token)
    fault = _fault(emulator, {"match": {"method": "GET"}, "status": 503, "times": 2})
    assert _ok(_admin(emulator).get("/_emulator/faults"))["items"] == [
        {
            "id": fault,
            "match": {"method": "GET"},
            "status": 503,
            "delayMs": 0,
            "probability": 1.0,
            "times": 2,
        }
    ]
    path = f"/api/v3/{store_id}/products"
    _injected(api.get(path), 503)
    _injected(api.get(path), 503)
    assert [api.get(path).status_code for _ in range(3)] == [200, 200, 200]
    assert _ok(_admin(emulator).get("/_emulator/faults")) == {"items": []}


@pytest.mark.parametrize(("probability", "expected"), [(0, 200), (1, 500), (1.0, 500)])
def test_probability_zero_never_fires_and_one_always(
    emulator: InProcessService, probability: float, expected: int
) -> None:
    store_id, token = emulator.new_store()
    api = emulator.client(token)
    _fault(emulator, {"match": {}, "status": 500, "probability": probability})
    statuses = {api.get(f"/api/v3/{store_id}/products").status_code for _ in range(30)}
    assert statuses == {expected}


def test_delete_removes_every_fault(emulator: InProcessService) -> None:
    store_id, token = emulator.new_store()
    _fault(emulator, {"match": {"method": "GET"}, "status": 500})
    _fault(emulator, {"match": {"sourceHost": NO_SUCH_HOST}, "status": 404})
    assert _ok(_admin(emulator).delete("/_emulator/faults")) == {"deleteCount": 2}
    assert _ok(_admin(emulator).get("/_emulator/faults")) == {"items": []}
    assert emulator.client(token).get(f"/api/v3/{store_id}/products").status_code == 200


def test_a_delay_without_a_status_answers_as_usual_after_it(emulator: InProcessService) -> None:
    store_id, token = emulator.new_store()
    api = emulator.client(token)
    _fault(emulator, {"match": {"path": f"/api/v3/{store_id}/profile"}, "delayMs": 250})
    _fault(emulator, {"match": {"method": "DELETE"}, "delayMs": 150, "status": 504})
    assert _ok(api.get(f"/api/v3/{store_id}/profile"))
    _injected(api.delete(f"/api/v3/{store_id}/products/1"), 504)
    api.get(f"/api/v3/{store_id}/products")
    items = _ok(_admin(emulator).get("/_emulator/requests"))["items"]
    listed, deleted, profile = items[:3]
    # The waits are lower bounds of what each call took; the undelayed call has none.
    assert profile["path"] == f"/api/v3/{store_id}/profile" and profile["durationMs"] >= 250
    assert deleted["status"] == 504 and deleted["durationMs"] >= 150
    assert listed["status"] == 200


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "match: Field required"),
        ({"match": {}, "status": 500, "colour": 1}, "Unknown field colour"),
        ({"match": {"paht": "/api/v3"}, "status": 500}, "Unknown field match.paht"),
        ({"match": {}, "status": 200}, "status: Input should be greater than or equal to 400"),
        ({"match": {}, "status": "500"}, "status: Input should be a valid integer"),
        ({"match": {}, "status": 500, "probability": 1.5}, "probability: Input should be less"),
        ({"match": {}, "status": 500, "times": 0}, "times: Input should be greater than or equal"),
        ({"match": {}, "delayMs": -1}, "delayMs: Input should be greater than or equal to 0"),
        ({"match": {}}, "a fault needs a status, a delayMs, or both"),
        ({"match": {"method": "FETCH"}, "status": 500}, "match.method: one of GET"),
        ({"match": {"path": "/media"}, "status": 500}, "faults apply to /api/v3 calls only"),
        ({"match": {"path": "api/v3"}, "status": 500}, "match.path: a path such as"),
        ({"match": {"path": "/api/v3?token=x"}, "status": 500}, "without a query string"),
        (
            {"match": {"sourceHost": "img.example", "method": "GET"}, "status": 404},
            "match.sourceHost matches source fetches only",
        ),
        ({"match": {"sourceHost": "http://img.example/a"}, "status": 404}, "a host name"),
        ({"match": {"sourceHost": "img.example:8080"}, "status": 404}, "a host name"),
    ],
)
def test_a_bad_fault_is_400_saying_why(
    emulator: InProcessService, body: dict[str, Any], problem: str
) -> None:
    response = _admin(emulator).post("/_emulator/faults", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "WRONG_PARAMETER"
    assert problem in response.json()["errorMessage"]
    assert _ok(_admin(emulator).get("/_emulator/faults")) == {"items": []}


# -- faults on source fetches ----------------------------------------------------------------


def test_a_source_host_fault_is_that_items_error(
    emulator: InProcessService, sources: SourceServer
) -> None:
    store_id, token = emulator.new_store()
    api = emulator.client(token)
    product = _product(api, store_id)
    _fault(emulator, {"match": {"sourceHost": NO_SUCH_HOST}, "status": 404})
    _fault(emulator, {"match": {"sourceHost": sources.host}, "status": 503, "times": 1})
    faulted = f"http://{NO_SUCH_HOST}/a.jpg"
    real = _image(sources)
    body = {"galleryMedia": [{"imageUrl": faulted}, {"imageUrl": real}]}
    put = f"/api/v3/{store_id}/products/{product}/media"

    first = _ok(api.put(put, json=body))["galleryMedia"]
    assert [item["success"] for item in first] == [False, False]
    assert first[0]["errorCode"] == "DOWNLOAD_IMAGE_FAILED"
    assert first[0]["errorMessage"] == f"{faulted}: HTTP 404 from source"
    assert first[1]["errorMessage"] == f"{real}: HTTP 503 from source"
    assert sources.hits(httpx.URL(real).path) == 0

    # The 503 was used up; the other host's fault still holds; API calls never matched.
    second = _ok(api.put(put, json=body))["galleryMedia"]
    assert [item["success"] for item in second] == [False, True]
    assert second[0]["errorMessage"] == f"{faulted}: HTTP 404 from source"


def test_a_source_delay_counts_against_the_download_time_limit(
    tmp_path: Path, sources: SourceServer
) -> None:
    with running(_service(tmp_path, image_download_timeout=0.2)) as service:
        store_id, token = service.new_store()
        api = service.client(token)
        product = _product(api, store_id)
        _fault(service, {"match": {"sourceHost": sources.host}, "delayMs": 5000})
        url = _image(sources)
        body = {"mainMedia": {"imageUrl": url}}
        main = _ok(api.put(f"/api/v3/{store_id}/products/{product}/media", json=body))["mainMedia"]
        assert main["success"] is False
        assert main["errorMessage"] == f"{url}: timed out after 0.2 s"


# -- the request log ---------------------------------------------------------------------------


def test_the_request_log_lists_api_calls_newest_first_without_tokens(
    tmp_path: Path,
) -> None:
    with running(_service(tmp_path, allow_query_token=True)) as service:
        store_id, token = service.new_store()
        api = service.client(token)
        product = _product(api, store_id)
        got = api.get(f"/api/v3/{store_id}/products/{product}", headers={"X-Request-Id": "mine-1"})
        missing = service.client(None).get(f"/api/v3/{store_id}/products?token={token}&limit=5")
        service.client(None).get("/healthz")
        service.client(None).get(f"/media/{'0' * 64}.jpg")
        _admin(service).get("/_emulator/faults")

        response = _admin(service).get("/_emulator/requests")
        items = _ok(response)["items"]
        assert token not in response.text and "?" not in response.text
        assert [(i["method"], i["path"], i["status"]) for i in items] == [
            ("GET", f"/api/v3/{store_id}/products", 200),
            ("GET", f"/api/v3/{store_id}/products/{product}", 200),
            ("POST", f"/api/v3/{store_id}/products", 200),
        ]
        assert items[0]["requestId"] == missing.headers["X-Request-Id"]
        assert items[1]["requestId"] == got.headers["X-Request-Id"] == "mine-1"
        assert all(set(i) == {"method", "path", "status", "durationMs", "requestId"} for i in items)
        assert all(isinstance(i["durationMs"], int | float) for i in items)


def test_the_request_log_keeps_the_last_thousand(emulator: InProcessService) -> None:
    store_id, token = emulator.new_store()
    api = emulator.client(token)
    for number in range(1005):
        api.get(f"/api/v3/{store_id}/products/{number + 1}")
    items = _ok(_admin(emulator).get("/_emulator/requests"))["items"]
    assert len(items) == 1000
    assert items[0]["path"] == f"/api/v3/{store_id}/products/1005"
    assert items[-1]["path"] == f"/api/v3/{store_id}/products/6"


# -- seed and reset ----------------------------------------------------------------------------


def _seed_file(tmp_path: Path, sources: SourceServer, **product: Any) -> Path:
    path = tmp_path / "seed.json"
    media = {
        "mainMedia": {"imageUrl": _image(sources, jpeg(64, 40))},
        "galleryMedia": [
            {"imageUrl": _image(sources, png(30, 20))},
            {"imageUrl": f"http://{NO_SUCH_HOST}/gone.jpg"},
        ],
    }
    seed = {
        "stores": [
            {
                "id": 7,
                "name": "Seeded store",
                "tokens": [
                    {"token": SEED_TOKEN, "scopes": list(CATALOG_SCOPES)},
                    {"token": PUBLIC_TOKEN, "public": True},
                ],
                "products": [
                    {"id": 100, "name": "Seeded mug", "sku": "MUG-1", "price": 10, "media": media},
                    {"id": 101, "name": "Seeded plate", **product},
                ],
            }
        ]
    }
    path.write_text(json.dumps(seed))
    return path


def _seeded(service: InProcessService) -> dict[str, Any]:
    product: dict[str, Any] = _ok(service.client(PUBLIC_TOKEN).get("/api/v3/7/products/100"))
    return product


@pytest.fixture(params=[EMBEDDED.name, "postgresql+s3"])
def own_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A backend of this test's own: a reset empties the whole catalog and bucket, which the
    session's shared PostgreSQL database and bucket hold for other tests too."""
    if request.param == EMBEDDED.name:
        yield EMBEDDED
        return
    request.getfixturevalue("aws_session_env")
    endpoint = request.getfixturevalue("s3_endpoint")
    with temporary_database() as url:
        yield scaled_backend(url, endpoint)


def test_the_seed_is_there_at_start_and_a_restart_changes_nothing(
    tmp_path: Path, sources: SourceServer, own_backend: Backend
) -> None:
    seed = _seed_file(tmp_path, sources)
    service = _service(tmp_path, own_backend, seed=seed)
    with running(service):
        product = _seeded(service)
        assert (product["name"], product["sku"], product["price"]) == ("Seeded mug", "MUG-1", 10)
        assert len(product["media"]["images"]) == 2  # the failed gallery item is left out
        files = _files(service)
        listed = _ok(service.client(SEED_TOKEN).get("/api/v3/7/products"))
        assert [item["id"] for item in listed["items"]] == [100, 101]
        # Changed after the seed: a restart must not put the seed's state back.
        _ok(service.client(SEED_TOKEN).put("/api/v3/7/products/101", json={"name": "Renamed"}))
    with running(service):
        assert _seeded(service) == product
        assert _files(service) == files
        again = _ok(service.client(SEED_TOKEN).get("/api/v3/7/products"))
        assert [item["name"] for item in again["items"]] == ["Seeded mug", "Renamed"]
        assert _ok(service.client(SEED_TOKEN).get("/api/v3/7/profile"))


def test_a_reset_leaves_no_file_behind_and_ids_go_on(
    tmp_path: Path, sources: SourceServer, own_backend: Backend
) -> None:
    seed = _seed_file(tmp_path, sources)
    with running(_service(tmp_path, own_backend, seed=seed)) as service:
        seeded_files = _files(service)
        before = _seeded(service)
        api = service.client(SEED_TOKEN)
        extra_store, extra_token = service.new_store()
        extra = service.client(extra_token)
        made = _product(extra, extra_store)
        gallery = [{"imageUrl": _image(sources, jpeg(50 + n, 30))} for n in range(3)]
        put = _ok(
            extra.put(
                f"/api/v3/{extra_store}/products/{made}/media", json={"galleryMedia": gallery}
            )
        )
        assert all(item["success"] for item in put["galleryMedia"])
        _ok(api.put("/api/v3/7/products/101/media", json={"galleryMedia": gallery[:1]}))
        used_ids = [image["id"] for image in before["galleryImages"]] + [
            int(item["id"]) for item in put["galleryMedia"]
        ]
        assert len(_files(service)) > len(seeded_files)

        assert _ok(_admin(service).post("/_emulator/reset")) == {"status": "ok"}

        # The seed is back, its media fetched again; nothing else is left.
        after = _seeded(service)
        assert after["name"] == "Seeded mug" and len(after["media"]["images"]) == 2
        assert _files(service) == seeded_files
        if own_backend is EMBEDDED:
            on_disk = {p.name for p in service.settings.blob_dir.rglob("*") if p.is_file()}
            assert on_disk == seeded_files
        plate = _ok(api.get("/api/v3/7/products/101"))
        assert plate["galleryImages"] == [] and plate["name"] == "Seeded plate"
        assert _ok(api.get("/api/v3/7/products"))["total"] == 2
        gone = service.client(extra_token).get(f"/api/v3/{extra_store}/products")
        assert gone.status_code in (403, 404)
        # Ids handed out now go past every one used before the reset.
        assert min(image["id"] for image in after["galleryImages"]) > max(used_ids)
        store_id, token = service.new_store()
        assert store_id > extra_store
        assert _product(service.client(token), store_id) > made


def test_a_product_made_again_by_a_reset_is_never_read_from_an_old_rendering(
    tmp_path: Path, sources: SourceServer
) -> None:
    """The reset makes product 101 again with its old id; the rendering this process kept of
    the first one must not answer for the second after as many writes."""
    with running(_service(tmp_path, seed=_seed_file(tmp_path, sources))) as service:
        api = service.client(SEED_TOKEN)
        _ok(api.put("/api/v3/7/products/101", json={"name": "Before the reset"}))
        assert _ok(api.get("/api/v3/7/products/101"))["name"] == "Before the reset"
        _ok(_admin(service).post("/_emulator/reset"))
        _ok(api.put("/api/v3/7/products/101", json={"name": "After the reset"}))
        assert _ok(api.get("/api/v3/7/products/101"))["name"] == "After the reset"


def test_a_seeded_token_calls_afresh_after_a_reset(tmp_path: Path, sources: SourceServer) -> None:
    """The seed gives the token back with its old value; its request counts stay behind."""
    seed = _seed_file(tmp_path, sources)
    with running(_service(tmp_path, seed=seed, rate_limit_per_minute=3)) as service:
        api = service.client(SEED_TOKEN)
        for _ in range(3):
            _ok(api.get("/api/v3/7/products"))
        assert api.get("/api/v3/7/products").status_code == 429
        _ok(_admin(service).post("/_emulator/reset"))
        _ok(api.get("/api/v3/7/products"))


def test_a_reset_without_a_seed_empties_everything(
    emulator: InProcessService, sources: SourceServer
) -> None:
    store_id, token = emulator.new_store()
    api = emulator.client(token)
    product = _product(api, store_id)
    body = {"mainMedia": {"imageUrl": _image(sources)}}
    _ok(api.put(f"/api/v3/{store_id}/products/{product}/media", json=body))
    assert _files(emulator)
    _fault(emulator, {"match": {"method": "POST"}, "status": 500, "probability": 0})
    assert _ok(_admin(emulator).post("/_emulator/reset")) == {"status": "ok"}
    assert _files(emulator) == set()
    assert not [p for p in emulator.settings.blob_dir.rglob("*") if p.is_file()]
    assert api.get(f"/api/v3/{store_id}/products").status_code == 403
    # Faults are not catalog: a reset leaves them for DELETE /_emulator/faults.
    assert len(_ok(_admin(emulator).get("/_emulator/faults"))["items"]) == 1


# -- serve --seed, --admin-token ------------------------------------------------------------


@pytest.mark.slow
def test_serve_seeds_and_resets_with_its_options(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"stores": [{"id": 7, "tokens": [{"token": SEED_TOKEN}]}]}))
    data = tmp_path / "data"
    service = Service(data, "--seed", str(seed), "--admin-token", ADMIN).start()
    try:
        api = service.client(SEED_TOKEN)
        product = _product(api, 7)
        assert _ok(service.client(ADMIN).post("/_emulator/reset")) == {"status": "ok"}
        assert api.get(f"/api/v3/7/products/{product}").status_code == 404
        assert _product(api, 7) > product
    finally:
        service.stop()


@pytest.mark.slow
def test_serve_with_a_bad_seed_file_says_so_in_one_line(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text('{"stores": [{"id": 7, "tokens": [{"token": "nope"}]}]}')
    result = cli(tmp_path / "data", "serve", "--seed", str(seed), check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1:] == [
        f"Error: seed file {seed}: stores[0].tokens[0].token: a secret token is secret_ then "
        "letters and digits"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_serve_with_a_seed_the_catalog_contradicts_says_so_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store_id = int(cli(data, "stores", "create", "--id", "8").stdout)
    with running(InProcessService(data)) as service:
        service.state.adapters.catalog.add_token(  # type: ignore[attr-defined]
            store_id, token_hash(SEED_TOKEN), "secret", frozenset(CATALOG_SCOPES)
        )
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"stores": [{"id": 7, "tokens": [{"token": SEED_TOKEN}]}]}))
    result = cli(data, "serve", "--seed", str(seed), check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1:] == [
        f"Error: seed file {seed}: token 1 of store 7 is a token of store 8"
    ]
    assert "Traceback" not in result.stderr and SEED_TOKEN not in result.stderr
    # Nothing of the seed was written.
    with running(InProcessService(data)) as service:
        assert not service.state.adapters.catalog.store_exists(7)
