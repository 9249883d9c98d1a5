"""A manifest's rows, read from CSV or JSON Lines text: pure code, no I/O.

Each row names one product (`product_id` or `sku`) and its new media. Line numbers are the
file's own (a CSV header is line 1), so a merchant finds the row in the spreadsheet. A problem
with one row makes that row a `BadRow` and never stops the others; a problem with the whole
file (unknown columns, no product column) is a `ManifestError`.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from product_media.domain.media_update import wrong_url

MAIN_POSITION = "main"
# A row that sends no item still has an outcome: its gallery is cleared.
GALLERY_POSITION = "gallery"

WRONG_URL = "WRONG_URL"
NO_PRODUCT = "NO_PRODUCT"
WRONG_PARAMETER = "WRONG_PARAMETER"
DUPLICATE_PRODUCT = "DUPLICATE_PRODUCT"

_GALLERY_COLUMN = re.compile(r"gallery_([1-9][0-9]*)")
_FIXED_COLUMNS = ("product_id", "sku", "main_image_url", "main_video_url")
_JSON_KEYS = frozenset({*_FIXED_COLUMNS, "gallery"})


class ManifestError(Exception):
    """The file as a whole cannot be used."""


@dataclass(frozen=True)
class ProductRef:
    """The product a row names: by id, else by SKU."""

    product_id: int | None = None
    sku: str | None = None

    @property
    def key(self) -> str:
        return f"id:{self.product_id}" if self.product_id is not None else f"sku:{self.sku}"

    def __str__(self) -> str:
        return str(self.product_id) if self.product_id is not None else f"SKU {self.sku}"


@dataclass(frozen=True)
class Medium:
    """An image, a video, or a video with that image as its cover."""

    image_url: str | None = None
    video_url: str | None = None

    @property
    def url(self) -> str:
        """The URL a report shows: the video's when there is one (the image is its cover)."""
        return self.video_url or self.image_url or ""


@dataclass(frozen=True)
class Item:
    """One thing a row asks for, as the report lists it."""

    position: str
    url: str


