"""Who reads the media page: a Bearer token (scripts, tests), or the tokens a browser handed the
page's form, kept in an HttpOnly, SameSite=Strict cookie that only the page reads (the API
never looks at cookies). The form is guarded by a second such cookie whose value the form
repeats: a page of another site can neither read it nor make the browser send it."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

from anyio.to_thread import run_sync
from fastapi import Request, Response

from product_media.api.state import AppState, state_of
from product_media.domain.access import Grant, token_hash

TOKENS_COOKIE = "product_media_page"
FORM_COOKIE = "product_media_form"
# One token per store, a few stores at once.
MAX_TOKENS = 8
_TOKEN = re.compile(r"(?:secret|public)_[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class Reader:
    """The valid tokens a request brought, their grants, and whether they came in a cookie
    (`stale`: cookie tokens that no longer work, dropped from the cookie)."""

    grants: tuple[tuple[str, Grant], ...]
    from_cookie: bool
    stale: int = 0

    def store_ids(self) -> list[int]:
        return sorted({grant.store_id for _, grant in self.grants})

    def grant_for(self, store_id: int) -> Grant | None:
        """The grant of this store, the widest first (a secret token over a public one)."""
        found = [grant for _, grant in self.grants if grant.store_id == store_id]
        found.sort(key=lambda grant: grant.kind != "secret")
        return found[0] if found else None

    @property
    def tokens(self) -> list[str]:
        return [token for token, _ in self.grants]


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def cookie_tokens(request: Request) -> list[str]:
    """The well-formed tokens of the page's cookie, at most MAX_TOKENS, each once."""
    words = request.cookies.get(TOKENS_COOKIE, "").split()
    return list(dict.fromkeys(w for w in words if _TOKEN.fullmatch(w)))[:MAX_TOKENS]


async def grant_of(state: AppState, token: str) -> Grant | None:
    hashed = token_hash(token)
    found = await run_sync(state.adapters.catalog.find_grant, hashed)
    if found is None or not hmac.compare_digest(found[0], hashed):
        return None
    return found[1]


class RateLimited(Exception):
    def __init__(self, seconds: int, per_minute: int) -> None:
        super().__init__(f"Too many requests: at most {per_minute} a minute per token")
        self.seconds = seconds


async def reader(request: Request, state: AppState) -> Reader:
    """The request's valid tokens: its Bearer token alone when it sends one, else the cookie's.
    Each counts against its token's rate limit, as an API call does (RateLimited)."""
    bearer = _bearer(request)
    tokens = [bearer] if bearer is not None else cookie_tokens(request)
    grants = []
    limiter = state.adapters.rate_limiter
    for token in tokens:
        grant = await grant_of(state, token)
        if grant is not None:
            wait = await limiter.retry_after(token_hash(token))
            if wait is not None:
                raise RateLimited(wait, limiter.per_minute)
            grants.append((token, grant))
    return Reader(tuple(grants), from_cookie=bearer is None, stale=len(tokens) - len(grants))


def _secure(request: Request) -> bool:
    """Whether the browser reaches the page over HTTPS (directly, or as PUBLIC_URL says behind
    a proxy that ends TLS): the cookies are then never sent in the clear."""
    public_url = state_of(request).settings.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


def keep_tokens(request: Request, response: Response, tokens: list[str]) -> None:
    """Set the page's cookie to `tokens` (for the browser's session), or delete it."""
    if not tokens:
        response.delete_cookie(
            TOKENS_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict"
        )
        return
    response.set_cookie(
        TOKENS_COOKIE,
        " ".join(tokens[:MAX_TOKENS]),
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def form_key(request: Request) -> str:
    """The value the page's forms repeat: the browser's own, or a new one (`set_form_key`
    then sends it)."""
    current = request.cookies.get(FORM_COOKIE, "")
    return current if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", current) else secrets.token_urlsafe(32)


def set_form_key(request: Request, response: Response, key: str) -> None:
    if request.cookies.get(FORM_COOKIE) != key:
        response.set_cookie(
            FORM_COOKIE, key, path="/", secure=_secure(request), httponly=True, samesite="strict"
        )


def form_allowed(request: Request, sent: str) -> bool:
    """Whether a form came from the page itself: it repeats the browser's form cookie."""
    kept = request.cookies.get(FORM_COOKIE, "")
    return bool(kept) and hmac.compare_digest(kept.encode(), sent.encode())
