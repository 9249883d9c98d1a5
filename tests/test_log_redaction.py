"""The last guard of every log line: no URL query string, URL credentials or token gets
through either log format, whoever wrote the line (a library's message, an exception)."""

from __future__ import annotations

import json
import logging

import pytest

from product_media.logs import JsonFormatter, TextFormatter, redact

TOKEN = "secret_Wfg07YAiSWa-3Cfa2YQ9lwl_SYfTxpwr"


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("GET /api/v3/1/products 200", "GET /api/v3/1/products 200"),
        (f"GET /api/v3/1/products?token={TOKEN} 200", "GET /api/v3/1/products?[redacted] 200"),
        (
            f'"GET /api/v3/1/products%3Ftoken%3D{TOKEN} HTTP/1.1" 404',
            '"GET /api/v3/1/products?[redacted] HTTP/1.1" 404',
        ),
        ("http://a.example/b.jpg?sig=S&x=1 refused", "http://a.example/b.jpg?[redacted] refused"),
        ("http://a.example/b%3fsig=S", "http://a.example/b?[redacted]"),
        ("https://u:pw@h.example/a?b#c", "https://[redacted]@h.example/a?[redacted]#c"),
        ("https://u:pw@h.example", "https://[redacted]@h.example"),
        ("https://h.example/p@q.jpg", "https://h.example/p@q.jpg"),
        (
            "URL('https://h.example/a.jpg?X-Amz-Signature=S')",
            "URL('https://h.example/a.jpg?[redacted]')",
        ),
        (f"token {TOKEN} and public_abcdefgh12", "token secret_[redacted] and public_[redacted]"),
        (f"x%3D{TOKEN}", "x%3Dsecret_[redacted]"),
        # Left alone: nothing that looks like a URL's query, words that only contain `?`.
        ("what? and/or? fine", "what? and/or? fine"),
        ("http://x.example/p? done", "http://x.example/p? done"),
        ("secret_key public_url", "secret_key public_url"),
    ],
)
def test_redact(text: str, logged: str) -> None:
    assert redact(text) == logged


@pytest.mark.parametrize(
    "hostile",
    ["/" * 200_000, "a." * 100_000 + "://", "/a" * 100_000 + "?", "http://" + "@" * 200_000],
)
# A guard, not a measure: this takes milliseconds, a quadratic scan of these lines hours.
@pytest.mark.timeout(60)
def test_redact_is_linear(hostile: str) -> None:
    """A client chooses the path the access line holds; a long one must not stall logging."""
    assert isinstance(redact(hostile), str)


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("lib", logging.ERROR, __file__, 1, message, args, exc_info)


def _failure() -> BaseException:
    try:
        raise ValueError(f"could not fetch https://h.example/a.jpg?sig=S with {TOKEN}")
    except ValueError as exc:
        return exc


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_both_formats_redact_messages_and_tracebacks(formatter: logging.Formatter) -> None:
    line = formatter.format(_record("GET %s", f"/x?token={TOKEN}", exc=_failure()))
    assert TOKEN not in line
    assert "sig=S" not in line
    assert "?[redacted]" in line
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(line)
        assert entry["message"] == "GET /x?[redacted]"
        assert "ValueError: could not fetch https://h.example/a.jpg?[redacted]" in entry["exc_info"]
