"""Which IP addresses an outbound connection (a webhook) may go to (pure; no I/O).

:func:`address_problem` refuses every IANA special-purpose block, non-global IPv6 and IPv4
hidden in IPv6 forms, and says why; explicit tables, not :mod:`ipaddress`'s changing notion of
"private" (docs/design.md §11.5; tests/unit/test_webhook_addresses.py: one row per entry).
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA IPv4 Special-Purpose Address Registry (iana-ipv4-special-registry), every entry,
# plus multicast (RFC 5771), which has its own registry.
IPV4_SPECIAL: Final[tuple[tuple[str, str], ...]] = (
    ("0.0.0.0/8", '"This network" (RFC 791)'),
    ("0.0.0.0/32", '"This host on this network" (RFC 1122)'),
    ("10.0.0.0/8", "Private-Use (RFC 1918)"),
    ("100.64.0.0/10", "Shared Address Space / CGNAT (RFC 6598)"),
    ("127.0.0.0/8", "Loopback (RFC 1122)"),
    ("169.254.0.0/16", "Link Local (RFC 3927)"),
    ("172.16.0.0/12", "Private-Use (RFC 1918)"),
    ("192.0.0.0/24", "IETF Protocol Assignments (RFC 6890)"),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix (RFC 7335)"),
    ("192.0.0.8/32", "IPv4 dummy address (RFC 7600)"),
    ("192.0.0.9/32", "Port Control Protocol Anycast (RFC 7723)"),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast (RFC 8155)"),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery (RFC 8880)"),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery (RFC 8880)"),
    ("192.0.2.0/24", "Documentation TEST-NET-1 (RFC 5737)"),
    ("192.31.196.0/24", "AS112-v4 (RFC 7535)"),
    ("192.52.193.0/24", "AMT (RFC 7450)"),
    ("192.88.99.0/24", "Deprecated 6to4 Relay Anycast (RFC 7526)"),
    ("192.88.99.2/32", "6a44-relay anycast address (RFC 6751)"),
    ("192.168.0.0/16", "Private-Use (RFC 1918)"),
    ("192.175.48.0/24", "Direct Delegation AS112 Service (RFC 7534)"),
    ("198.18.0.0/15", "Benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "Documentation TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "Documentation TEST-NET-3 (RFC 5737)"),
    ("240.0.0.0/4", "Reserved (RFC 1112)"),
    ("255.255.255.255/32", "Limited Broadcast (RFC 919)"),
    ("224.0.0.0/4", "Multicast (RFC 5771)"),
)

# IANA IPv6 Special-Purpose Address Registry (iana-ipv6-special-registry), every entry.
IPV6_SPECIAL: Final[tuple[tuple[str, str], ...]] = (
    ("::1/128", "Loopback Address (RFC 4291)"),
    ("::/128", "Unspecified Address (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped Address (RFC 4291)"),
    ("64:ff9b::/96", "IPv4-IPv6 Translation (RFC 6052)"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translation, local use (RFC 8215)"),
    ("100::/64", "Discard-Only Address Block (RFC 6666)"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix (RFC 9780)"),
    ("2001::/23", "IETF Protocol Assignments (RFC 2928)"),
    ("2001::/32", "TEREDO (RFC 4380)"),
    ("2001:1::1/128", "Port Control Protocol Anycast (RFC 7723)"),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast (RFC 8155)"),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast (RFC 9665)"),
    ("2001:2::/48", "Benchmarking (RFC 5180)"),
    ("2001:3::/32", "AMT (RFC 7450)"),
    ("2001:4:112::/48", "AS112-v6 (RFC 7535)"),
    ("2001:10::/28", "Deprecated ORCHID (RFC 4843)"),
    ("2001:20::/28", "ORCHIDv2 (RFC 7343)"),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (RFC 9374)"),
    ("2001:db8::/32", "Documentation (RFC 3849)"),
    ("2002::/16", "6to4 (RFC 3056)"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service (RFC 7534)"),
    ("3fff::/20", "Documentation (RFC 9637)"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs (RFC 9602)"),
    ("fc00::/7", "Unique-Local (RFC 4193)"),
    ("fe80::/10", "Link-Local Unicast (RFC 4291)"),
)

#: IPv6 blocks judged by the IPv4 address they carry, not refused as a whole.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

_V4 = tuple((ipaddress.IPv4Network(net), name) for net, name in IPV4_SPECIAL)
_V6 = tuple(
    (ipaddress.IPv6Network(net), name)
    for net, name in IPV6_SPECIAL
    if ipaddress.IPv6Network(net) not in (NAT64, SIX_TO_FOUR)
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside a NAT64 (``64:ff9b::/96``) or 6to4 (``2002::/16``) address."""
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour  # None outside 2002::/16


def _ipv4_problem(address: ipaddress.IPv4Address) -> str | None:
    for network, name in _V4:
        if address in network:
            return f"{address} is in {network}, {name}"
    if not address.is_global or address.is_multicast or address.is_reserved:
        return f"{address} is not a global address"
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_problem(address)
    if address.scope_id:
        return f"{address} is scoped to an interface"
    inner = embedded_ipv4(address)
    if inner is not None:
        problem = _ipv4_problem(inner)
        return None if problem is None else f"{address} carries {inner}: {problem}"
    for network, name in _V6:
        if address in network:
            return f"{address} is in {network}, {name}"
    if address not in GLOBAL_UNICAST:
        return f"{address} is outside global unicast {GLOBAL_UNICAST}"
    if not address.is_global or address.is_multicast or address.is_reserved:
        return f"{address} is not a global address"
    return None


def parse_address(text: str) -> IPAddress | None:
    """``text`` as an IP address (an IPv6 zone ``%eth0`` kept as its scope), or None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
