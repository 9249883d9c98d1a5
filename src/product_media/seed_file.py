"""Reads a seed file (`serve --seed FILE`, DESIGN section 9) into a checked `Seed`; every
problem is one line naming the file and the place in it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic import ValidationError as PydanticError

from product_media.api.ids import MAX_ID
from product_media.api.media import parse_update
from product_media.api.schemas import MediaUpdateIn
from product_media.domain.access import CATALOG_SCOPES, PUBLIC_SCOPES, TokenKind, parse_scopes
from product_media.domain.media_update import InvalidUpdate
from product_media.domain.seed import Seed, SeedProduct, SeedStore, SeedToken

# What a token sent as `Authorization: Bearer ...` can hold, after its kind's prefix.
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9._~+/=-]+")


class SeedFileError(Exception):
    """A seed file that cannot be read or asks for something impossible."""


class _Strict(BaseModel):
    # A misspelt field in a seed would silently be left out: refused instead.
    model_config = ConfigDict(extra="forbid")


class _TokenIn(_Strict):
    token: StrictStr
    scopes: list[StrictStr] | None = None
    public: StrictBool = False


class _ProductIn(_Strict):
    id: StrictInt = Field(gt=0, le=MAX_ID)
    name: StrictStr = Field(min_length=1, max_length=10_000)
    sku: StrictStr | None = Field(None, max_length=255)
    # StrictFloat takes JSON integers too.
    price: StrictFloat = Field(0, ge=0, le=1e15)
    media: MediaUpdateIn | None = None


class _StoreIn(_Strict):
    id: StrictInt = Field(gt=0, le=MAX_ID)
    name: StrictStr = Field("", max_length=255)
    tokens: list[_TokenIn] = []
    products: list[_ProductIn] = []


class _SeedIn(_Strict):
    stores: list[_StoreIn]


def _where(loc: tuple[int | str, ...]) -> str:
    """`stores[0].products[1].price`, as the file's author finds it."""
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where.lstrip(".")


def _token(where: str, given: _TokenIn) -> SeedToken:
    kind: TokenKind = "public" if given.public else "secret"
    if given.public and given.scopes is not None:
        raise ValueError(f"{where}: a public token has no scopes (it may only read)")
    prefix = f"{kind}_"
    if not (given.token.startswith(prefix) and _TOKEN_TAIL.fullmatch(given.token[len(prefix) :])):
        raise ValueError(f"{where}.token: a {kind} token is {prefix} then letters and digits")
    if given.public:
        return SeedToken(given.token, kind, frozenset(PUBLIC_SCOPES))
    scopes = CATALOG_SCOPES if given.scopes is None else given.scopes
    try:
        return SeedToken(given.token, kind, parse_scopes(",".join(scopes)))
    except ValueError as exc:
        raise ValueError(f"{where}.scopes: {exc}") from None


def _product(where: str, given: _ProductIn, max_gallery_items: int) -> SeedProduct:
    media = None
    if given.media is not None:
        try:
            media = parse_update(given.media, max_gallery_items)
        except InvalidUpdate as exc:
            raise ValueError(f"{where}.media: {exc.message}") from None
    return SeedProduct(given.id, given.name, given.sku or None, given.price, media)


def _checked(seed: _SeedIn, max_gallery_items: int) -> Seed:
    store_ids: set[int] = set()
    product_ids: set[int] = set()
    tokens: set[str] = set()
    stores = []
    for s, store in enumerate(seed.stores):
        if store.id in store_ids:
            raise ValueError(f"stores[{s}].id: store {store.id} is given twice")
        store_ids.add(store.id)
        seeded_tokens = []
        for t, token in enumerate(store.tokens):
            where = f"stores[{s}].tokens[{t}]"
            if token.token in tokens:
                raise ValueError(f"{where}.token: the same token is given twice")
            tokens.add(token.token)
            seeded_tokens.append(_token(where, token))
        products = []
        skus: set[str] = set()
        for p, product in enumerate(store.products):
            where = f"stores[{s}].products[{p}]"
            if product.id in product_ids:
                raise ValueError(f"{where}.id: product {product.id} is given twice")
            product_ids.add(product.id)
            if product.sku:
                if product.sku in skus:
                    raise ValueError(f"{where}.sku: SKU {product.sku!r} is given twice")
                skus.add(product.sku)
            products.append(_product(where, product, max_gallery_items))
        stores.append(SeedStore(store.id, store.name, tuple(seeded_tokens), tuple(products)))
    return Seed(tuple(stores))


def load_seed(path: Path, *, max_gallery_items: int) -> Seed:
    """The seed in the JSON file at `path`; raises SeedFileError saying what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SeedFileError(f"seed file {path}: cannot be read: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedFileError(
            f"seed file {path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    try:
        parsed = _SeedIn.model_validate(data)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first["loc"])) or "the top level"
        raise SeedFileError(f"seed file {path}: {where}: {first['msg']}") from None
    try:
        return _checked(parsed, max_gallery_items)
    except ValueError as exc:
        raise SeedFileError(f"seed file {path}: {exc}") from None
