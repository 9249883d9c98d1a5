"""Hostile sources, bad input and crashes, against the running service (DESIGN sections 3, 4).

A service of its own may fetch from 127.0.0.2 only: a source server there plays a host on the
internet, and source servers on 127.0.0.1 and ::1 play internal hosts, which must never see a
request however a URL spells their address. The other tests serve hostile files (or send them
in hostile ways) from the outside host: each item must fail with a reason, or succeed where the
file is a legitimate image, and the service must keep answering with the product unchanged.
The service runs in this process, on the embedded backend: these tests are about the fetcher
and the image pipeline, not storage.

Nothing here leaves the loopback interface. Names are resolved from the hosts file only
("localhost"); spellings the system resolver would hand to a DNS server, and DNS answers that
only a DNS server could give, are checked against the fetcher in-process with a stand-in
resolver.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from product_media.ingest.address_policy import AddressPolicy, parse_networks
from product_media.ingest.fetcher import Fetched, Fetcher, FetchError, FetchLimits
from tests.inprocess import EMBEDDED, ROUTER, InProcessService
from tests.media_factory import (
    OTHER_FRAME_GREEN,
    gif,
    gif_bomb,
    gif_frames,
    html,
    jpeg,
    jpeg_bomb,
    png,
    png_bomb,
    png_with_chunk,
    png_with_icc,
    profile,
    progressive_scan_bomb,
    svg,
    truncated,
    webp,
    webp_bomb,
    webp_frames,
    webp_lossy_bomb,
    webp_with_icc,
    zip_archive,
)
from tests.source_server import SourceServer

MAX_BYTES = 4_000_000
DOWNLOAD_TIMEOUT = 2
MAX_PIXELS = 100_000_000
SIZE_FIELDS = {
    160: "image160pxUrl",
    400: "image400pxUrl",
    800: "image800pxUrl",
    1500: "image1500pxUrl",
}

# -- the service, its sources and a product to attack --------------------------------------


@pytest.fixture(scope="module")
def outside() -> Iterator[SourceServer]:
    """The one host the service may fetch from."""
    with SourceServer("127.0.0.2") as server:
        yield server


@pytest.fixture(scope="module")
def inside() -> Iterator[dict[str, SourceServer]]:
    """Internal hosts by address family: they must never be contacted."""
    with SourceServer("127.0.0.1") as v4, SourceServer("::1") as v6:
        yield {"v4": v4, "v6": v6}


@pytest.fixture(scope="module")
def hostile_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(
        tmp_path_factory.mktemp("hostile"),
        EMBEDDED,
        allow_source_networks="127.0.0.2/32",
        rate_limit_per_minute=0,
        # Short, so the slow sources cost seconds, and small, so the endless ones do too.
        image_download_timeout=DOWNLOAD_TIMEOUT,
        image_max_bytes=MAX_BYTES,
    ).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def store(hostile_service: InProcessService) -> tuple[int, str]:
    return hostile_service.new_store()


@pytest.fixture(scope="module")
def api(hostile_service: InProcessService, store: tuple[int, str]) -> Iterator[httpx.Client]:
    # The timeout only guards against a hang; no request here comes close to it. (In process
    # a request waits for the app's answer, and the app's own download timeout bounds that.)
    with hostile_service.client(store[1], timeout=30) as client:
        yield client


def unique(name: str) -> str:
    """A path no other test uses, so hit counts are this test's own."""
    return f"/hostile/{uuid.uuid4().hex}/{name}"


@pytest.fixture(scope="module")
def seed(outside: SourceServer) -> tuple[str, str]:
    """URLs of a main image and a gallery image that every product starts with."""
    return outside.add(unique("main.jpg"), jpeg(48, 32)), outside.add(unique("g.png"), png(32, 48))


@dataclass(frozen=True)
class Product:
    """A product with a main image and one gallery image, and its media as first shown."""

    path: str
    gallery_url: str
    media: dict[str, Any]


@pytest.fixture
def product(api: httpx.Client, store: tuple[int, str], seed: tuple[str, str]) -> Product:
    created = api.post(f"/api/v3/{store[0]}/products", json={"name": "Target"})
    assert created.status_code == 200, created.text
    path = f"/api/v3/{store[0]}/products/{created.json()['id']}"
    main_url, gallery_url = seed
    body = {"mainMedia": {"imageUrl": main_url}, "galleryMedia": [{"imageUrl": gallery_url}]}
    seeded = api.put(f"{path}/media", json=body)
    assert seeded.json() == {
        "mainMedia": {"success": True, "id": "0"},
        "galleryMedia": [{"success": True, "id": "1"}],
    }
    return Product(path, gallery_url, get_product(api, path)["media"])


