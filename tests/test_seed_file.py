"""Reading a seed file: what a good one gives, and the one line each bad one is told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from product_media.domain.access import CATALOG_SCOPES, PUBLIC_SCOPES
from product_media.seed_file import SeedFileError, load_seed


def _write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "seed.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _store(**fields: Any) -> dict[str, Any]:
    return {"id": 7, "name": "Seeded", **fields}


def test_a_good_seed_reads_as_asked(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "stores": [
                _store(
                    tokens=[
                        {"token": "secret_abc", "scopes": ["read_catalog"]},
                        {"token": "secret_all"},
                        {"token": "public_xyz", "public": True},
                    ],
                    products=[
                        {
                            "id": 100,
                            "name": "Mug",
                            "sku": "MUG-1",
                            "price": 10,
                            "media": {
                                "mainMedia": {"imageUrl": "https://img.example/a.jpg"},
                                "galleryMedia": [{"videoUrl": "https://img.example/v.webm"}],
                            },
                        },
                        {"id": 101, "name": "Plate"},
                    ],
                )
            ]
        },
    )
    seed = load_seed(path, max_gallery_items=100)
    (store,) = seed.stores
    assert (store.id, store.name) == (7, "Seeded")
    assert [(t.token, t.kind, t.scopes) for t in store.tokens] == [
        ("secret_abc", "secret", frozenset({"read_catalog"})),
        ("secret_all", "secret", frozenset(CATALOG_SCOPES)),
        ("public_xyz", "public", frozenset(PUBLIC_SCOPES)),
    ]
    mug, plate = store.products
    assert (mug.id, mug.name, mug.sku, mug.price) == (100, "Mug", "MUG-1", 10.0)
    assert mug.media is not None and mug.media.main is not None
    assert mug.media.main.image_url == "https://img.example/a.jpg"
    assert [item.video_url for item in mug.media.gallery] == ["https://img.example/v.webm"]
    assert (plate.sku, plate.price, plate.media) == (None, 0.0, None)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes at line 1"),
        ([], "the top level: Input should be a valid dictionary"),
        ({}, "stores: Field required"),
        ({"stores": [{"name": "x"}]}, "stores[0].id: Field required"),
        ({"stores": [{"id": "7"}]}, "stores[0].id: Input should be a valid integer"),
        ({"stores": [{"id": 0}]}, "stores[0].id: Input should be greater than 0"),
        ({"stores": [_store(), _store()]}, "stores[1].id: store 7 is given twice"),
        ({"stores": [_store(producs=[])]}, "stores[0].producs: Extra inputs are not permitted"),
        (
            {"stores": [_store(products=[{"id": 1}])]},
            "stores[0].products[0].name: Field required",
        ),
        (
            {"stores": [_store(products=[{"id": 1, "name": "a", "price": "1"}])]},
            "stores[0].products[0].price: Input should be a valid number",
        ),
        (
            {"stores": [_store(products=[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}])]},
            "stores[0].products[1].id: product 1 is given twice",
        ),
        (
            {
                "stores": [
                    _store(products=[{"id": 1, "name": "a", "sku": "S"}]),
                    {"id": 8, "products": [{"id": 1, "name": "b"}]},
                ]
            },
            "stores[1].products[0].id: product 1 is given twice",
        ),
        (
            {
                "stores": [
                    _store(
                        products=[
                            {"id": 1, "name": "a", "sku": "S"},
                            {"id": 2, "name": "b", "sku": "S"},
                        ]
                    )
                ]
            },
            "stores[0].products[1].sku: SKU 'S' is given twice",
        ),
        (
            {"stores": [_store(tokens=[{"token": "abc"}])]},
            "stores[0].tokens[0].token: a secret token is secret_ then letters and digits",
        ),
        (
            {"stores": [_store(tokens=[{"token": "secret_abc", "public": True}])]},
            "stores[0].tokens[0].token: a public token is public_ then letters and digits",
        ),
        (
            {"stores": [_store(tokens=[{"token": "secret_a b"}])]},
            "stores[0].tokens[0].token: a secret token is secret_ then letters and digits",
        ),
        (
            {"stores": [_store(tokens=[{"token": "public_a", "public": True, "scopes": []}])]},
            "stores[0].tokens[0]: a public token has no scopes (it may only read)",
        ),
        (
            {"stores": [_store(tokens=[{"token": "secret_a", "scopes": ["read_catalogue"]}])]},
            "stores[0].tokens[0].scopes: unknown scope(s): read_catalogue",
        ),
        (
            {
                "stores": [
                    _store(tokens=[{"token": "secret_a"}]),
                    {"id": 8, "tokens": [{"token": "secret_a"}]},
                ]
            },
            "stores[1].tokens[0].token: the same token is given twice",
        ),
        (
            {"stores": [_store(products=[{"id": 1, "name": "a", "media": {"galeryMedia": []}}])]},
            "stores[0].products[0].media.galeryMedia: Extra inputs are not permitted",
        ),
        (
            {
                "stores": [
                    _store(
                        products=[
                            {
                                "id": 1,
                                "name": "a",
                                "media": {"mainMedia": {"imageUrl": "ftp://x/a"}},
                            }
                        ]
                    )
                ]
            },
            "stores[0].products[0].media: mainMedia.imageUrl",
        ),
    ],
)
def test_a_bad_seed_is_one_line_naming_the_file_and_the_place(
    tmp_path: Path, content: Any, problem: str
) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(SeedFileError) as raised:
        load_seed(path, max_gallery_items=100)
    message = str(raised.value)
    assert message.startswith(f"seed file {path}: {problem}"), message
    assert "\n" not in message


def test_a_missing_seed_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(SeedFileError, match=r"seed file .*nowhere\.json: cannot be read: No such"):
        load_seed(path, max_gallery_items=100)


def test_a_gallery_over_the_limit_is_refused(tmp_path: Path) -> None:
    gallery = [{"imageUrl": f"https://img.example/{i}.jpg"} for i in range(3)]
    path = _write(
        tmp_path,
        {"stores": [_store(products=[{"id": 1, "name": "a", "media": {"galleryMedia": gallery}}])]},
    )
    with pytest.raises(SeedFileError, match=r"products\[0\]\.media: galleryMedia has 3 items"):
        load_seed(path, max_gallery_items=2)
