"""Injected faults of the emulator: which API calls and source fetches a fault matches."""

from __future__ import annotations

from dataclasses import dataclass

# Faults apply to these calls alone (and to source fetches).
API_PREFIX = "/api/v3"


@dataclass(frozen=True)
class Fault:
    """A fault as posted. `method` and `path` (a path prefix, whole segments) match API calls;
    `source_host` matches source fetches only. `times` None: until deleted."""

    method: str | None = None
    path: str | None = None
    source_host: str | None = None
    status: int | None = None
    delay_ms: int = 0
    probability: float = 1.0
    times: int | None = None

    @property
    def for_fetches(self) -> bool:
        return self.source_host is not None


def under(path: str, prefix: str) -> bool:
    """`path` is `prefix` or lies below it: "/api/v3/7" covers "/api/v3/7/products" but not
    "/api/v3/77", which a plain string prefix would."""
    stem = prefix.rstrip("/")
    return path == stem or path.startswith(stem + "/")


def matches_call(fault: Fault, method: str, path: str) -> bool:
    """Whether `fault` applies to an API call."""
    if fault.for_fetches or not under(path, API_PREFIX):
        return False
    if fault.method is not None and fault.method != method.upper():
        return False
    return fault.path is None or under(path, fault.path)


def matches_fetch(fault: Fault, host: str) -> bool:
    """Whether `fault` applies to a fetch from `host` (a name or an address, no port)."""
    return fault.source_host is not None and fault.source_host == normal_host(host)


def normal_host(host: str) -> str:
    """A host as faults compare it: lower case, no brackets round an IPv6 address, no root
    dot."""
    return host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")