def get_product(api: httpx.Client, path: str) -> dict[str, Any]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def attack(api: httpx.Client, product: Product, url: str) -> list[dict[str, Any]]:
    """PUT `url` as main image and first gallery item (keeping the other); their results."""
    body = {
        "mainMedia": {"imageUrl": url},
        "galleryMedia": [{"imageUrl": url}, {"imageUrl": product.gallery_url}],
    }
    response = api.put(f"{product.path}/media", json=body)
    assert response.status_code == 200, response.text
    results = response.json()
    assert set(results) == {"mainMedia", "galleryMedia"}
    assert results["galleryMedia"][1] == {"success": True, "id": "1"}
    return [results["mainMedia"], results["galleryMedia"][0]]


def assert_refused(results: list[dict[str, Any]], url: str, reason: str) -> None:
    """Every result is a failure whose message names `url` and starts its reason with `reason`."""
    for result in results:
        assert set(result) == {"success", "errorCode", "errorMessage"}, result
        assert result["success"] is False
        assert result["errorCode"] == "DOWNLOAD_IMAGE_FAILED"
        assert result["errorMessage"].startswith(f"{url}: {reason}"), result["errorMessage"]


def assert_alive(service: InProcessService) -> None:
    """The service still runs and answers (in process, there is no process to poll)."""
    with service.client(None, timeout=30) as client:
        health = client.get("/healthz")
    assert health.status_code == 200, health.text


def assert_unchanged(api: httpx.Client, service: InProcessService, product: Product) -> None:
    """The service still runs and answers, and the product shows the media it had."""
    assert_alive(service)
    assert get_product(api, product.path)["media"] == product.media


# -- address policy, every spelling ------------------------------------------------------------

# A refusal names the setting that lifts it, and the address only where the URL spells it
# out in standard notation: what a name (or the resolver's numeric shorthand) resolves to is
# not told, or anyone with a token could map internal names to addresses.
HINT = "allow with PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS"
NAME = f"host resolves to a refused network; {HINT}"
LOOPBACK = f"refused address 127.0.0.1 (loopback); {HINT}"
UNSPECIFIED = f"refused address 0.0.0.0 (unspecified); {HINT}"
V6_LOOPBACK = f"refused address ::1 (loopback); {HINT}"
V6_UNSPECIFIED = f"refused address :: (unspecified); {HINT}"
MAPPED = f"refused address ::ffff:7f00:1 (IPv4-mapped 127.0.0.1, loopback); {HINT}"
COMPATIBLE = f"refused address ::7f00:1 (IPv4-compatible 127.0.0.1, loopback); {HINT}"

# The host as the URL spells it, the internal server that address reaches, and the refusal.
# Connecting to 0.0.0.0 or :: reaches the machine itself, and to ::ffff:127.0.0.1 the IPv4
# loopback, so each of these would land on an internal server if it got through.
SPELLINGS = [
    ("127.0.0.1", "v4", LOOPBACK),
    ("2130706433", "v4", NAME),
    ("0x7f000001", "v4", NAME),
    ("017700000001", "v4", NAME),
    ("0177.0.0.1", "v4", NAME),
    ("0x7f.0.0.1", "v4", NAME),
    ("127.000.000.001", "v4", NAME),
    ("127.1", "v4", NAME),
    ("127.0.1", "v4", NAME),
    ("0x7f.1", "v4", NAME),
    ("localhost", "v4", NAME),
    ("LocalHost", "v4", NAME),
    ("0.0.0.0", "v4", UNSPECIFIED),
    ("0", "v4", NAME),
    ("[::1]", "v6", V6_LOOPBACK),
    ("[0:0:0:0:0:0:0:1]", "v6", V6_LOOPBACK),
    ("[::]", "v6", V6_UNSPECIFIED),
    ("[::ffff:127.0.0.1]", "v4", MAPPED),
    ("[::ffff:7f00:1]", "v4", MAPPED),
    ("[0:0:0:0:0:ffff:7f00:1]", "v4", MAPPED),
    ("[::127.0.0.1]", "v4", COMPATIBLE),
    ("[::7f00:1]", "v4", COMPATIBLE),
]


