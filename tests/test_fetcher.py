"""The fetcher against real HTTP servers on loopback addresses; nothing else is contacted."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from product_media.domain.faults import Fault
from product_media.domain.source_validators import Validators
from product_media.ingest.address_policy import AddressPolicy, parse_networks
from product_media.ingest.fetcher import (
    HEAD_BYTES,
    Downloaded,
    Fetched,
    Fetcher,
    FetchError,
    FetchLimits,
    TooLarge,
)
from product_media.service.faults import Faults
from tests.source_server import SourceServer

# 127.0.0.1 plays the public internet; 127.0.0.2 plays an internal host.
PUBLIC = AddressPolicy(parse_networks("127.0.0.1/32"))
NOTHING_ALLOWED = AddressPolicy()
LIMITS = FetchLimits(max_bytes=100_000, connect_timeout=2.0, total_timeout=5.0)
# A refusal names the setting that lifts it; an address only where the URL spells it out.
HINT = "allow with PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS"
NAME_REFUSED = f"host resolves to a refused network; {HINT}"


def fetch(
    url: str,
    policy: AddressPolicy = PUBLIC,
    limits: FetchLimits = LIMITS,
    verify: ssl.SSLContext | None = None,
) -> Fetched:
    async def run() -> Fetched:
        fetcher = Fetcher(policy, verify=verify)
        try:
            return await fetcher.fetch(url, limits)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def failure(
    url: str,
    policy: AddressPolicy = PUBLIC,
    limits: FetchLimits = LIMITS,
    verify: ssl.SSLContext | None = None,
) -> str:
    with pytest.raises(FetchError) as info:
        fetch(url, policy, limits, verify)
    return str(info.value)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def source() -> Iterator[SourceServer]:
    with SourceServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def internal() -> Iterator[SourceServer]:
    with SourceServer("127.0.0.2") as server:
        yield server


def test_body_returned(source: SourceServer) -> None:
    url = source.add("/image.jpg", b"\xff\xd8\xff pixels")
    assert fetch(url) == Fetched(url, b"\xff\xd8\xff pixels")
    assert source.hits("/image.jpg") == 1


def test_request_names_the_real_host(source: SourceServer) -> None:
    source.add("/named", b"ok")
    # "localhost" may also resolve to ::1, where nothing listens; the fetch moves on.
    policy = AddressPolicy(parse_networks("127.0.0.1/32, ::1/128"))
    url = f"http://localhost:{source.port}/named?size=2"
    assert fetch(url, policy).content == b"ok"
    headers = {name.lower(): value for name, value in source.last_headers("/named").items()}
    assert headers["host"] == f"localhost:{source.port}"
    assert headers["accept-encoding"] == "identity"
    assert headers["user-agent"] == "product-media/0.1"


@pytest.mark.parametrize("status", [404, 500])
def test_error_status(source: SourceServer, status: int) -> None:
    url = source.add("/missing", b"nope", status=status)
    assert failure(url) == f"HTTP {status} from source"


def test_unknown_path_is_404(source: SourceServer) -> None:
    assert failure(source.url("/nothing-here")) == "HTTP 404 from source"


def test_redirect_chain_of_five_followed(source: SourceServer) -> None:
    for hop in range(5):
        source.redirect(f"/chain{hop}", f"/chain{hop + 1}", status=(301, 302, 303, 307, 308)[hop])
    final = source.add("/chain5", b"arrived")
    assert fetch(source.url("/chain0")) == Fetched(final, b"arrived")


def test_redirect_chain_of_six_refused(source: SourceServer) -> None:
    for hop in range(6):
        source.redirect(f"/long{hop}", source.url(f"/long{hop + 1}"))
    source.add("/long6", b"too far")
    assert failure(source.url("/long0")) == "too many redirects (more than 5)"
    assert source.hits("/long5") == 1
    assert source.hits("/long6") == 0


def test_redirect_loop(source: SourceServer) -> None:
    source.redirect("/ping", "/pong")
    source.redirect("/pong", "/ping")
    assert failure(source.url("/ping")) == "too many redirects (more than 5)"
    assert source.hits("/ping") + source.hits("/pong") == 6


def test_redirect_into_internal_host_refused(source: SourceServer, internal: SourceServer) -> None:
    secret = internal.add("/secret", b"credentials")
    url = source.redirect("/innocent", secret)
    assert failure(url) == f"refused address 127.0.0.2 (loopback); {HINT}"
    assert source.hits("/innocent") == 1
    assert internal.hits("/secret") == 0


def test_internal_host_refused(internal: SourceServer) -> None:
    url = internal.add("/secret", b"credentials")
    assert failure(url) == f"refused address 127.0.0.2 (loopback); {HINT}"
    assert internal.hits("/secret") == 0


def test_redirect_to_other_scheme_refused(source: SourceServer) -> None:
    url = source.redirect("/to-file", "file:///etc/passwd")
    assert failure(url) == "redirect to a non-http(s) URL"


def test_redirect_without_location_refused(source: SourceServer) -> None:
    url = source.add("/lost", status=302)
    assert failure(url) == "HTTP 302 redirect without a Location"


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        # Only standard notation counts as spelling the address out; the resolver's
        # numeric shorthands are told as names are.
        ("2130706433", NAME_REFUSED),
        ("0x7f000001", NAME_REFUSED),
        ("017700000001", NAME_REFUSED),
        ("127.1", NAME_REFUSED),
        ("0.0.0.0", f"refused address 0.0.0.0 (unspecified); {HINT}"),
        ("localhost", NAME_REFUSED),
        ("localhost.", NAME_REFUSED),
        ("LocalHost", NAME_REFUSED),
        (
            "[::ffff:127.0.0.1]",
            f"refused address ::ffff:7f00:1 (IPv4-mapped 127.0.0.1, loopback); {HINT}",
        ),
    ],
)
def test_loopback_spellings_refused(source: SourceServer, host: str, reason: str) -> None:
    source.add("/", b"loopback")
    assert failure(f"http://{host}:{source.port}/", NOTHING_ALLOWED) == reason
    assert source.hits("/") == 0


@pytest.mark.parametrize("name", ["localhost", "localhost.", "LocalHost"])
def test_refused_name_reveals_no_address(
    source: SourceServer, internal: SourceServer, name: str
) -> None:
    # "localhost" resolves to 127.0.0.1 (and maybe ::1): what a name resolves to is nobody's
    # business but the server's, on the first hop and after a redirect (here from 127.0.0.2,
    # the one host allowed) alike.
    source.add("/", b"loopback")
    target = f"http://{name}:{source.port}/"
    redirect = internal.redirect(f"/to-{name}", target)
    only_internal = AddressPolicy(parse_networks("127.0.0.2/32"))
    for url in (target, redirect):
        reason = failure(url, only_internal)
        assert reason == NAME_REFUSED
        assert not any(part in reason for part in ("127.", "::1", "loopback")), reason
    assert internal.hits(f"/to-{name}") == 1
    assert source.hits("/") == 0


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_ipv6_loopback_refused() -> None:
    with SourceServer("::1") as server:
        server.add("/", b"loopback")
        assert failure(f"http://[::1]:{server.port}/", NOTHING_ALLOWED) == (
            f"refused address ::1 (loopback); {HINT}"
        )
        assert server.hits("/") == 0


def test_declared_length_over_limit_refused_before_body(source: SourceServer) -> None:
    # The body is far shorter than declared: reading it would fail differently.
    url = source.add("/huge", b"x" * 10, content_length=10**9)
    limits = FetchLimits(max_bytes=1000, connect_timeout=2.0, total_timeout=5.0)
    assert failure(url, limits=limits) == "larger than 1000 bytes"
    assert source.hits("/huge") == 1


def test_body_at_limit_accepted(source: SourceServer) -> None:
    url = source.add("/exact", b"x" * 1000)
    limits = FetchLimits(max_bytes=1000, connect_timeout=2.0, total_timeout=5.0)
    assert fetch(url, limits=limits).content == b"x" * 1000


def test_endless_body_cut_at_limit(source: SourceServer) -> None:
    url = source.endless("/stream")
    limits = FetchLimits(max_bytes=1_000_000, connect_timeout=2.0, total_timeout=5.0)
    assert failure(url, limits=limits) == "larger than 1000000 bytes"


def test_dripping_body_cut_by_total_timeout(source: SourceServer) -> None:
    url = source.drip("/slow", b"x" * 100, interval=0.1)
    limits = FetchLimits(max_bytes=1000, connect_timeout=1.0, total_timeout=1.5)
    # The whole body would take 10 s; only the total timeout can end the fetch this way.
    assert failure(url, limits=limits) == "timed out after 1.5 s"


def test_slow_headers_cut_by_total_timeout() -> None:
    with SourceServer(latency=10) as slow:
        url = slow.add("/late", b"eventually")
        limits = FetchLimits(max_bytes=1000, connect_timeout=1.0, total_timeout=0.5)
        assert failure(url, limits=limits) == "timed out after 0.5 s"


def test_compressed_body_refused(source: SourceServer) -> None:
    url = source.add("/packed", gzip.compress(b"x" * 1000), headers={"Content-Encoding": "gzip"})
    assert failure(url) == "unsupported Content-Encoding gzip"


def test_identity_encoding_accepted(source: SourceServer) -> None:
    url = source.add("/plain", b"plain", headers={"Content-Encoding": "identity"})
    assert fetch(url).content == b"plain"


def test_empty_body_refused(source: SourceServer) -> None:
    assert failure(source.add("/empty", b"")) == "empty response body"


def test_truncated_body_refused(source: SourceServer) -> None:
    url = source.add("/cut", b"x" * 10, content_length=100)
    assert failure(url) == "broken HTTP response from source"


def test_other_scheme_refused(source: SourceServer) -> None:
    source.add("/file", b"data")
    assert failure(f"ftp://127.0.0.1:{source.port}/file") == "not an http(s) URL"
    assert source.hits("/file") == 0


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real failed lookup would ask a DNS server off this machine; stand in for its answer.
    def no_such_name(*_args: object, **_kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    assert failure("http://media.example.invalid/image.jpg") == "could not resolve host"


def test_nothing_listening() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        assert failure(f"http://127.0.0.1:{port}/") == "could not connect"


@pytest.mark.parametrize("url", ["http://", "http://[::1/", "http://127.0.0.1:99999/", "nonsense"])
def test_malformed_url_refused(url: str) -> None:
    assert failure(url)


# A test certificate authority stands in for the public ones, which no local server can use.
LOOPBACK_NAMES = AddressPolicy(parse_networks("127.0.0.1/32, ::1/128"))


def _tls_source(ca: trustme.CA, *names: str) -> SourceServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return SourceServer("127.0.0.1", tls=context)


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_https_source_is_reached_by_its_checked_address_under_its_name() -> None:
    ca = trustme.CA()
    with _tls_source(ca, "localhost") as source:
        source.add("/secure.jpg", b"over tls")
        url = source.url("/secure.jpg", host="localhost")
        fetched = fetch(url, LOOPBACK_NAMES, verify=_trusting(ca))
        assert fetched.content == b"over tls"
        assert source.last_headers("/secure.jpg")["Host"] == f"localhost:{source.port}"


def test_https_certificate_for_another_name_is_refused() -> None:
    ca = trustme.CA()
    with _tls_source(ca, "media.example") as source:
        source.add("/secure.jpg", b"over tls")
        url = source.url("/secure.jpg", host="localhost")
        reason = failure(url, LOOPBACK_NAMES, verify=_trusting(ca))
        assert reason.startswith("TLS certificate not valid: Hostname mismatch")
        assert source.hits("/secure.jpg") == 0


def test_https_certificate_from_an_unknown_authority_is_refused() -> None:
    with _tls_source(trustme.CA(), "localhost") as source:
        source.add("/secure.jpg", b"over tls")
        url = source.url("/secure.jpg", host="localhost")
        reason = failure(url, LOOPBACK_NAMES, verify=_trusting(trustme.CA()))
        assert reason.startswith("TLS certificate not valid: unable to get local issuer")
        assert source.hits("/secure.jpg") == 0


def test_https_source_by_ip_address() -> None:
    ca = trustme.CA()
    with _tls_source(ca, "127.0.0.1") as source:
        source.add("/secure.jpg", b"over tls")
        assert fetch(source.url("/secure.jpg"), verify=_trusting(ca)).content == b"over tls"


def download(
    url: str, target: Path, limits: FetchLimits = LIMITS, check_head: Any = None
) -> Downloaded:
    async def run() -> Downloaded:
        fetcher = Fetcher(PUBLIC)
        try:
            return await fetcher.download(url, limits, target, check_head=check_head)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def test_download_streams_to_a_file_and_hashes(source: SourceServer, tmp_path: Path) -> None:
    """Over several writes to the file, after a redirect: the file, its size, hash and head."""
    body = bytes(range(256)) * 10_000
    final = source.add("/video.bin", body)
    source.redirect("/to-video", "/video.bin")
    seen: list[bytes] = []
    got = download(
        source.url("/to-video"),
        tmp_path / "copy",
        FetchLimits(max_bytes=len(body), connect_timeout=2, total_timeout=5),
        seen.append,
    )
    assert got == Downloaded(final, len(body), hashlib.sha256(body).hexdigest(), body[:HEAD_BYTES])
    assert (tmp_path / "copy").read_bytes() == body
    assert seen == [body[:HEAD_BYTES]]


def test_download_of_a_short_body_checks_all_of_it(source: SourceServer, tmp_path: Path) -> None:
    seen: list[bytes] = []
    got = download(source.add("/tiny", b"tiny"), tmp_path / "copy", check_head=seen.append)
    assert (got.size, got.head, seen) == (4, b"tiny", [b"tiny"])


def test_download_stops_where_the_head_check_says(source: SourceServer, tmp_path: Path) -> None:
    class NotWanted(Exception):
        pass

    def refuse(head: bytes) -> None:
        raise NotWanted(head[:6])

    url = source.endless("/endless-page", b"<html>" + b" " * 65530)
    with pytest.raises(NotWanted):
        download(url, tmp_path / "copy", check_head=refuse)
    assert (tmp_path / "copy").stat().st_size == 0


@pytest.mark.parametrize("declared", [True, False])
def test_download_is_cut_at_the_limit(source: SourceServer, tmp_path: Path, declared: bool) -> None:
    body = b"\0" * 200_000
    url = source.add("/big", body) if declared else source.endless("/big-endless")
    with pytest.raises(TooLarge, match="larger than 100000 bytes"):
        download(url, tmp_path / "copy")
    written = (tmp_path / "copy").stat().st_size
    # A declared length over the limit is refused before any of the body is read.
    assert written == 0 if declared else written <= 100_000


# -- the emulator's faults: asked before each hop, by host ------------------------------------


def _fetch_with_faults(url: str, faults: Faults, policy: AddressPolicy = PUBLIC) -> Fetched:
    async def run() -> Fetched:
        fetcher = Fetcher(policy, faults=faults)
        try:
            return await fetcher.fetch(url, LIMITS)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def test_a_fault_answers_for_its_host_at_any_hop(source: SourceServer) -> None:
    faults = Faults()
    faults.add(Fault(source_host="img.invalid", status=410))
    url = source.redirect("/to-faulted", "http://img.invalid/a.jpg")
    with pytest.raises(FetchError, match=r"^HTTP 410 from source$"):
        _fetch_with_faults(url, faults)
    # The faulted host is never looked up, so even a refused address answers as the fault says.
    faults.add(Fault(source_host="10.1.2.3", status=410))
    with pytest.raises(FetchError, match=r"^HTTP 410 from source$"):
        _fetch_with_faults("http://10.1.2.3/a.jpg", faults, NOTHING_ALLOWED)


def test_a_delay_fault_then_fetches_as_usual(source: SourceServer) -> None:
    faults = Faults()
    faults.add(Fault(source_host=source.host, delay_ms=20, times=1))
    url = source.add("/delayed.jpg", b"bytes")
    assert _fetch_with_faults(url, faults).content == b"bytes"
    assert faults.items() == []
    assert source.hits("/delayed.jpg") == 1


# Conditional fetches (re-syncs)


def unchanged(url: str, validators: Validators, policy: AddressPolicy = PUBLIC) -> bool:
    async def run() -> bool:
        fetcher = Fetcher(policy)
        try:
            return await fetcher.unchanged(url, LIMITS, validators)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


STAMP = "Wed, 01 Jan 2025 00:00:00 GMT"


def test_a_fetch_keeps_the_validators_of_its_url(source: SourceServer) -> None:
    url = source.add("/v.jpg", b"body", headers={"ETag": 'W/"7"', "Last-Modified": STAMP})
    assert fetch(url).validators == Validators('W/"7"', STAMP)
    assert fetch(source.add("/plain.jpg", b"body")).validators is None


def test_validators_after_a_redirect_are_not_kept(source: SourceServer) -> None:
    # They describe the target, which the URL may stop pointing to.
    target = source.add("/target.jpg", b"body", headers={"ETag": '"t"'})
    fetched = fetch(source.redirect("/moved.jpg", target))
    assert fetched.content == b"body"
    assert fetched.validators is None


def test_validators_too_long_to_be_validators_are_not_kept(source: SourceServer) -> None:
    url = source.add("/long.jpg", b"body", headers={"ETag": '"' + "x" * 300 + '"'})
    assert fetch(url).validators is None


@pytest.mark.parametrize(
    ("validators", "answer"),
    [
        (Validators('"a"', STAMP), True),
        (Validators('"a"', None), True),
        (Validators('"b"', STAMP), False),
    ],
)
def test_unchanged_asks_conditionally(
    source: SourceServer, validators: Validators, answer: bool
) -> None:
    url = source.add("/c.jpg", b"body", headers={"ETag": '"a"'}, not_modified_for='"a"')
    assert unchanged(url, validators) is answer
    headers = source.last_headers("/c.jpg")
    assert headers["If-None-Match"] == validators.etag
    if validators.last_modified is None:
        assert "If-Modified-Since" not in headers
    else:
        assert headers["If-Modified-Since"] == validators.last_modified


def test_unchanged_is_false_for_a_304_after_a_redirect_or_a_failure(
    source: SourceServer,
) -> None:
    target = source.add("/t.jpg", b"body", headers={"ETag": '"a"'}, not_modified_for='"a"')
    assert not unchanged(source.redirect("/r.jpg", target), Validators('"a"', None))
    # Only the request for the URL itself is conditional.
    assert "If-None-Match" not in source.last_headers("/t.jpg")
    assert not unchanged(source.url("/missing.jpg"), Validators('"a"', None))
    refused = source.add("/x.jpg", b"x")
    assert not unchanged(refused, Validators('"a"', None), NOTHING_ALLOWED)
    assert source.hits("/x.jpg") == 0


def test_a_dripping_body_holds_back_no_other_fetch_of_the_fetcher(source: SourceServer) -> None:
    # Bodies are read in turns; one that has to wait for its source must not keep the turn.
    dripping = source.drip("/drip/turns", b"x" * 40, interval=0.1)
    bodies = {source.add(f"/fast/turns{i}", bytes([i]) * 3_000_000): i for i in range(4)}
    limits = FetchLimits(max_bytes=5_000_000, connect_timeout=2.0, total_timeout=30.0)

    async def run() -> tuple[list[str], float]:
        fetcher = Fetcher(PUBLIC)
        finished: list[str] = []

        async def one(url: str) -> None:
            fetched = await fetcher.fetch(url, limits)
            finished.append(url)
            if url in bodies:
                assert fetched.content == bytes([bodies[url]]) * 3_000_000

        try:
            drip = asyncio.create_task(one(dripping))
            await asyncio.sleep(0.3)  # the drip is reading its body, holding a turn if any
            await asyncio.gather(*(one(url) for url in bodies))
            fast_done = asyncio.get_running_loop().time()
            await drip
            return finished, asyncio.get_running_loop().time() - fast_done
        finally:
            await fetcher.aclose()

    finished, drip_after = asyncio.run(run())
    # The drip takes 4 s in all: every fast body came whole while it still had seconds to go.
    assert finished[-1] == dripping
    assert drip_after > 1.0
