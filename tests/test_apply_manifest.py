"""Manifest rows from CSV and JSON Lines: tables of cases, line numbers as the file has them."""

from __future__ import annotations

import io

import pytest

from product_media.apply.manifest import (
    DUPLICATE_PRODUCT,
    NO_PRODUCT,
    WRONG_PARAMETER,
    WRONG_URL,
    BadRow,
    Item,
    ManifestError,
    Medium,
    ProductRef,
    Row,
    parse,
)

A, B, C = "https://img.example/a.jpg", "https://img.example/b.jpg", "https://img.example/c.jpg"
V = "https://www.youtube.com/watch?v=abcdefghijk"


def csv_rows(text: str) -> list[Row | BadRow]:
    return parse("m.csv", io.StringIO(text, newline=""))


def jsonl_rows(text: str) -> list[Row | BadRow]:
    return parse("m.jsonl", io.StringIO(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"product_id,main_image_url,gallery_1,gallery_2\n12,{A},{B},{C}\n",
            [Row(2, ProductRef(product_id=12), Medium(A), (Medium(B), Medium(C)))],
            id="id, main and gallery",
        ),
        pytest.param(
            f"sku,main_image_url,main_video_url\nSHIRT-1,,{V}\n",
            [Row(2, ProductRef(sku="SHIRT-1"), Medium(None, V), ())],
            id="sku and a main video: the main image is deleted",
        ),
        pytest.param(
            f"sku,main_image_url,gallery_1\nS,,{A}\n",
            [Row(2, ProductRef(sku="S"), None, (Medium(A),))],
            id="both main cells empty: main media kept",
        ),
        pytest.param(
            "sku,main_image_url,gallery_1\nS,,\n",
            [Row(2, ProductRef(sku="S"), None, ())],
            id="no gallery cell: the gallery is cleared",
        ),
        pytest.param(
            f"sku,gallery_2,gallery_10,gallery_1\nS,{B},{C},{A}\n",
            [Row(2, ProductRef(sku="S"), None, (Medium(A), Medium(B), Medium(C)))],
            id="gallery columns in number order, not column order",
        ),
        pytest.param(
            f"sku,gallery_1,gallery_2,gallery_3\nS,,{B},\n",
            [Row(2, ProductRef(sku="S"), None, (Medium(B),))],
            id="empty gallery cells are skipped",
        ),
        pytest.param(
            f"product_id,sku,main_image_url\n7,S,{A}\n",
            [Row(2, ProductRef(product_id=7), Medium(A), ())],
            id="product_id wins over sku",
        ),
        pytest.param(
            f"\ufeffsku , main_image_url\n S , {A} \n",
            [Row(2, ProductRef(sku="S"), Medium(A), ())],
            id="byte order mark and spaces around names and cells",
        ),
        pytest.param(
            f"sku;main_image_url;gallery_1\r\nS;{A};{B}\r\n",
            [Row(2, ProductRef(sku="S"), Medium(A), (Medium(B),))],
            id="semicolons and CRLF, as spreadsheets write them in some locales",
        ),
        pytest.param(
            f"sku\tgallery_1\nS\t{B}\n",
            [Row(2, ProductRef(sku="S"), None, (Medium(B),))],
            id="tabs",
        ),
        pytest.param(
            f'sku,main_image_url\n"two\nlines",{A}\n\nS2,{B}\n',
            [
                Row(2, ProductRef(sku="two\nlines"), Medium(A), ()),
                Row(5, ProductRef(sku="S2"), Medium(B), ()),
            ],
            id="a quoted cell over two lines and a blank line: file line numbers",
        ),
    ],
)
def test_csv_rows(text: str, expected: list[Row]) -> None:
    assert csv_rows(text) == expected


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        (f",{A}", NO_PRODUCT, "give product_id or sku"),
        (f"abc,{A}", WRONG_PARAMETER, "product_id must be a whole number"),
        (f"0,{A}", WRONG_PARAMETER, "must be positive"),
        ("5,ftp://img.example/a.jpg", WRONG_URL, "main_image_url must be an absolute http"),
        ("5,https://user:pw@img.example/a.jpg", WRONG_URL, "must not carry credentials"),
        ("5,/a.jpg", WRONG_URL, "main_image_url"),
        (f"5,{A},{A},extra", WRONG_PARAMETER, "4 cells for 3 columns"),
    ],
)
def test_bad_csv_rows(line: str, code: str, words: str) -> None:
    (bad,) = csv_rows(f"product_id,main_image_url,gallery_1\n{line}\n")
    assert isinstance(bad, BadRow)
    assert (bad.line, bad.error_code) == (2, code)
    assert words in bad.message


def test_a_bad_gallery_url_names_its_cell_and_keeps_the_items_for_the_report() -> None:
    (bad,) = csv_rows(f"product_id,main_image_url,gallery_1,gallery_2\n5,{A},{B},not a url\n")
    assert isinstance(bad, BadRow)
    assert bad.error_code == WRONG_URL and "gallery[2]" in bad.message
    assert bad.items == (Item("main", A), Item("1", B), Item("2", "not a url"))


