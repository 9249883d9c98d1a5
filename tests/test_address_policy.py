import ipaddress

import pytest

from product_media.ingest.address_policy import AddressPolicy, parse_networks

REFUSED = [
    # IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.1", "private network"),
    ("10.255.255.255", "private network"),
    ("172.16.0.1", "private network"),
    ("172.31.255.254", "private network"),
    ("192.168.1.1", "private network"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("100.127.255.254", "shared address space (CGNAT)"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.254", "reserved"),
    ("255.255.255.255", "broadcast"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "unique local"),
    ("fd12:3456:789a::1", "unique local"),
    ("fe80::1", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("100::1", "discard-only"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("4000::1", "reserved"),
    ("2001:1::3", "not globally routable"),
    # IPv6 forms that carry an IPv4 address
    ("::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1, loopback"),
    ("::ffff:10.1.2.3", "IPv4-mapped 10.1.2.3, private network"),
    ("::ffff:169.254.169.254", "IPv4-mapped 169.254.169.254, link-local"),
    ("::ffff:0.0.0.0", "IPv4-mapped 0.0.0.0, unspecified"),
    ("::127.0.0.1", "IPv4-compatible 127.0.0.1, loopback"),
    ("::10.0.0.1", "IPv4-compatible 10.0.0.1, private network"),
    ("::0.0.0.2", "IPv4-compatible 0.0.0.2, unspecified"),
    ("::8.8.8.8", "reserved"),
    ("64:ff9b::127.0.0.1", "NAT64 127.0.0.1, loopback"),
    ("64:ff9b::192.168.0.1", "NAT64 192.168.0.1, private network"),
    ("2002:7f00:1::", "6to4 127.0.0.1, loopback"),
    ("2002:a9fe:a9fe::1", "6to4 169.254.169.254, link-local"),
    ("2002:c0a8:101::1", "6to4 192.168.1.1, private network"),
    # Teredo: server 127.0.0.1, client 8.8.8.8 (stored inverted).
    ("2001:0:7f00:1::f7f7:f7f7", "Teredo server 127.0.0.1, loopback"),
    # Teredo: server 8.8.8.8, client 10.0.0.1.
    ("2001:0:808:808::f5ff:fffe", "Teredo client 10.0.0.1, private network"),
    # Teredo: both ends public, but the Teredo prefix itself is not globally routable.
    ("2001:0:808:808::f7f7:f7f7", "not globally routable"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "198.20.0.1",
    "2606:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_refused_by_default(text: str, reason: str) -> None:
    address = ipaddress.ip_address(text)
    assert AddressPolicy().refusal(address) == f"refused address {address} ({reason})"


@pytest.mark.parametrize("text", ALLOWED)
def test_public_addresses_allowed(text: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(text)) is None


ALLOWLIST = [
    ("127.0.0.2/32", "127.0.0.2", True),
    ("127.0.0.2/32", "::ffff:127.0.0.2", True),
    ("127.0.0.2/32", "64:ff9b::127.0.0.2", True),
    ("127.0.0.2/32", "2002:7f00:2::1", True),
    ("127.0.0.2/32", "::127.0.0.2", True),
    ("127.0.0.2/32", "127.0.0.3", False),
    ("127.0.0.2/32", "::ffff:127.0.0.3", False),
    ("127.0.0.2/32", "10.0.0.1", False),
    ("127.0.0.2/32", "::1", False),
    ("::1/128", "::1", True),
    ("::1/128", "127.0.0.1", False),
    ("10.0.0.0/8, fd00::/8", "10.20.30.40", True),
    ("10.0.0.0/8, fd00::/8", "fd00::5", True),
    ("10.0.0.0/8, fd00::/8", "fc00::5", False),
    ("2002::/16", "2002:7f00:1::", True),
]


@pytest.mark.parametrize(("allowed", "text", "is_allowed"), ALLOWLIST)
def test_allowed_networks(allowed: str, text: str, is_allowed: bool) -> None:
    policy = AddressPolicy(parse_networks(allowed))
    refusal = policy.refusal(ipaddress.ip_address(text))
    assert (refusal is None) == is_allowed, refusal


@pytest.mark.parametrize(
    ("text", "networks"),
    [
        ("", ()),
        (" , ,", ()),
        ("127.0.0.1/32", (ipaddress.ip_network("127.0.0.1/32"),)),
        (
            "127.0.0.1/32, ::1/128",
            (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")),
        ),
        (
            " 10.0.0.0/8 ,,fd00::/8 ",
            (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")),
        ),
        ("192.0.2.7", (ipaddress.ip_network("192.0.2.7/32"),)),
    ],
)
def test_parse_networks(text: str, networks: tuple[object, ...]) -> None:
    assert parse_networks(text) == networks


@pytest.mark.parametrize(
    "text",
    ["localhost", "127.0.0.1/33", "10.0.0.1/8", "::1/129", "1.2.3/24", "127.0.0.1/32; ::1/128"],
)
def test_parse_networks_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="CIDR"):
        parse_networks(text)
