"""A store, as far as this service keeps it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Store:
    id: int
    name: str
