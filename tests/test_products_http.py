"""Products: create, get, list with paging and filters, delete (DESIGN section 5)."""

from __future__ import annotations

import httpx
import pytest

from tests.inprocess import InProcessService


def test_create_and_get(api: httpx.Client, store_path: str) -> None:
    created = api.post(f"{store_path}/products", json={"name": "Mug", "sku": "M-1", "price": 12.5})
    assert created.status_code == 200
    pid = created.json()["id"]
    assert isinstance(pid, int) and pid > 0
    product = api.get(f"{store_path}/products/{pid}").json()
    assert product["id"] == pid
    assert product["name"] == "Mug" and product["sku"] == "M-1" and product["price"] == 12.5
    assert product["media"] == {"images": [], "videos": []}
    assert product["galleryImages"] == []
    for legacy in ("imageUrl", "thumbnailUrl", "originalImage", "smallThumbnailUrl"):
        assert legacy not in product


def test_unknown_fields_are_ignored(api: httpx.Client, store_path: str) -> None:
    response = api.post(f"{store_path}/products", json={"name": "X", "enabled": True, "foo": [1]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": 5}, {"name": "x", "price": "1"}, {"name": "x", "price": -1}, []],
)
def test_create_rejects_bad_bodies(api: httpx.Client, store_path: str, body: object) -> None:
    response = api.post(f"{store_path}/products", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "WRONG_PARAMETER"


def test_malformed_json(api: httpx.Client, store_path: str) -> None:
    response = api.post(
        f"{store_path}/products",
        content=b'{"name": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errorCode"] == "WRONG_PARAMETER"


def test_list_paging_and_filters(api: httpx.Client, store_path: str) -> None:
    names = ["Red shirt", "Blue shirt", "Green mug", "100% cotton", "under_score"]
    ids = [
        api.post(f"{store_path}/products", json={"name": n, "sku": f"SKU-{i}"}).json()["id"]
        for i, n in enumerate(names)
    ]
    page = api.get(f"{store_path}/products", params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 5 and page["count"] == 2
    assert page["offset"] == 1 and page["limit"] == 2
    assert [item["id"] for item in page["items"]] == ids[1:3]
    everything = api.get(f"{store_path}/products").json()
    assert everything["limit"] == 100 and everything["count"] == 5
    assert "media" in everything["items"][0]
    capped = api.get(f"{store_path}/products", params={"limit": 1000}).json()
    assert capped["limit"] == 100
    by_sku = api.get(f"{store_path}/products", params={"sku": "SKU-2"}).json()
    assert [item["name"] for item in by_sku["items"]] == ["Green mug"]
    assert api.get(f"{store_path}/products", params={"sku": "SKU"}).json()["total"] == 0
    shirts = api.get(f"{store_path}/products", params={"keyword": "SHIRT"}).json()
    assert shirts["total"] == 2
    by_sku_part = api.get(f"{store_path}/products", params={"keyword": "sku-4"}).json()
    assert [item["name"] for item in by_sku_part["items"]] == ["under_score"]
    percent = api.get(f"{store_path}/products", params={"keyword": "0%"}).json()
    assert [item["name"] for item in percent["items"]] == ["100% cotton"]
    underscore = api.get(f"{store_path}/products", params={"keyword": "r_s"}).json()
    assert [item["name"] for item in underscore["items"]] == ["under_score"]
    past_end = api.get(f"{store_path}/products", params={"offset": 50}).json()
    assert past_end["total"] == 5 and past_end["count"] == 0 and past_end["items"] == []


@pytest.mark.parametrize("params", [{"offset": -1}, {"limit": -5}, {"offset": "x"}])
def test_list_rejects_bad_paging(api: httpx.Client, store_path: str, params: dict) -> None:
    response = api.get(f"{store_path}/products", params=params)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "WRONG_PARAMETER"


def test_products_are_per_store(service, api: httpx.Client, store_path: str) -> None:
    pid = api.post(f"{store_path}/products", json={"name": "Mine"}).json()["id"]
    other_store, other_token = service.new_store()
    with service.client(other_token) as other:
        response = other.get(f"/api/v3/{other_store}/products/{pid}")
        assert response.status_code == 404
        assert response.json()["errorCode"] == "PRODUCT_NOT_FOUND"
        assert other.get(f"/api/v3/{other_store}/products").json()["total"] == 0


def test_delete(api: httpx.Client, store_path: str) -> None:
    pid = api.post(f"{store_path}/products", json={"name": "Gone"}).json()["id"]
    assert api.delete(f"{store_path}/products/{pid}").json() == {"deleteCount": 1}
    missing = api.get(f"{store_path}/products/{pid}")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "PRODUCT_NOT_FOUND"
    again = api.delete(f"{store_path}/products/{pid}")
    assert again.status_code == 404 and again.json()["errorCode"] == "PRODUCT_NOT_FOUND"


def test_unknown_route_and_method(api: httpx.Client, store_path: str) -> None:
    missing = api.get("/api/v3/nothing/here/at/all")
    assert missing.status_code == 404 and missing.json()["errorMessage"]
    wrong_method = api.patch(f"{store_path}/products")
    assert wrong_method.status_code == 405 and wrong_method.json()["errorMessage"]


def test_openapi_documents_the_real_error_codes(service) -> None:
    schema = service.client(None).get("/openapi.json").json()
    assert "HTTPValidationError" not in str(schema)
    for path, operations in schema["paths"].items():
        if path.startswith("/api/"):
            for operation in operations.values():
                assert {"400", "403"} <= set(operation["responses"]), (path, operation)
    media = schema["paths"]["/api/v3/{storeId}/products/{productId}/media"]["put"]
    assert "422" in media["responses"]
    assert "ErrorOut" in str(media["responses"]["422"])


def test_openapi_describes_the_real_shapes(service: InProcessService) -> None:
    schema = service.client(None).get("/openapi.json").json()
    components = schema["components"]
    bearer = components["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    operation_ids = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            operation_ids.append(operation["operationId"])
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith("4"):
                    assert "ErrorOut" in str(response["content"]), (path, method, status)
            if not path.startswith("/api/"):
                continue
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
            assert "Retry-After" in responses["429"]["headers"], (path, method)
            # Only bodies can be too large or of the wrong type.
            has_body = method in ("post", "put")
            assert ("413" in responses) == has_body and ("415" in responses) == has_body
    assert len(operation_ids) == len(set(operation_ids))
    product = components["schemas"]["ProductOut"]
    assert product["additionalProperties"] is False
    assert product["properties"]["media"] == {"$ref": "#/components/schemas/MediaOut"}
    for name in ("imageUrl", "originalImage", "galleryImages"):
        assert name in product["properties"]
    price = components["schemas"]["ProductIn"]["properties"]["price"]
    assert (price["type"], price["minimum"]) == ("number", 0)
    blob = schema["paths"]["/media/{key}"]["get"]["responses"]
    assert "image/jpeg" in blob["200"]["content"]
    assert "application/json" not in blob["200"]["content"]
    assert {"206", "304", "404", "416"} <= set(blob)
