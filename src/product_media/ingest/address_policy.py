"""Which IP addresses a fetch of a stranger's URL may connect to."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in rows)


# Named so a refusal says why; anything else not globally routable is caught afterwards.
# Order matters where ranges nest: broadcast sits inside the reserved 240.0.0.0/4.
_REFUSED = _table(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private network"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private network"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private network"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001:2::/48", "benchmarking"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)

# Traffic to these forms is delivered to the embedded IPv4 address itself, so the IPv4
# address alone decides; the prefixes would otherwise count as reserved.
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Networks from a comma separated list of CIDRs such as "127.0.0.1/32, ::1/128"."""
    networks: list[IPNetwork] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR notation: {item!r}") from exc
    return tuple(networks)


def _embedded_ipv4(address: IPAddress) -> tuple[tuple[str, ipaddress.IPv4Address], ...]:
    """The IPv4 addresses an IPv6 address carries, each with the name of its form."""
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return (("IPv4-mapped", address.ipv4_mapped),)
    if address in _NAT64:
        return (("NAT64", low32),)
    if address.sixtofour is not None:
        return (("6to4", address.sixtofour),)
    if address.teredo is not None:
        server, client = address.teredo
        return (("Teredo server", server), ("Teredo client", client))
    if int(address) >> 32 == 0 and int(address) > 1:
        return (("IPv4-compatible", low32),)
    return ()


def _classify(address: IPAddress) -> str | None:
    for network, reason in _REFUSED:
        if address in network:
            return reason
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally routable"
    return None


class AddressPolicy:
    """Refuses every address that is not plainly on the public internet, unless allowed."""

    def __init__(self, allowed_networks: Iterable[IPNetwork] = ()) -> None:
        self._allowed = tuple(allowed_networks)

    def _allows(self, address: IPAddress) -> bool:
        return any(address in network for network in self._allowed)

    def refusal(self, address: IPAddress) -> str | None:
        """None if a fetch may connect to `address`, else a short reason."""
        embedded = _embedded_ipv4(address)
        if self._allows(address) or (embedded and all(self._allows(v4) for _, v4 in embedded)):
            return None
        for form, v4 in embedded:
            reason = _classify(v4)
            if reason is not None:
                return f"refused address {address} ({form} {v4}, {reason})"
        if address in _IPV4_MAPPED or address in _NAT64:
            return None
        reason = _classify(address)
        return None if reason is None else f"refused address {address} ({reason})"
