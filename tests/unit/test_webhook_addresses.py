"""Which addresses a webhook may reach: every IANA special-purpose block is refused.

One row per entry of the IANA IPv4 and IPv6 Special-Purpose Address Registries
(https://www.iana.org/assignments/iana-ipv4-special-registry,
https://www.iana.org/assignments/iana-ipv6-special-registry), written out here
independently of :mod:`evidence_api.takedowns.netcheck`'s own table: its first
and last address and, where the block carries an IPv4 address, a form that
carries a non-global one. Then the forms the issue reported (``100.100.100.200``,
``[2002:7f00:1::]``), multicast, and global addresses that must stay allowed.
"""

from __future__ import annotations

import ipaddress

import pytest

from evidence_api.takedowns import netcheck
from evidence_api.takedowns.webhooks import (
    WebhookTargetError,
    allowed_hosts,
    literal_target_problem,
    resolve_target,
    target_problem,
)

# (name, network, extra addresses inside it to check besides the first and the last)
IPV4_REGISTRY: list[tuple[str, str, tuple[str, ...]]] = [
    ("this-network", "0.0.0.0/8", ("0.1.2.3",)),
    ("this-host-on-this-network", "0.0.0.0/32", ()),
    ("private-use-10", "10.0.0.0/8", ("10.1.2.3",)),
    ("shared-address-space-cgnat", "100.64.0.0/10", ("100.100.100.200",)),
    ("loopback", "127.0.0.0/8", ("127.0.0.1",)),
    ("link-local", "169.254.0.0/16", ("169.254.169.254",)),
    ("private-use-172", "172.16.0.0/12", ("172.17.0.1",)),
    ("ietf-protocol-assignments", "192.0.0.0/24", ("192.0.0.100",)),
    ("ipv4-service-continuity-prefix", "192.0.0.0/29", ()),
    ("ipv4-dummy-address", "192.0.0.8/32", ()),
    ("port-control-protocol-anycast", "192.0.0.9/32", ()),
    ("turn-anycast", "192.0.0.10/32", ()),
    ("nat64-dns64-discovery-170", "192.0.0.170/32", ()),
    ("nat64-dns64-discovery-171", "192.0.0.171/32", ()),
    ("documentation-test-net-1", "192.0.2.0/24", ()),
    ("as112-v4", "192.31.196.0/24", ()),
    ("amt", "192.52.193.0/24", ()),
    ("deprecated-6to4-relay-anycast", "192.88.99.0/24", ("192.88.99.1",)),
    ("6a44-relay-anycast", "192.88.99.2/32", ()),
    ("private-use-192-168", "192.168.0.0/16", ("192.168.1.1",)),
    ("direct-delegation-as112", "192.175.48.0/24", ()),
    ("benchmarking", "198.18.0.0/15", ("198.19.1.1",)),
    ("documentation-test-net-2", "198.51.100.0/24", ()),
    ("documentation-test-net-3", "203.0.113.0/24", ()),
    ("reserved-class-e", "240.0.0.0/4", ("250.1.2.3",)),
    ("limited-broadcast", "255.255.255.255/32", ()),
]

IPV6_REGISTRY: list[tuple[str, str, tuple[str, ...]]] = [
    ("loopback", "::1/128", ()),
    ("unspecified", "::/128", ()),
    ("ipv4-mapped", "::ffff:0:0/96", ("::ffff:127.0.0.1", "::ffff:8.8.8.8")),
    (
        "nat64-well-known",
        "64:ff9b::/96",
        ("64:ff9b::127.0.0.1", "64:ff9b::169.254.169.254", "64:ff9b::100.100.100.200"),
    ),
    ("nat64-local-use", "64:ff9b:1::/48", ("64:ff9b:1::808:808",)),
    ("discard-only", "100::/64", ()),
    ("dummy-ipv6-prefix", "100:0:0:1::/64", ()),
    ("ietf-protocol-assignments", "2001::/23", ("2001:1ff::1",)),
    ("teredo", "2001::/32", ("2001:0:4136:e378:8000:63bf:3fff:fdd2",)),
    ("port-control-protocol-anycast", "2001:1::1/128", ()),
    ("turn-anycast", "2001:1::2/128", ()),
    ("dns-sd-srp-anycast", "2001:1::3/128", ()),
    ("benchmarking", "2001:2::/48", ()),
    ("amt", "2001:3::/32", ()),
    ("as112-v6", "2001:4:112::/48", ()),
    ("deprecated-orchid", "2001:10::/28", ()),
    ("orchid-v2", "2001:20::/28", ()),
    ("drone-remote-id-dets", "2001:30::/28", ()),
    ("documentation", "2001:db8::/32", ("2001:db8::1",)),
    (
        "6to4",
        "2002::/16",
        ("2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:a00:1::", "2002:6464:64c8::"),
    ),
    ("direct-delegation-as112", "2620:4f:8000::/48", ()),
    ("documentation-3fff", "3fff::/20", ()),
    ("srv6-sids", "5f00::/16", ()),
    ("unique-local", "fc00::/7", ("fd12:3456:789a::1",)),
    ("link-local-unicast", "fe80::/10", ("fe80::1",)),
]

