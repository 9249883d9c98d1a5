"""How the process logs: text with timestamps or one JSON object a line, each record carrying
the id of the request it was written for."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

LogFormat = Literal["text", "json"]

# Set by the api.observe middleware for the length of one request.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# What the access line passes as `extra`; JSON logs give them as fields of their own.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")

# Where a log line may carry a secret: what follows `?` in a URL or a path (source URLs carry
# signatures there, older clients their token; `%3F` is an encoded `?`), the credentials of a
# URL, and tokens themselves (`%3Dsecret_...` too: no word boundary in front).
_WORD = re.compile(r"[^\s\"'<>]+")
_QUERY_START = re.compile(r"\?|%3[Ff]")
_TOKEN = re.compile(r"(secret|public)_[A-Za-z0-9_-]{8,}")
REDACTED = "[redacted]"


def _redact_word(match: re.Match[str]) -> str:
    word = match.group()
    scheme = word.find("://")
    if scheme >= 0:
        host = scheme + 3
        path = word.find("/", host)
        at = word.rfind("@", host, len(word) if path < 0 else path)
        if at >= 0:
            word = f"{word[:host]}{REDACTED}{word[at:]}"
    slash = word.find("/")
    query = _QUERY_START.search(word, slash) if slash >= 0 else None
    if query is not None and query.end() < len(word) and word[query.end()] != "#":
        fragment = word.find("#", query.end())
        word = f"{word[: query.start()]}?{REDACTED}{word[fragment:] if fragment >= 0 else ''}"
    return word


def redact(text: str) -> str:
    """`text` without URL query strings, URL credentials and tokens.

    The code logs none of them (source URLs go through `safe_url`, the access line has no
    query string); this is the guard behind it for every line, a library's message or an
    exception's included. Linear in the length of `text`: a path of 60,000 slashes costs
    what its length does."""
    if "?" in text or "%3" in text or "://" in text:
        text = _WORD.sub(_redact_word, text)
    if "secret_" in text or "public_" in text:
        text = _TOKEN.sub(rf"\1_{REDACTED}", text)
    return text


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the context that wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


@lru_cache(maxsize=4)
def _second(whole: int) -> str:
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond; the second's text is made once per second."""
    whole = int(created)
    return f"{_second(whole)}.{int((created - whole) * 1000):03d}Z"


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    # Cached on the record like logging.Formatter does, so several handlers format it once.
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return record.exc_text or None


class TextFormatter(logging.Formatter):
    """`2025-06-11T09:15:02.123Z INFO logger: message request_id=...`, then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record.created)} {record.levelname} {record.name}: "
        line += record.getMessage()
        rid = getattr(record, "request_id", None)
        if rid:
            line += f" request_id={rid}"
        parts = [line]
        exception = _exception_text(self, record)
        if exception:
            parts.append(exception)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return redact("\n".join(parts))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        exception = _exception_text(self, record)
        if exception:
            entry["exc_info"] = exception
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        entry = {
            name: redact(value) if isinstance(value, str) else value
            for name, value in entry.items()
        }
        return json.dumps(entry, default=str)


_FORMATTERS: dict[LogFormat, type[logging.Formatter]] = {
    "text": TextFormatter,
    "json": JsonFormatter,
}


def uvicorn_log_config(log_format: LogFormat) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the whole process, also fit for `uvicorn.run(log_config=)`
    so that each worker process configures itself the same way."""
    return {
        "version": 1,
        # Module loggers exist already (created at import): they must keep working.
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": {"()": _FORMATTERS[log_format]}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            },
            "discard": {"class": "logging.NullHandler"},
        },
        "root": {"level": "INFO", "handlers": ["default"]},
        "loggers": {
            # uvicorn's own handlers go: its records reach the root handler like everyone's.
            "uvicorn": {"level": "INFO", "propagate": True},
            "uvicorn.error": {"level": "INFO", "propagate": True},
            # api.observe writes the access line, without the query string uvicorn's has.
            "uvicorn.access": {"handlers": ["discard"], "propagate": False},
            "alembic": {"level": "WARNING"},
            # httpx logs every request's full URL, and source query strings may carry secrets.
            "httpx": {"level": "WARNING"},
            # libvips narrates every thumbnail at INFO; its warnings still come through.
            "pyvips": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: LogFormat) -> None:
    """Log the whole process in `log_format` to stderr, at INFO."""
    logging.config.dictConfig(uvicorn_log_config(log_format))
