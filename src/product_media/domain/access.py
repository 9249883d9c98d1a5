"""Access tokens and their scopes (DESIGN section 1)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

READ_CATALOG = "read_catalog"
CREATE_CATALOG = "create_catalog"
UPDATE_CATALOG = "update_catalog"
UPDATE_CATALOG_BATCH_DELETE = "update_catalog_batch_delete"
CATALOG_SCOPES = (READ_CATALOG, CREATE_CATALOG, UPDATE_CATALOG, UPDATE_CATALOG_BATCH_DELETE)
PUBLIC_SCOPES = (READ_CATALOG,)

TokenKind = Literal["secret", "public"]

# How much of a token is kept to tell it apart in listings: the kind and five random
# characters (30 bits), too little to guess the rest from.
PREFIX_CHARS = 12


@dataclass(frozen=True)
class Grant:
    """What a valid token lets its bearer do."""

    store_id: int
    kind: TokenKind
    scopes: frozenset[str]


def new_token(kind: TokenKind) -> str:
    return f"{kind}_{secrets.token_urlsafe(24)}"


def token_prefix(token: str) -> str:
    """What is kept of a token for display."""
    return token[:PREFIX_CHARS]


@lru_cache(maxsize=1024)
def token_hash(token: str) -> str:
    """Tokens are random and long, so one SHA-256 is enough to keep them unreadable at rest.
    Kept for the tokens seen lately: every request hashes its token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    """Scopes from 'a,b,c'; raises ValueError naming any unknown scope."""
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(scopes - set(CATALOG_SCOPES))
    if unknown:
        raise ValueError(
            f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(CATALOG_SCOPES)}"
        )
    if not scopes:
        raise ValueError("at least one scope is needed")
    return scopes
