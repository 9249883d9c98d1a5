"""The emulator's fault rules (which calls and fetches a fault matches) and its registry (times,
probability, order), in-process with a chosen chance."""

from __future__ import annotations

import itertools

import anyio
import pytest

from product_media.domain.faults import Fault, matches_call, matches_fetch, under
from product_media.service.faults import Faults


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("/api/v3/7/products", "/api/v3/7/products", True),
        ("/api/v3/7/products/5/media", "/api/v3/7/products", True),
        ("/api/v3/7/products/", "/api/v3/7/products/", True),
        ("/api/v3/7/products", "/api/v3/7/products/", True),
        ("/api/v3/77/products", "/api/v3/7", False),
        ("/api/v3/7/productsX", "/api/v3/7/products", False),
        ("/api/v3/7", "/api/v3/7/products", False),
        ("/anything", "/", True),
    ],
)
def test_a_path_prefix_covers_whole_segments(path: str, prefix: str, expected: bool) -> None:
    assert under(path, prefix) is expected


@pytest.mark.parametrize(
    ("fault", "method", "path", "expected"),
    [
        (Fault(status=500), "GET", "/api/v3/7/products", True),
        (Fault(status=500), "GET", "/media/abc.jpg", False),
        (Fault(status=500), "GET", "/_emulator/faults", False),
        (Fault(status=500), "GET", "/healthz", False),
        (Fault(method="PUT", status=500), "PUT", "/api/v3/7/products/1/media", True),
        (Fault(method="PUT", status=500), "put", "/api/v3/7/products/1/media", True),
        (Fault(method="PUT", status=500), "GET", "/api/v3/7/products/1", False),
        (Fault(path="/api/v3/7/products", status=500), "GET", "/api/v3/7/products/1", True),
        (Fault(path="/api/v3/7/products", status=500), "GET", "/api/v3/7/profile", False),
        (Fault(path="/api/v3/7", method="GET", status=500), "GET", "/api/v3/8/products", False),
        (Fault(source_host="img.example", status=404), "GET", "/api/v3/7/products", False),
    ],
)
def test_which_api_calls_a_fault_matches(
    fault: Fault, method: str, path: str, expected: bool
) -> None:
    assert matches_call(fault, method, path) is expected


@pytest.mark.parametrize(
    ("fault", "host", "expected"),
    [
        (Fault(source_host="img.example", status=404), "img.example", True),
        (Fault(source_host="img.example", status=404), "IMG.Example.", True),
        (Fault(source_host="img.example", status=404), "cdn.img.example", False),
        (Fault(source_host="::1", status=404), "[::1]", True),
        (Fault(status=404), "img.example", False),
        (Fault(path="/api/v3", status=404), "img.example", False),
    ],
)
def test_which_fetches_a_fault_matches(fault: Fault, host: str, expected: bool) -> None:
    assert matches_fetch(fault, host) is expected


def test_times_runs_out_and_the_fault_is_gone() -> None:
    faults = Faults()
    faults.add(Fault(status=503, times=2))
    taken = [faults.take_call("GET", "/api/v3/1/products") for _ in range(3)]
    assert [fault is not None for fault in taken] == [True, True, False]
    assert faults.items() == []


def test_without_times_a_fault_fires_until_deleted() -> None:
    faults = Faults()
    faults.add(Fault(status=500))
    assert all(faults.take_call("GET", "/api/v3/1/products") for _ in range(50))
    assert faults.clear() == 1
    assert faults.take_call("GET", "/api/v3/1/products") is None


def test_probability_decides_against_the_chance_drawn() -> None:
    draws = itertools.cycle([0.0, 0.3, 0.6, 0.99])
    faults = Faults(chance=lambda: next(draws))
    faults.add(Fault(status=500, probability=0.5))
    fired = [faults.take_call("GET", "/api/v3/1/products") is not None for _ in range(8)]
    assert fired == [True, True, False, False] * 2


@pytest.mark.parametrize(("probability", "fires"), [(0.0, False), (1.0, True)])
def test_probability_zero_never_fires_and_one_always(probability: float, fires: bool) -> None:
    faults = Faults()
    faults.add(Fault(status=500, probability=probability))
    assert {faults.take_call("GET", "/api/v3/1") is not None for _ in range(200)} == {fires}


def test_a_skipped_chance_uses_none_of_times() -> None:
    draws = iter([0.9, 0.9, 0.1, 0.1])
    faults = Faults(chance=lambda: next(draws))
    faults.add(Fault(status=500, probability=0.5, times=1))
    fired = [faults.take_call("GET", "/api/v3/1") is not None for _ in range(4)]
    assert fired == [False, False, True, False]


def test_the_first_posted_matching_fault_fires() -> None:
    faults = Faults()
    first = faults.add(Fault(path="/api/v3/1/products", status=404, times=1))
    faults.add(Fault(status=500))
    assert faults.items()[0].id == first
    assert (fault := faults.take_call("GET", "/api/v3/1/products/9")) and fault.status == 404
    assert (fault := faults.take_call("GET", "/api/v3/1/products/9")) and fault.status == 500
    assert (fault := faults.take_call("GET", "/api/v3/1/profile")) and fault.status == 500


def test_a_fetch_fault_gives_its_status_and_other_hosts_fetch_as_usual() -> None:
    faults = Faults()
    faults.add(Fault(source_host="img.example", status=404))

    async def ask() -> tuple[int | None, int | None]:
        return await faults.before_fetch("img.example"), await faults.before_fetch("other.example")

    assert anyio.run(ask) == (404, None)
    assert faults.take_call("GET", "/api/v3/1/products") is None