def hosts_file_names() -> set[str]:
    names: set[str] = set()
    for line in Path("/etc/hosts").read_text().splitlines():
        names.update(name.lower() for name in line.partition("#")[0].split()[1:])
    return names


def internal_url(inside: dict[str, SourceServer], host: str, family: str) -> tuple[str, str]:
    """A secret on the internal server of `family`, addressed as `host`: (URL, path)."""
    if not host[0].isdigit() and not host.startswith("["):
        # A name missing from the hosts file would be asked of a DNS server off this machine.
        assert host.lower() in hosts_file_names(), f"{host} is not in /etc/hosts"
    server = inside[family]
    path = unique("secret.jpg")
    server.add(path, jpeg(40, 30))
    return f"http://{host}:{server.port}{path}", path


@pytest.mark.parametrize(("host", "family", "reason"), SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_internal_address_is_never_contacted(
    api: httpx.Client,
    hostile_service: InProcessService,
    product: Product,
    inside: dict[str, SourceServer],
    host: str,
    family: str,
    reason: str,
) -> None:
    url, path = internal_url(inside, host, family)
    assert_refused(attack(api, product, url), url, reason)
    assert inside[family].hits(path) == 0
    assert_unchanged(api, hostile_service, product)


@pytest.mark.parametrize(("host", "family", "reason"), SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_redirect_to_internal_address_is_refused(
    api: httpx.Client,
    hostile_service: InProcessService,
    product: Product,
    outside: SourceServer,
    inside: dict[str, SourceServer],
    host: str,
    family: str,
    reason: str,
) -> None:
    target, path = internal_url(inside, host, family)
    start = unique("innocent.jpg")
    url = outside.redirect(start, target)
    assert_refused(attack(api, product, url), url, reason)
    assert outside.hits(start) == 1
    assert inside[family].hits(path) == 0
    assert_unchanged(api, hostile_service, product)


@pytest.mark.parametrize("form", ["scheme-relative", "https", "307", "second-hop"])
def test_redirect_forms_to_internal_address_are_refused(
    api: httpx.Client,
    hostile_service: InProcessService,
    product: Product,
    outside: SourceServer,
    inside: dict[str, SourceServer],
    form: str,
) -> None:
    target, path = internal_url(inside, "127.1", "v4")
    start, middle = unique("innocent.jpg"), unique("middle.jpg")
    if form == "scheme-relative":
        url = outside.redirect(start, target.removeprefix("http:"))
    elif form == "https":
        url = outside.redirect(start, target.replace("http:", "https:", 1))
    elif form == "307":
        url = outside.redirect(start, target, status=307)
    else:
        url = outside.redirect(start, outside.redirect(middle, target, status=301))
    assert_refused(attack(api, product, url), url, NAME)
    assert outside.hits(start) == 1
    assert outside.hits(middle) == (1 if form == "second-hop" else 0)
    assert inside["v4"].hits(path) == 0
    assert_unchanged(api, hostile_service, product)


# The same spellings naming the allowed host: the service reaches it, so the refusals above
# come from the policy on the address each spelling means, not from a failure to parse it.
ALLOWED_SPELLINGS = [
    "127.0.0.2",
    "2130706434",
    "0x7f000002",
    "0177.0.0.2",
    "127.2",
    "[::ffff:127.0.0.2]",
    "[::ffff:7f00:2]",
]


@pytest.mark.parametrize("host", ALLOWED_SPELLINGS)
def test_allowed_address_is_reached_by_any_spelling(
    api: httpx.Client, product: Product, outside: SourceServer, host: str
) -> None:
    path = unique("public.jpg")
    outside.add(path, jpeg(40, 30))
    url = f"http://{host}:{outside.port}{path}"
    response = api.put(f"{product.path}/media", json={"galleryMedia": [{"imageUrl": url}]})
    assert response.json() == {"galleryMedia": [{"success": True, "id": "1"}]}
    assert outside.hits(path) == 1


# -- the fetcher's resolver, in-process ------------------------------------------------------

POLICY = AddressPolicy(parse_networks("127.0.0.2/32"))
FETCH_LIMITS = FetchLimits(max_bytes=100_000, connect_timeout=2.0, total_timeout=5.0)

AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


class StandInResolver:
    """Answers names from a table, as DNS would; never asks a real DNS server.

    `answers` maps a name to the address lists of its successive lookups (the last repeats).
    Address literals are parsed as the system parses them, numerically only.
    """

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self._system = socket.getaddrinfo
        self.lookups: list[str] = []

    def __call__(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[AddrInfo]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            return self._system(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            pass
        rounds = self._answers.get(name.lower())
        if rounds is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = rounds[min(self.lookups.count(name.lower()), len(rounds) - 1)]
        self.lookups.append(name.lower())
        assert isinstance(port, int)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in addresses
        ]


def in_process_fetch(url: str) -> Fetched:
    async def run() -> Fetched:
        fetcher = Fetcher(POLICY)
        try:
            return await fetcher.fetch(url, FETCH_LIMITS)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def twins() -> Iterator[dict[str, SourceServer]]:
    """The allowed host and internal hosts on one port, so one URL can reach any of them."""
    for _ in range(10):
        with contextlib.ExitStack() as stack:
            public = stack.enter_context(SourceServer("127.0.0.2"))
            try:
                v4 = stack.enter_context(SourceServer("127.0.0.1", port=public.port))
                v6 = stack.enter_context(SourceServer("::1", port=public.port))
            except OSError:
                continue  # the port is taken on another address; try another one
            yield {"public": public, "v4": v4, "v6": v6}
            return
    raise RuntimeError("found no port free on every loopback address")


def serve_everywhere(servers: dict[str, SourceServer], body: bytes) -> str:
    path = unique("image.jpg")
    for server in servers.values():
        server.add(path, body)
    return path


def total_hits(servers: dict[str, SourceServer], path: str, *names: str) -> int:
    return sum(servers[name].hits(path) for name in names)


# A resolver may answer an absolute name ("localhost.", "intranet.example.") without looking at
# the hosts file, so the stand-in answers with and without the dot alike; the real thing, a DNS
# server, cannot be asked from here.
TRAILING_DOT_NAMES = ["localhost.", "LOCALHOST.", "intranet.example.", "127.0.0.1.", "2130706433."]


@pytest.mark.parametrize("redirected", [False, True], ids=["direct", "redirected"])
@pytest.mark.parametrize("name", TRAILING_DOT_NAMES)
def test_name_with_trailing_dot_is_refused(
    monkeypatch: pytest.MonkeyPatch, twins: dict[str, SourceServer], name: str, redirected: bool
) -> None:
    resolver = StandInResolver(
        {
            spelling: [["127.0.0.1"]]
            for bare in ("localhost", "intranet.example", "127.0.0.1", "2130706433")
            for spelling in (bare, f"{bare}.")
        }
    )
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    path = serve_everywhere(twins, b"secret")
    url = f"http://{name}:{twins['v4'].port}{path}"
    if redirected:
        url = twins["public"].redirect(unique("innocent.jpg"), url)
    with pytest.raises(FetchError) as refused:
        in_process_fetch(url)
    assert str(refused.value) == NAME
    assert total_hits(twins, path, "v4", "v6") == 0


# Several answers for one name: any refused one refuses the name, before any connection.
MIXED_ANSWERS = [
    ["127.0.0.2", "127.0.0.1"],
    ["127.0.0.1", "127.0.0.2"],
    ["127.0.0.2", "::1"],
    ["::1", "127.0.0.2"],
    ["127.0.0.2", "::ffff:127.0.0.1"],
    ["127.0.0.2", "::ffff:127.0.0.2", "0.0.0.0"],
]


@pytest.mark.parametrize("answers", MIXED_ANSWERS, ids=[" ".join(a) for a in MIXED_ANSWERS])
def test_any_refused_answer_refuses_the_name(
    monkeypatch: pytest.MonkeyPatch, twins: dict[str, SourceServer], answers: list[str]
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", StandInResolver({"cdn.example": [answers]}))
    path = serve_everywhere(twins, b"secret")
    with pytest.raises(FetchError) as refused:
        in_process_fetch(f"http://cdn.example:{twins['public'].port}{path}")
    assert str(refused.value) == NAME
    assert total_hits(twins, path, "public", "v4", "v6") == 0


def test_connection_goes_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, twins: dict[str, SourceServer]
) -> None:
    # A rebinding name: allowed when checked, internal on every later lookup. The fetcher
    # resolves once and connects to the address it checked, so the later answer never counts.
    resolver = StandInResolver({"rebind.example": [["127.0.0.2"], ["127.0.0.1"]]})
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    path = unique("image.jpg")
    twins["public"].add(path, b"public")
    twins["v4"].add(path, b"secret")
    url = f"http://rebind.example:{twins['public'].port}{path}"
    assert in_process_fetch(url).content == b"public"
    assert resolver.lookups == ["rebind.example"]
    assert twins["v4"].hits(path) == 0
    assert twins["public"].last_headers(path)["Host"] == f"rebind.example:{twins['public'].port}"


# -- hostile files ---------------------------------------------------------------------------


def gif_on_screen(width: int, height: int) -> bytes:
    """A 65000 x 65000 GIF frame on a logical screen of width x height."""
    data = bytearray(gif_bomb(65_000, 65_000))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


def declares(pixels: int) -> str:
    return f"declares {pixels} pixels, more than the {MAX_PIXELS} allowed"


GARBAGE_ICC = b"not a profile" * 20
GZIP_BOMB = gzip.compress(bytes(10_000_000)) * 100  # 1 GB once inflated, in about 1 MB


@dataclass(frozen=True)
class Bad:
    """A file that must be refused, the start of the reason, and headers to serve it with."""

    make: Callable[[], bytes]
    reason: str
    headers: dict[str, str] | None = None


BAD_FILES: dict[str, Bad] = {
    # Pixel bombs: a tiny file declaring huge dimensions, refused before any pixel is decoded.
    "jpeg-bomb": Bad(lambda: jpeg_bomb(65_000, 65_000), declares(65_000 * 65_000)),
    "jpeg-just-over": Bad(lambda: jpeg_bomb(10_001, 10_000), declares(100_010_000)),
    "png-bomb": Bad(lambda: png_bomb(60_000, 60_000), declares(60_000 * 60_000)),
    "png-just-over": Bad(lambda: png_bomb(10_000, 10_001), declares(100_010_000)),
    "gif-bomb": Bad(lambda: gif_bomb(65_000, 65_000), declares(65_000 * 65_000)),
    "gif-frame-beyond-screen": Bad(lambda: gif_on_screen(1, 1), declares(65_000 * 65_000)),
    "gif-screen-bomb": Bad(
        lambda: gif_frames(64, 48, 3, screen=(20_000, 20_000)), declares(4 * 10**8)
    ),
    "gif-screen-just-over": Bad(
        lambda: gif_frames(64, 48, 3, screen=(10_001, 10_000)), declares(100_010_000)
    ),
    "webp-lossless-bomb": Bad(lambda: webp_bomb(16_383, 16_383), declares(16_383**2)),
    "webp-lossy-bomb": Bad(lambda: webp_lossy_bomb(16_383, 16_383), declares(16_383**2)),
    "webp-canvas-bomb": Bad(
        lambda: webp_frames(64, 48, 3, canvas=(16_383, 16_383)), declares(16_383**2)
    ),
    "webp-canvas-past-format": Bad(
        lambda: webp_frames(64, 48, 3, canvas=(1 << 24, 1 << 24)), "truncated or corrupt WebP"
    ),
    # Thousands of frames on a huge canvas, and more frames than the decoder can afford.
    "gif-3000-frames-huge-screen": Bad(
        lambda: gif_frames(64, 48, 3000, screen=(20_000, 20_000)), declares(4 * 10**8)
    ),
    "webp-3000-frames-huge-canvas": Bad(
        lambda: webp_frames(64, 48, 3000, canvas=(16_383, 16_383)), declares(16_383**2)
    ),
    "webp-10001-frames": Bad(
        lambda: webp_frames(16, 16, 10_001), "animation of more than 10000 frames"
    ),
    # Within the pixel limit, but a scan per coefficient and bit: every scan visits each block.
    "jpeg-883-scans": Bad(
        lambda: progressive_scan_bomb(2000, 2000),
        "progressive JPEG of 883 scans, more than the 100",
    ),
    # Empty, cut short, or a signature with nothing behind it.
    "empty": Bad(lambda: b"", "empty response body"),
    "one-byte": Bad(lambda: b"\xff", "not an image"),
    "jpeg-signature-only": Bad(lambda: b"\xff\xd8\xff", "truncated or corrupt JPEG"),
    "png-signature-only": Bad(lambda: b"\x89PNG\r\n\x1a\n", "truncated or corrupt PNG"),
    "gif-signature-only": Bad(lambda: b"GIF89a", "truncated or corrupt GIF"),
    "webp-signature-only": Bad(lambda: b"RIFF\0\0\0\0WEBP", "truncated or corrupt WebP"),
    "jpeg-cut": Bad(lambda: truncated(jpeg(300, 200)), "truncated or corrupt JPEG"),
    "png-cut": Bad(lambda: truncated(png(300, 200)), "truncated or corrupt PNG"),
    "png-16-bit-cut": Bad(
        lambda: truncated(png(300, 200, bits=16), 0.9), "truncated or corrupt PNG"
    ),
    "gif-cut": Bad(lambda: truncated(gif(300, 200)), "truncated or corrupt GIF"),
    "animated-gif-cut": Bad(
        lambda: truncated(gif(300, 200, frames=3), 0.97), "truncated or corrupt GIF"
    ),
    "webp-cut": Bad(lambda: truncated(webp(300, 200)), "truncated or corrupt WebP"),
    "animated-webp-cut": Bad(
        lambda: truncated(webp(300, 200, frames=3), 0.97), "truncated or corrupt WebP"
    ),
    # Wrong signatures, and image signatures in front of something else.
    "png-signature-broken": Bad(lambda: b"\x88" + png(300, 200)[1:], "not an image"),
    "png-signature-jpeg-body": Bad(
        lambda: b"\x89PNG\r\n\x1a\n" + jpeg(50, 50), "truncated or corrupt PNG"
    ),
    "jpeg-signature-then-html": Bad(lambda: b"\xff\xd8\xff" + html(), "truncated or corrupt JPEG"),
    "gif-signature-then-script": Bad(
        lambda: b"GIF89a/*\0\0\0*/=alert(1);", "truncated or corrupt GIF"
    ),
    "webp-signature-then-zip": Bad(
        lambda: b"RIFF" + struct.pack("<I", 4 + len(zip_archive())) + b"WEBP" + zip_archive(),
        "truncated or corrupt WebP",
    ),
    "mp4-as-image": Bad(lambda: b"\0\0\0\x18ftypmp42" + bytes(64), "not an image"),
    "html": Bad(html, "not an image"),
    "html-with-bom": Bad(lambda: b"\xef\xbb\xbf" + html(), "not an image"),
    "html-then-jpeg": Bad(lambda: html() + jpeg(50, 50), "not an image"),
    "svg": Bad(svg, "not an image"),
    "svg-with-bom": Bad(lambda: b"\xef\xbb\xbf" + svg(), "not an image"),
    "zip": Bad(zip_archive, "not an image"),
    # Compressed bodies: never inflated, whatever they claim.
    "gzip-bomb": Bad(
        lambda: GZIP_BOMB, "unsupported Content-Encoding gzip", headers={"Content-Encoding": "gzip"}
    ),
    "gzip-of-jpeg": Bad(
        lambda: gzip.compress(jpeg(300, 200)),
        "unsupported Content-Encoding gzip",
        headers={"Content-Encoding": "gzip"},
    ),
    "deflate": Bad(
        lambda: zlib.compress(bytes(10_000_000)),
        "unsupported Content-Encoding deflate",
        headers={"Content-Encoding": "deflate"},
    ),
    "brotli": Bad(
        lambda: b"\x8b\x02\x80",
        "unsupported Content-Encoding br",
        headers={"Content-Encoding": "br"},
    ),
    "gzip-bomb-unlabelled": Bad(lambda: GZIP_BOMB, "not an image"),
    # Bodies past the size limit, however they say so.
    "declared-too-long": Bad(
        lambda: jpeg(40, 30),
        f"larger than {MAX_BYTES} bytes",
        headers={"Content-Length": str(10**12)},
    ),
}


def serve_bad(outside: SourceServer, bad: Bad) -> str:
    headers = {"Content-Type": "image/jpeg", **(bad.headers or {})}
    length = headers.pop("Content-Length", None)
    body = bad.make()
    path = unique("image.jpg")
    return outside.add(
        path, body, headers=headers, content_length=None if length is None else int(length)
    )


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_hostile_file_is_refused_with_a_reason(
    api: httpx.Client,
    hostile_service: InProcessService,
    product: Product,
    outside: SourceServer,
    case: str,
) -> None:
    bad = BAD_FILES[case]
    url = serve_bad(outside, bad)
    assert_refused(attack(api, product, url), url, bad.reason)
    assert_unchanged(api, hostile_service, product)


def _http(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode() + b"\r\n" + body


def _chunked(chunks: int) -> bytes:
    """A chunked response of `chunks` chunks of 64 KiB, without the final empty chunk."""
    chunk = b"10000\r\n" + b"\xff" * 0x10000 + b"\r\n"
    return _http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n") + chunk * chunks


IMAGE = jpeg(40, 30)
TIMED_OUT = f"timed out after {DOWNLOAD_TIMEOUT} s"
BROKEN = "broken HTTP response from source"

# Sources that misbehave at the HTTP level: (set up the route, start of the reason).
BAD_SOURCES: dict[str, tuple[Callable[[SourceServer, str], str], str]] = {
    "drips-one-byte-a-second": (lambda s, p: s.drip(p, IMAGE, interval=1.0), TIMED_OUT),
    "drips-its-headers": (
        lambda s, p: s.raw(
            p, _http(f"HTTP/1.1 200 OK\nContent-Length: {len(IMAGE)}\n", IMAGE), interval=1.0
        ),
        TIMED_OUT,
    ),
    "never-answers": (lambda s, p: s.stall(p), TIMED_OUT),
    "never-ends": (
        lambda s, p: s.endless(p, b"\xff\xd8\xff" * 21_845),
        f"larger than {MAX_BYTES} bytes",
    ),
    "chunked-past-the-limit": (
        lambda s, p: s.raw(p, _chunked(MAX_BYTES // 0x10000 + 2)),
        f"larger than {MAX_BYTES} bytes",
    ),
    "transfer-encoding-gzip": (
        lambda s, p: s.raw(
            p,
            _http("HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n")
            + b"%x\r\n" % len(GZIP_BOMB[:1000])
            + GZIP_BOMB[:1000]
            + b"\r\n0\r\n\r\n",
        ),
        BROKEN,
    ),
    "two-content-lengths": (
        lambda s, p: s.raw(
            p, _http("HTTP/1.1 200 OK\nContent-Length: 10\nContent-Length: 20\n", bytes(20))
        ),
        BROKEN,
    ),
    "endless-header": (
        lambda s, p: s.raw(p, b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1_000_000),
        BROKEN,
    ),
    "not-http": (lambda s, p: s.raw(p, html()), BROKEN),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_hostile_source_is_cut_off_with_a_reason(
    api: httpx.Client,
    hostile_service: InProcessService,
    product: Product,
    outside: SourceServer,
    case: str,
) -> None:
    setup, reason = BAD_SOURCES[case]
    url = setup(outside, unique("image.jpg"))
    assert_refused(attack(api, product, url), url, reason)
    assert_unchanged(api, hostile_service, product)


# -- legitimate files that look suspicious -----------------------------------------------------


@dataclass(frozen=True)
class Good:
    """A legitimate image, its size as displayed, and what its derived files must show."""

    make: Callable[[], bytes]
    size: tuple[int, int]
    marker: str | None = "red"  # colour of the top-left corner of the first frame
    alpha: bool = False


GOOD_FILES: dict[str, Good] = {
    "gif-3000-frames": Good(lambda: gif_frames(64, 48, 3000), (64, 48)),
    "webp-3000-frames": Good(lambda: webp_frames(64, 48, 3000), (64, 48)),
    "webp-10000-frames": Good(lambda: webp_frames(16, 16, 10_000), (16, 16)),
    "jpeg-64-scans": Good(lambda: progressive_scan_bomb(64, 64, bits=1), (64, 64), marker=None),
    "png-16-bit": Good(lambda: png(2000, 1000, bits=16), (2000, 1000)),
    "png-16-bit-alpha": Good(lambda: png(600, 400, bits=16, alpha=True), (600, 400), alpha=True),
    "png-palette": Good(lambda: png(400, 600, palette=True), (400, 600)),
    "png-palette-alpha": Good(
        lambda: png(600, 400, palette=True, alpha=True), (600, 400), alpha=True
    ),
    "png-grey-alpha": Good(lambda: png(600, 400, grey=True, alpha=True), (600, 400), "white", True),
    "png-grey-16-bit-alpha": Good(
        lambda: png(600, 400, grey=True, alpha=True, bits=16), (600, 400), "white", True
    ),
    "jpeg-garbage-icc": Good(lambda: jpeg(300, 200, icc=GARBAGE_ICC), (300, 200)),
    "jpeg-cut-icc": Good(lambda: jpeg(300, 200, icc=profile("p3")[:200]), (300, 200)),
    "cmyk-jpeg-garbage-icc": Good(lambda: jpeg(300, 200, cmyk=True, icc=GARBAGE_ICC), (300, 200)),
    "png-garbage-icc": Good(lambda: png_with_icc(300, 200, zlib.compress(GARBAGE_ICC)), (300, 200)),
    "png-icc-not-zlib": Good(lambda: png_with_icc(300, 200, GARBAGE_ICC), (300, 200)),
    "png-icc-zlib-bomb": Good(
        lambda: png_with_icc(300, 200, zlib.compress(bytes(10**8), 9)), (300, 200)
    ),
    "png-text-zlib-bomb": Good(
        lambda: png_with_chunk(
            png(300, 200), b"zTXt", b"Comment\0\0" + zlib.compress(bytes(10**8), 9)
        ),
        (300, 200),
    ),
    "webp-garbage-icc": Good(lambda: webp_with_icc(300, 200, GARBAGE_ICC), (300, 200)),
    # Polyglots: a complete image followed by something else is still that image.
    "jpeg-then-html": Good(lambda: jpeg(300, 200) + html(), (300, 200)),
    "jpeg-then-zip": Good(lambda: jpeg(300, 200) + zip_archive(), (300, 200)),
    "png-then-zip": Good(lambda: png(300, 200) + zip_archive(), (300, 200)),
    "gif-then-html": Good(lambda: gif(300, 200) + html(), (300, 200)),
    "webp-then-zip": Good(lambda: webp(300, 200) + zip_archive(), (300, 200)),
}


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """Fit inside box x box, never upscaling, rounding half up (DESIGN section 2)."""
    if width <= box and height <= box:
        return width, height
    if width >= height:
        return box, max(1, (2 * height * box + width) // (2 * width))
    return max(1, (2 * width * box + height) // (2 * height)), box


def fetch(url: str) -> httpx.Response:
    """GET a media URL the way a browser would; the in-process service has no socket."""
    with httpx.Client(timeout=30, transport=ROUTER) as browser:
        response = browser.get(url)
    assert response.status_code == 200, url
    return response


def fetch_image(url: str) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(fetch(url).content, "")


@pytest.mark.parametrize("case", list(GOOD_FILES))
def test_legitimate_file_is_accepted(
    api: httpx.Client, product: Product, outside: SourceServer, case: str
) -> None:
    good = GOOD_FILES[case]
    content = good.make()
    url = outside.add(unique("image.jpg"), content, headers={"Content-Type": "image/jpeg"})
    response = api.put(
        f"{product.path}/media",
        json={"mainMedia": {"imageUrl": url}, "galleryMedia": [{"imageUrl": url}]},
    )
    assert response.json() == {
        "mainMedia": {"success": True, "id": "0"},
        "galleryMedia": [{"success": True, "id": "1"}],
    }
    body = get_product(api, product.path)
    width, height = good.size
    assert (body["originalImage"]["width"], body["originalImage"]["height"]) == good.size
    assert (body["galleryImages"][0]["width"], body["galleryImages"][0]["height"]) == good.size
    main = body["media"]["images"][0]
    assert fetch(main["imageOriginalUrl"]).content == content
    for box, size_field in SIZE_FIELDS.items():
        derived = fetch_image(main[size_field])
        assert (derived.width, derived.height) == fit(width, height, box), box
        assert derived.bands == (4 if good.alpha else 3), box
        corner = derived(1, 1)
        if good.marker == "red":
            assert corner[0] > 180 and corner[1] < 80 and corner[2] < 80, (box, corner)
        elif good.marker == "white":
            assert min(corner[:3]) > 200, (box, corner)
        centre = derived(derived.width // 2, derived.height // 2)
        # Later frames are flat green: the first frame is the one shown.
        assert centre[1] < OTHER_FRAME_GREEN - 60, (box, centre)


# -- all at once -------------------------------------------------------------------------------


def test_every_hostile_file_at_once(
    api: httpx.Client, hostile_service: InProcessService, product: Product, outside: SourceServer
) -> None:
    urls = {case: serve_bad(outside, bad) for case, bad in BAD_FILES.items()}
    good = outside.add(unique("good.gif"), gif_frames(64, 48, 3000))
    items = [{"imageUrl": url} for url in urls.values()] + [{"imageUrl": good}]
    response = api.put(f"{product.path}/media", json={"galleryMedia": items})
    assert response.status_code == 200, response.text
    results = response.json()["galleryMedia"]
    for (case, url), result in zip(urls.items(), results[:-1], strict=True):
        assert_refused([result], url, BAD_FILES[case].reason)
    assert results[-1] == {"success": True, "id": "1"}
    assert_alive(hostile_service)
    assert len(get_product(api, product.path)["galleryImages"]) == 1