# Not special-purpose entries, but never a webhook receiver either.
OTHER_REFUSED: list[tuple[str, str]] = [
    ("ipv4-multicast", "224.0.0.1"),
    ("ipv4-multicast-last", "239.255.255.255"),
    ("ipv6-multicast-global-scope", "ff0e::1"),
    ("ipv6-multicast-link", "ff02::1"),
    ("ipv4-compatible-loopback", "::127.0.0.1"),
    ("ipv4-compatible-public", "::8.8.8.8"),
    ("ipv6-site-local", "fec0::1"),
    ("ipv6-unallocated-outside-2000::/3", "4000::1"),
    ("ipv6-link-local-with-zone", "fe80::1%eth0"),
]

ALLOWED: list[tuple[str, str]] = [
    ("google-dns", "8.8.8.8"),
    ("cloudflare-dns", "1.1.1.1"),
    ("alidns", "223.5.5.5"),
    ("just-below-cgnat", "100.63.255.255"),
    ("just-above-cgnat", "100.128.0.0"),
    ("just-above-benchmarking", "198.20.0.0"),
    ("just-below-multicast", "223.255.255.255"),
    ("google-dns-v6", "2001:4860:4860::8888"),
    ("just-above-ietf-block", "2001:200::1"),
    ("nat64-of-a-global-address", "64:ff9b::8.8.8.8"),
    ("6to4-of-a-global-address", "2002:808:808::1"),
]


def _rows() -> list[tuple[str, str]]:
    rows = []
    for family, registry in (("v4", IPV4_REGISTRY), ("v6", IPV6_REGISTRY)):
        for name, network, extra in registry:
            net = ipaddress.ip_network(network)
            for address in dict.fromkeys((str(net[0]), str(net[-1]), *extra)):
                rows.append((f"{family}-{name}@{address}", address))
    rows += [(name, address) for name, address in OTHER_REFUSED]
    return rows


REFUSED = _rows()


@pytest.mark.parametrize(("name", "address"), REFUSED, ids=[r[0] for r in REFUSED])
def test_special_purpose_address_is_refused(name: str, address: str) -> None:
    ip = ipaddress.ip_address(address)
    problem = netcheck.address_problem(ip)
    assert problem is not None, f"{name}: {address} was let through"
    # and through the webhook's own check, without an allow-list
    assert target_problem(address, "receiver.example", frozenset()) is not None


@pytest.mark.parametrize(("name", "address"), ALLOWED, ids=[r[0] for r in ALLOWED])
def test_global_address_is_allowed(name: str, address: str) -> None:
    assert netcheck.address_problem(ipaddress.ip_address(address)) is None, name


def test_every_registry_entry_of_the_module_is_covered_by_the_table() -> None:
    """The module's tables and this test's list name the same blocks (neither lost one)."""
    tested = {n for _, n, _ in IPV4_REGISTRY} | {n for _, n, _ in IPV6_REGISTRY}
    declared = {n for n, _ in netcheck.IPV4_SPECIAL} | {n for n, _ in netcheck.IPV6_SPECIAL}
    assert declared - {"224.0.0.0/4"} == tested


def test_the_reported_bypasses_say_why() -> None:
    cgnat = netcheck.address_problem(ipaddress.ip_address("100.100.100.200"))
    assert cgnat == "100.100.100.200 is in 100.64.0.0/10, Shared Address Space / CGNAT (RFC 6598)"
    six = netcheck.address_problem(ipaddress.ip_address("2002:7f00:1::"))
    assert (
        six == "2002:7f00:1:: carries 127.0.0.1: 127.0.0.1 is in 127.0.0.0/8, Loopback (RFC 1122)"
    )


def test_allow_list_lets_a_listed_host_or_address_through() -> None:
    allow = allowed_hosts(" 127.0.0.1 , Hooks.Internal ")
    assert allow == {"127.0.0.1", "hooks.internal"}
    assert target_problem("127.0.0.1", "127.0.0.1", allow) is None
    assert target_problem("10.0.0.5", "hooks.internal", allow) is None
    assert target_problem("127.0.0.2", "127.0.0.2", allow) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data",
        "http://[2002:7f00:1::]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://198.18.0.1/hook",
        "http://192.0.0.9/hook",
        "http://localhost:8080/hook",
        "http://[fe80::1%25eth0]/hook",
    ],
)
def test_literal_special_addresses_are_refused_at_registration(url: str) -> None:
    problem = literal_target_problem(url, frozenset())
    assert problem is not None and "EVIDENCE_WEBHOOK_ALLOW_HOSTS" in problem


@pytest.mark.parametrize(
    "url", ["http://100.100.100.200/x", "http://[2002:7f00:1::]:9/x", "http://[fe80::1]/x"]
)
def test_literal_special_addresses_are_refused_at_delivery(url: str) -> None:
    """Resolution of a literal needs no DNS; the check runs at every attempt."""
    with pytest.raises(WebhookTargetError, match="non-public address"):
        resolve_target(url, frozenset())


def test_loopback_is_reached_only_through_the_allow_list() -> None:
    target = resolve_target("http://127.0.0.1:9/hook?x=1", frozenset({"127.0.0.1"}))
    assert (target.addresses, target.port, target.path) == (("127.0.0.1",), 9, "/hook?x=1")
    with pytest.raises(WebhookTargetError):
        resolve_target("http://127.0.0.1:9/hook", frozenset())


def test_a_name_is_resolved_and_every_address_checked_at_each_attempt() -> None:
    """``localhost`` resolves (from /etc/hosts, no DNS server) to loopback only."""
    with pytest.raises(WebhookTargetError, match="resolves to non-public address"):
        resolve_target("http://localhost:9/hook", frozenset())
    target = resolve_target("http://localhost:9/hook", frozenset({"localhost"}))
    assert target.host == "localhost" and "127.0.0.1" in target.addresses