def test_bad_rows_do_not_stop_the_others() -> None:
    rows = csv_rows(f"sku,main_image_url\nS1,{A}\n,{B}\nS3,bad\nS4,{C}\n")
    assert [(type(r).__name__, r.line) for r in rows] == [
        ("Row", 2),
        ("BadRow", 3),
        ("BadRow", 4),
        ("Row", 5),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        (f"main_image_url,gallery_1\n{A},{B}\n", "no product column"),
        ("sku,galery_1\nS,x\n", "unknown column 'galery_1'"),
        ("sku,gallery_0\nS,x\n", "unknown column 'gallery_0'"),
        ("sku,sku\nS,T\n", "appears twice"),
    ],
)
def test_files_that_cannot_be_used(text: str, words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        csv_rows(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f'{{"product_id": 3, "main_image_url": "{A}", "gallery": ["{B}", {{"videoUrl": "{V}"}},'
            f' {{"imageUrl": "{C}", "videoUrl": "{V}"}}]}}\n',
            Row(1, ProductRef(product_id=3), Medium(A), (Medium(B), Medium(None, V), Medium(C, V))),
            id="images, a video and a video with its cover",
        ),
        pytest.param(
            '{"product_id": "4", "gallery": []}\n',
            Row(1, ProductRef(product_id=4), None, ()),
            id="numeric string id, empty gallery clears it",
        ),
        pytest.param(
            f'{{"sku": "S", "main_video_url": "{V}", "main_image_url": null}}\n',
            Row(1, ProductRef(sku="S"), Medium(None, V), ()),
            id="null is empty",
        ),
    ],
)
def test_jsonl_rows(text: str, expected: Row) -> None:
    assert jsonl_rows(text) == [expected]


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        ("{not json", WRONG_PARAMETER, "not a JSON object"),
        ("[1, 2]", WRONG_PARAMETER, "not a JSON object"),
        (f'{{"main_image_url": "{A}"}}', NO_PRODUCT, "give product_id or sku"),
        ('{"sku": "S", "galery": []}', WRONG_PARAMETER, "unknown field galery"),
        ('{"sku": "S", "gallery": "x"}', WRONG_PARAMETER, "gallery must be a list"),
        ('{"sku": "S", "gallery": [{}]}', WRONG_PARAMETER, "gallery[1] needs imageUrl or videoUrl"),
        ('{"sku": "S", "gallery": [{"imageURL": "x"}]}', WRONG_PARAMETER, "unknown field imageURL"),
        ('{"sku": "S", "gallery": [7]}', WRONG_PARAMETER, "must be a URL or an object"),
        ('{"product_id": 1.5}', WRONG_PARAMETER, "whole number"),
        ('{"product_id": true}', WRONG_PARAMETER, "whole number"),
        ('{"sku": "S", "main_image_url": 5}', WRONG_PARAMETER, "must be a URL string"),
        ('{"sku": "S", "gallery": [{"videoUrl": "javascript:x"}]}', WRONG_URL, "videoUrl"),
    ],
)
def test_bad_jsonl_rows(line: str, code: str, words: str) -> None:
    (bad,) = jsonl_rows(f"\n{line}\n")
    assert isinstance(bad, BadRow)
    assert (bad.line, bad.error_code) == (2, code)
    assert words in bad.message


def test_a_product_named_twice_is_refused_on_its_later_line() -> None:
    rows = csv_rows(f"sku,product_id,main_image_url\nS,,{A}\nT,,{B}\nS,,{C}\n,9,{A}\n,9,{B}\n")
    bad = [(r.line, r.error_code, r.message) for r in rows if isinstance(r, BadRow)]
    assert bad == [
        (4, DUPLICATE_PRODUCT, "product SKU S is already on line 2"),
        (6, DUPLICATE_PRODUCT, "product 9 is already on line 5"),
    ]


def test_items_as_the_report_lists_them() -> None:
    row = Row(2, ProductRef(sku="S"), Medium(A, V), (Medium(B), Medium(C, V)))
    assert row.items() == (Item("main", A), Item("main", V), Item("1", B), Item("2", V))
    assert Row(2, ProductRef(sku="S"), None, ()).items() == (Item("gallery", ""),)


def test_the_digest_is_the_content() -> None:
    row = Row(2, ProductRef(sku="S"), Medium(A), (Medium(B),))
    assert row.digest() == Row(9, ProductRef(sku="S"), Medium(A), (Medium(B),)).digest()
    changed = [
        Row(2, ProductRef(sku="T"), Medium(A), (Medium(B),)),
        Row(2, ProductRef(sku="S"), None, (Medium(B),)),
        Row(2, ProductRef(sku="S"), Medium(None, A), (Medium(B),)),
        Row(2, ProductRef(sku="S"), Medium(A), (Medium(B), Medium(B))),
        Row(2, ProductRef(sku="S"), Medium(A), ()),
    ]
    assert len({row.digest(), *(other.digest() for other in changed)}) == 6
