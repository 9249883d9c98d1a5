"""Products as Ecwid clients read and write them (DESIGN section 8), over HTTP on both
backends: the fields, PUT (GET -> edit -> PUT included), media.images edits, search filters
and orders, public tokens, unique SKUs, ids that are never handed out again."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.inprocess import InProcessService
from tests.media_factory import jpeg

OCTETS = {"Content-Type": "application/octet-stream"}
CREATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000")


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] == code
    message: str = response.json()["errorMessage"]
    return message


def _create(api: httpx.Client, store_path: str, **fields: Any) -> str:
    response = api.post(f"{store_path}/products", json={"name": "Mug", **fields})
    assert response.status_code == 200, response.text
    return f"{store_path}/products/{response.json()['id']}"


def _get(api: httpx.Client, path: str) -> dict[str, Any]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _put(api: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = api.put(path, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"updateCount": 1}


def _with_images(api: httpx.Client, path: str, count: int) -> list[int]:
    """A main image and `count - 1` gallery images, each of its own; the gallery ids."""
    assert api.post(f"{path}/image", content=jpeg(40, 30), headers=OCTETS).status_code == 200
    return [
        api.post(f"{path}/gallery", content=jpeg(41 + n, 30), headers=OCTETS).json()["id"]
        for n in range(count - 1)
    ]


def _originals(body: dict[str, Any]) -> list[str]:
    return [image["imageOriginalUrl"] for image in body["media"]["images"]]


# -- the fields -------------------------------------------------------------------------------


def test_a_new_product_as_ecwid_shows_it(api: httpx.Client, store_path: str) -> None:
    body = _get(api, _create(api, store_path, sku="M-1", price=3))
    assert body["enabled"] is True and body["unlimited"] is True and body["inStock"] is True
    assert "quantity" not in body and "description" not in body and "borderInfo" not in body
    assert body["categoryIds"] == []
    for text, stamp in (("created", "createTimestamp"), ("updated", "updateTimestamp")):
        assert CREATED.fullmatch(body[text]), body[text]
        parsed = datetime.strptime(body[text], "%Y-%m-%d %H:%M:%S %z")
        assert int(parsed.timestamp()) == body[stamp]
        assert parsed.tzinfo == UTC
    assert body["updateTimestamp"] >= body["createTimestamp"]


def test_create_with_every_field(api: httpx.Client, store_path: str) -> None:
    body = _get(
        api,
        _create(
            api, store_path, sku="D-1", price=9.5, enabled=False, description="<b>x</b>", quantity=4
        ),
    )
    fields = ("sku", "price", "enabled", "description", "quantity", "unlimited", "inStock")
    assert {f: body[f] for f in fields} == {
        "sku": "D-1",
        "price": 9.5,
        "enabled": False,
        "description": "<b>x</b>",
        "quantity": 4,
        "unlimited": False,
        "inStock": True,
    }
    sold_out = _get(api, _create(api, store_path, quantity=0))
    assert (sold_out["quantity"], sold_out["unlimited"], sold_out["inStock"]) == (0, False, False)
    # A new product has no media, whatever the body says.
    with_media = _create(api, store_path, media={"images": [{"id": "0", "isMain": True}]})
    assert _get(api, with_media)["media"] == {"images": [], "videos": []}


def test_put_changes_the_fields_given_and_keeps_the_others(
    api: httpx.Client, store_path: str
) -> None:
    path = _create(api, store_path, sku="P-1", price=2, description="old")
    before = _get(api, path)
    _put(api, path, {"name": "Cup", "price": 4.25, "enabled": False, "quantity": 3})
    after = _get(api, path)
    assert (after["name"], after["price"], after["enabled"]) == ("Cup", 4.25, False)
    assert (after["quantity"], after["unlimited"]) == (3, False)
    assert (after["sku"], after["description"]) == ("P-1", "old")
    assert after["updateTimestamp"] >= before["updateTimestamp"]
    assert after["created"] == before["created"]

    _put(api, path, {"unlimited": True, "description": None, "sku": None})
    after = _get(api, path)
    assert after["unlimited"] is True and "quantity" not in after
    assert "description" not in after and after["sku"] is None
    _put(api, path, {"unlimited": False})
    assert _get(api, path)["quantity"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": 5},
        {"price": "1"},
        {"price": -1},
        {"enabled": "yes"},
        {"quantity": -1},
        {"quantity": 1.5},
        {"media": {"images": [{"orderBy": 1}]}},
        {"media": {"images": [{"id": "1", "orderBy": "first"}]}},
        [],
    ],
)
def test_put_refuses_bad_fields(api: httpx.Client, store_path: str, body: object) -> None:
    path = _create(api, store_path)
    before = _get(api, path)
    _error(api.put(path, json=body), 400, "WRONG_PARAMETER")
    assert _get(api, path) == before


def test_put_of_an_unknown_product_or_without_the_scope(
    service: InProcessService, api: httpx.Client, store: tuple[int, str], store_path: str
) -> None:
    _error(
        api.put(f"{store_path}/products/987654321", json={"name": "x"}), 404, "PRODUCT_NOT_FOUND"
    )
    path = _create(api, store_path)
    token = service.new_token(store[0], scopes="read_catalog,create_catalog")
    with service.client(token) as client:
        _error(client.put(path, json={"name": "x"}), 403, "INSUFFICIENT_APP_SCOPE")
    public = service.new_token(store[0], public=True)
    with service.client(public) as client:
        _error(client.put(path, json={"name": "x"}), 403, "INSUFFICIENT_APP_SCOPE")
        _error(
            client.post(f"{store_path}/products", json={"name": "x"}), 403, "INSUFFICIENT_APP_SCOPE"
        )


# -- GET -> edit -> PUT, and media.images -----------------------------------------------------


def test_get_then_put_changes_nothing(api: httpx.Client, store_path: str) -> None:
    path = _create(api, store_path, sku="R-1", description="d", quantity=2)
    _with_images(api, path, 3)
    _put(api, path, {"media": {"images": [{"id": "2", "alt": {"main": "Side", "translated": {}}}]}})
    before = _get(api, path)
    _put(api, path, before)
    assert _get(api, path) == before, "not even the update time moves"


def test_get_edit_put(api: httpx.Client, store_path: str) -> None:
    path = _create(api, store_path, sku="E-1")
    _with_images(api, path, 2)
    body = _get(api, path)
    edited = copy.deepcopy(body)
    edited["name"] = "Renamed"
    edited["media"]["images"][1]["alt"] = {"main": "Back", "translated": {"de": "Hinten"}}
    _put(api, path, edited)
    after = _get(api, path)
    assert after["name"] == "Renamed"
    assert after["media"]["images"][1]["alt"] == {"main": "Back", "translated": {"de": "Hinten"}}
    assert after["galleryImages"][0]["alt"] == after["media"]["images"][1]["alt"]
    assert after["media"]["images"][0]["alt"] == {"translated": {}}
    assert _originals(after) == _originals(body)
    assert after["galleryImages"][0]["id"] == body["galleryImages"][0]["id"]


def test_order_main_and_alt_through_put(api: httpx.Client, store_path: str) -> None:
    path = _create(api, store_path)
    ids = _with_images(api, path, 4)
    body = _get(api, path)
    main, first, second, third = _originals(body)

    # orderBy sorts the listed gallery images; the others follow in their order.
    _put(api, path, {"media": {"images": [{"id": "3", "orderBy": 1}, {"id": "1", "orderBy": 2}]}})
    after = _get(api, path)
    assert _originals(after) == [main, third, first, second]
    assert [item["id"] for item in after["galleryImages"]] == [ids[2], ids[0], ids[1]]
    assert [image["id"] for image in after["media"]["images"]] == ["0", "1", "2", "3"]
    assert [image["orderBy"] for image in after["media"]["images"]] == [0, 1, 2, 3]

    # isMain: the gallery image "2" (first) becomes the main image, the old one takes its place.
    _put(api, path, {"media": {"images": [{"id": "2", "isMain": True, "alt": {"main": "A"}}]}})
    after = _get(api, path)
    assert _originals(after) == [first, third, main, second]
    assert after["originalImageUrl"] == first
    assert after["media"]["images"][0]["alt"] == {"main": "A", "translated": {}}
    assert [item["id"] for item in after["galleryImages"]] == [
        ids[2],
        after["galleryImages"][1]["id"],
        ids[1],
    ]
    assert ids[0] not in [item["id"] for item in after["galleryImages"]]


def test_an_unknown_image_id_changes_nothing(api: httpx.Client, store_path: str) -> None:
    path = _create(api, store_path)
    _with_images(api, path, 2)
    before = _get(api, path)
    response = api.put(path, json={"name": "New", "media": {"images": [{"id": "5", "orderBy": 1}]}})
    message = _error(response, 404, "IMAGE_NOT_FOUND")
    assert message == "media.images[0].id: the product has no image '5'"
    assert _get(api, path) == before, "neither the name nor the images"


# -- unique SKUs ------------------------------------------------------------------------------


def test_a_sku_is_unique_in_its_store(
    service: InProcessService, api: httpx.Client, store_path: str
) -> None:
    first = _create(api, store_path, sku="U-1")
    second = _create(api, store_path, sku="U-2")
    _error(
        api.post(f"{store_path}/products", json={"name": "x", "sku": "U-1"}),
        409,
        "SKU_ALREADY_EXISTS",
    )
    _error(api.put(second, json={"sku": "U-1", "name": "y"}), 409, "SKU_ALREADY_EXISTS")
    assert _get(api, second)["name"] == "Mug", "nothing changed"
    _put(api, first, {"sku": "U-1", "price": 1})  # its own SKU
    _put(api, second, {"sku": None})
    _create(api, store_path)  # products without a SKU do not clash
    _create(api, store_path)
    other_store, token = service.new_store()
    with service.client(token) as other:
        _create(other, f"/api/v3/{other_store}", sku="U-1")


# -- search -----------------------------------------------------------------------------------


def _names(api: httpx.Client, store_path: str, **params: Any) -> list[str]:
    response = api.get(f"{store_path}/products", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == page["count"] == len(page["items"])
    return [item["name"] for item in page["items"]]


def test_search_filters_and_orders(api: httpx.Client, store_path: str) -> None:
    names = ["banana", "Apple", "cherry", "date"]
    skus = ["S-3", None, "S-1", "S-2"]
    paths = [
        _create(api, store_path, name=name, **({"sku": sku} if sku else {}))
        for name, sku in zip(names, skus, strict=True)
    ]
    ids = [int(path.rsplit("/", 1)[1]) for path in paths]
    _put(api, paths[2], {"enabled": False})
    _put(api, paths[0], {"price": 2})  # the most recently updated

    assert _names(api, store_path, productId=f"{ids[3]},{ids[0]}") == ["banana", "date"]
    # Naming the products makes the other filters moot, as on Ecwid.
    assert _names(api, store_path, productId=str(ids[2]), keyword="zzz") == ["cherry"]
    assert _names(api, store_path, enabled="false") == ["cherry"]
    assert _names(api, store_path, enabled="true") == ["banana", "Apple", "date"]
    assert _names(api, store_path, enabled="true", keyword="an") == ["banana"]
    orders = {
        "ADDED_TIME_ASC": names,
        "ADDED_TIME_DESC": names[::-1],
        "NAME_ASC": ["Apple", "banana", "cherry", "date"],
        "NAME_DESC": ["date", "cherry", "banana", "Apple"],
        "SKU_ASC": ["cherry", "date", "banana", "Apple"],
        "SKU_DESC": ["banana", "date", "cherry", "Apple"],
    }
    for sort_by, expected in orders.items():
        assert _names(api, store_path, sortBy=sort_by) == expected, sort_by
    assert _names(api, store_path, sortBy="UPDATED_TIME_DESC")[:2] == ["banana", "cherry"]
    page = api.get(
        f"{store_path}/products", params={"sortBy": "NAME_ASC", "offset": 1, "limit": 2}
    ).json()
    assert (page["total"], [item["name"] for item in page["items"]]) == (4, ["banana", "cherry"])


@pytest.mark.parametrize(
    "params",
    [
        {"sortBy": "PRICE_ASC"},
        {"sortBy": "name_asc"},
        {"productId": "1,x"},
        {"productId": ""},
        {"productId": "1,,2"},
        {"productId": "-1"},
        {"productId": "99999999999999999999"},
        {"productId": "01"},
        {"enabled": "maybe"},
    ],
)
def test_search_refuses_bad_parameters(
    api: httpx.Client, store_path: str, params: dict[str, str]
) -> None:
    _error(api.get(f"{store_path}/products", params=params), 400, "WRONG_PARAMETER")


def test_a_public_token_sees_enabled_products_only(
    service: InProcessService, api: httpx.Client, store: tuple[int, str], store_path: str
) -> None:
    shown = _create(api, store_path, name="shown")
    hidden = _create(api, store_path, name="hidden", enabled=False)
    hidden_id = hidden.rsplit("/", 1)[1]
    with service.client(service.new_token(store[0], public=True)) as public:
        assert _get(public, shown)["name"] == "shown"
        _error(public.get(hidden), 404, "PRODUCT_NOT_FOUND")
        assert _names(public, store_path) == ["shown"]
        assert _names(public, store_path, enabled="false") == []
        assert _names(public, store_path, productId=hidden_id) == []
    assert _names(api, store_path) == ["shown", "hidden"]
    _put(api, hidden, {"enabled": True})
    with service.client(service.new_token(store[0], public=True)) as public:
        assert _get(public, hidden)["name"] == "hidden"


def test_a_deleted_last_product_id_is_not_handed_out_again(
    api: httpx.Client, store_path: str
) -> None:
    last = _create(api, store_path)
    assert api.delete(last).json() == {"deleteCount": 1}
    again = _create(api, store_path)
    assert int(again.rsplit("/", 1)[1]) > int(last.rsplit("/", 1)[1])