@dataclass(frozen=True)
class Row:
    """`main` None keeps the main media as it is; an empty `gallery` clears the gallery."""

    line: int
    product: ProductRef
    main: Medium | None
    gallery: tuple[Medium, ...]

    def items(self) -> tuple[Item, ...]:
        items: list[Item] = []
        if self.main is not None:
            items += [
                Item(MAIN_POSITION, url)
                for url in (self.main.image_url, self.main.video_url)
                if url
            ]
        items += [Item(str(n), medium.url) for n, medium in enumerate(self.gallery, start=1)]
        return tuple(items) or (Item(GALLERY_POSITION, ""),)

    def digest(self) -> str:
        """The row's content: the same product with the same media gives the same digest."""
        content = {
            "product": self.product.key,
            "main": None if self.main is None else [self.main.image_url, self.main.video_url],
            "gallery": [[m.image_url, m.video_url] for m in self.gallery],
        }
        text = json.dumps(content, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class BadRow:
    """A row that is not sent: why, and what it asked for as far as it could be read."""

    line: int
    product: str
    error_code: str
    message: str
    items: tuple[Item, ...] = (Item(GALLERY_POSITION, ""),)


Parsed = Row | BadRow


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _url(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(WRONG_PARAMETER, f"{field} must be a URL string")
    text = value.strip()
    if not text:
        return None
    reason = wrong_url(field, text)
    if reason is not None:
        raise _Refused(WRONG_URL, reason)
    return text


def _product(product_id: Any, sku: Any) -> ProductRef:
    if isinstance(product_id, str):
        product_id = product_id.strip() or None
    if isinstance(sku, str):
        sku = sku.strip() or None
    if product_id is not None:
        if isinstance(product_id, bool) or not (
            isinstance(product_id, int) or (isinstance(product_id, str) and product_id.isdigit())
        ):
            raise _Refused(
                WRONG_PARAMETER, f"product_id must be a whole number, not {product_id!r}"
            )
        number = int(product_id)
        if number < 1:
            raise _Refused(WRONG_PARAMETER, f"product_id must be positive, not {number}")
        return ProductRef(product_id=number)
    if sku is not None:
        if not isinstance(sku, str):
            raise _Refused(WRONG_PARAMETER, "sku must be a string")
        return ProductRef(sku=sku)
    raise _Refused(NO_PRODUCT, "no product: give product_id or sku")


def _named(product_id: Any, sku: Any) -> str:
    for value in (product_id, sku):
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _raw_items(main: tuple[Any, Any], gallery: list[Any]) -> tuple[Item, ...]:
    """What a bad row asked for, for its report entries."""
    items = [Item(MAIN_POSITION, str(u)) for u in main if isinstance(u, str) and u.strip()]
    for n, entry in enumerate(gallery, start=1):
        if isinstance(entry, dict):
            entry = entry.get("videoUrl") or entry.get("imageUrl")
        items.append(Item(str(n), entry.strip() if isinstance(entry, str) else ""))
    return tuple(items) or (Item(GALLERY_POSITION, ""),)


def _row(line: int, fields: dict[str, Any], gallery: list[Any]) -> Parsed:
    product_id, sku = fields.get("product_id"), fields.get("sku")
    main_cells = (fields.get("main_image_url"), fields.get("main_video_url"))
    try:
        product = _product(product_id, sku)
        image = _url("main_image_url", main_cells[0])
        video = _url("main_video_url", main_cells[1])
        main = Medium(image, video) if image or video else None
        return Row(line, product, main, tuple(_gallery(gallery)))
    except _Refused as refused:
        return BadRow(
            line,
            _named(product_id, sku),
            refused.code,
            refused.message,
            _raw_items(main_cells, gallery),
        )


def _gallery(entries: list[Any]) -> Iterator[Medium]:
    for n, entry in enumerate(entries, start=1):
        field = f"gallery[{n}]"
        if isinstance(entry, str):
            yield Medium(image_url=_url(field, entry))
            continue
        if not isinstance(entry, dict):
            raise _Refused(WRONG_PARAMETER, f"{field} must be a URL or an object")
        unknown = sorted(set(entry) - {"imageUrl", "videoUrl"})
        if unknown:
            raise _Refused(WRONG_PARAMETER, f"{field} has unknown field {unknown[0]}")
        image = _url(f"{field}.imageUrl", entry.get("imageUrl"))
        video = _url(f"{field}.videoUrl", entry.get("videoUrl"))
        if image is None and video is None:
            raise _Refused(WRONG_PARAMETER, f"{field} needs imageUrl or videoUrl")
        yield Medium(image, video)


def parse_csv(lines: Iterable[str]) -> Iterator[Parsed]:
    """Rows of CSV text (the header first). Gallery cells are image URLs, in column order;
    empty cells are skipped. Cells are separated by commas, or by the semicolons or tabs
    that spreadsheets write in some locales, as the header shows."""
    remaining = iter(lines)
    first = next(remaining, None)
    if first is None:
        raise ManifestError("the file is empty: the first line must name the columns")
    reader = csv.reader(itertools.chain([first], remaining), delimiter=_delimiter(first))
    columns = [name.strip().lstrip("\ufeff").strip() for name in next(reader, [])]
    gallery_columns = _check_header(columns)
    line = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield _csv_row(line, columns, gallery_columns, cells)
        line = reader.line_num + 1


def _delimiter(header: str) -> str:
    """The header names no URL, so its separator is the one it holds most of."""
    return max(",;\t", key=header.count) if header.strip() else ","


def _check_header(columns: list[str]) -> list[tuple[int, int]]:
    """The gallery columns as (position, index), in gallery order; refuses unknown names, so a
    misspelt gallery column cannot clear galleries."""
    seen: set[str] = set()
    gallery: list[tuple[int, int]] = []
    for index, name in enumerate(columns):
        if name in seen:
            raise ManifestError(f"column {name!r} appears twice")
        seen.add(name)
        match = _GALLERY_COLUMN.fullmatch(name)
        if match:
            gallery.append((int(match.group(1)), index))
        elif name not in _FIXED_COLUMNS:
            known = ", ".join((*_FIXED_COLUMNS, "gallery_1, gallery_2, ..."))
            raise ManifestError(f"unknown column {name!r}; the columns are {known}")
    if "product_id" not in seen and "sku" not in seen:
        raise ManifestError("no product column: the first line must name product_id or sku")
    return sorted(gallery)


def _csv_row(
    line: int, columns: list[str], gallery_columns: list[tuple[int, int]], cells: list[str]
) -> Parsed:
    if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
        return BadRow(line, "", WRONG_PARAMETER, f"{len(cells)} cells for {len(columns)} columns")
    padded = cells + [""] * (len(columns) - len(cells))
    fields = {name: padded[i] for i, name in enumerate(columns) if name in _FIXED_COLUMNS}
    gallery = [padded[i] for _, i in gallery_columns if padded[i].strip()]
    return _row(line, fields, gallery)


def parse_jsonl(lines: Iterable[str]) -> Iterator[Parsed]:
    """Rows of JSON Lines: one object per line; blank lines are skipped."""
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            yield BadRow(line, "", WRONG_PARAMETER, f"not a JSON object: {exc}")
            continue
        if not isinstance(value, dict):
            yield BadRow(line, "", WRONG_PARAMETER, "not a JSON object")
            continue
        gallery = value.get("gallery")
        if gallery is not None and not isinstance(gallery, list):
            yield BadRow(
                line,
                _named(value.get("product_id"), value.get("sku")),
                WRONG_PARAMETER,
                "gallery must be a list",
            )
            continue
        unknown = sorted(set(value) - _JSON_KEYS)
        if unknown:
            yield BadRow(
                line,
                _named(value.get("product_id"), value.get("sku")),
                WRONG_PARAMETER,
                f"unknown field {unknown[0]}; the fields are {', '.join(sorted(_JSON_KEYS))}",
            )
            continue
        yield _row(line, value, gallery or [])


def without_duplicates(parsed: Iterable[Parsed]) -> Iterator[Parsed]:
    """A product named again by a later row would race the earlier one: the later is bad."""
    first: dict[str, int] = {}
    for entry in parsed:
        if isinstance(entry, Row):
            earlier = first.setdefault(entry.product.key, entry.line)
            if earlier != entry.line:
                entry = BadRow(
                    entry.line,
                    str(entry.product),
                    DUPLICATE_PRODUCT,
                    f"product {entry.product} is already on line {earlier}",
                    entry.items(),
                )
        yield entry


def parse(name: str, lines: Iterable[str]) -> list[Parsed]:
    """The rows of a manifest called `name`: JSON Lines for `.jsonl`/`.ndjson`, else CSV."""
    reader = parse_jsonl if name.lower().endswith((".jsonl", ".ndjson")) else parse_csv
    return list(without_duplicates(reader(lines)))
