"""An unknown field in a media write body is refused, naming it (DESIGN section 1): a typo must
never read as a missing field, which in `PUT .../media` deletes the gallery. Product bodies keep
ignoring the Ecwid fields the service does not model."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests import media_factory
from tests.inprocess import InProcessService
from tests.source_server import SourceServer


@pytest.fixture
def with_gallery(api: httpx.Client, product: str, sources: SourceServer) -> dict[str, Any]:
    """The product, once it has a main image and a gallery of two."""
    base = f"/strict/{uuid.uuid4().hex}"
    urls = [sources.add(f"{base}/{n}.jpg", media_factory.jpeg(40 + n, 30)) for n in range(3)]
    body = {
        "mainMedia": {"imageUrl": urls[0]},
        "galleryMedia": [{"imageUrl": urls[1]}, {"imageUrl": urls[2]}],
    }
    response = api.put(f"{product}/media", json=body)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = api.get(product).json()
    assert len(shown["media"]["images"]) == 3
    return shown


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"galeryMedia": [{"imageUrl": "{url}"}]}, "galeryMedia"),
        # What a published Go client sends for this endpoint.
        ({"images": [{"url": "{url}"}], "videos": []}, "images"),
        ({"galleryMedia": [{"imageURL": "{url}"}]}, "galleryMedia[0].imageURL"),
        (
            {"galleryMedia": [{"imageUrl": "{url}"}, {"imageUrl": "{url}", "alt": "x"}]},
            "galleryMedia[1].alt",
        ),
        ({"mainMedia": {"imageUrl": "{url}", "isMain": True}}, "mainMedia.isMain"),
        ({"mainMedia": None, "galleryMedia": [], "unknownField": [1, 2]}, "unknownField"),
        # The unknown field is named even where another field is wrong too.
        ({"mainMedia": {"imageUrl": 5}, "galleryMedium": []}, "galleryMedium"),
    ],
    ids=["typo", "go-client", "item-case", "item-alt", "main-isMain", "extra", "extra-and-type"],
)
def test_unknown_field_in_media_update_is_refused_and_changes_nothing(
    api: httpx.Client,
    product: str,
    sources: SourceServer,
    with_gallery: dict[str, Any],
    body: dict[str, Any],
    named: str,
) -> None:
    path = f"/strict/{uuid.uuid4().hex}/never.jpg"
    url = sources.add(path, media_factory.jpeg(50, 50))
    body = _with_url(body, url)
    response = api.put(f"{product}/media", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["errorCode"] == "WRONG_PARAMETER"
    assert error["errorMessage"] == f"Unknown field {named}"
    assert api.get(product).json() == with_gallery
    assert sources.hits(path) == 0


def _with_url(value: Any, url: str) -> Any:
    if value == "{url}":
        return url
    if isinstance(value, dict):
        return {key: _with_url(item, url) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_url(item, url) for item in value]
    return value


def test_known_fields_still_work(
    api: httpx.Client, product: str, with_gallery: dict[str, Any]
) -> None:
    response = api.put(f"{product}/media", json={"mainMedia": None, "galleryMedia": None})
    assert response.status_code == 200, response.text
    assert len(api.get(product).json()["media"]["images"]) == 1


def test_product_bodies_ignore_unmodelled_ecwid_fields(api: httpx.Client, store_path: str) -> None:
    body = {"name": "Lamp", "weight": 2.5, "attributes": [{"name": "Colour"}], "seoTitle": "x"}
    response = api.post(f"{store_path}/products", json=body)
    assert response.status_code == 200, response.text


def test_openapi_says_which_bodies_refuse_unknown_fields(service: InProcessService) -> None:
    with service.client(None) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("MediaUpdateIn", "MediaItemIn", "GalleryItemIn"):
        assert schemas[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in schemas["ProductIn"]
