"""The capture's address policy: the SSRF matrix, allow-listing, and the setting's parser.

Pure: names are resolved through a monkeypatched ``socket.getaddrinfo`` (no DNS), so a
name can be made to answer loopback, metadata or a mix of addresses.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from evidence_api.capture import netpolicy
from evidence_api.capture.netpolicy import check_host, check_url, policy_from_setting
from evidence_api.capture.outcome import AddressPolicy, CaptureError

OPEN = AddressPolicy()
PUBLIC = "93.184.215.14"  # a global unicast IPv4 address (example.com's, once)
PUBLIC6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A fake system resolver: name -> answers; an unknown name does not resolve."""
    table: dict[str, list[str]] = {}
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


# -- the SSRF matrix: refused by default, each with the reason naming host and block ---------


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "127.0.0.0/8, Loopback (RFC 1122)"),
        ("127.8.9.10", "127.0.0.0/8, Loopback (RFC 1122)"),
        ("10.0.0.1", "10.0.0.0/8, Private-Use (RFC 1918)"),
        ("10.255.255.255", "10.0.0.0/8, Private-Use (RFC 1918)"),
        ("172.16.0.1", "172.16.0.0/12, Private-Use (RFC 1918)"),
        ("192.168.1.1", "192.168.0.0/16, Private-Use (RFC 1918)"),
        ("169.254.169.254", "169.254.0.0/16, Link Local (RFC 3927)"),
        ("100.100.100.200", "100.64.0.0/10, Shared Address Space / CGNAT (RFC 6598)"),
        ("0.0.0.0", '"This'),
        ("::1", "::1/128, Loopback Address (RFC 4291)"),
        ("[::1]", "::1/128, Loopback Address (RFC 4291)"),
        ("::ffff:127.0.0.1", "::ffff:0:0/96, IPv4-mapped Address (RFC 4291)"),
        ("::ffff:169.254.169.254", "IPv4-mapped"),
        ("fe80::1", "fe80::/10, Link-Local Unicast (RFC 4291)"),
        ("fd00::1", "fc00::/7, Unique-Local (RFC 4193)"),
        ("64:ff9b::7f00:1", "carries 127.0.0.1"),
        ("2002:7f00:1::", "carries 127.0.0.1"),
    ],
)
def test_special_addresses_are_refused_with_the_block_named(host: str, why: str) -> None:
    with pytest.raises(CaptureError) as caught:
        check_host(host, 443, OPEN)
    reason = caught.value.reason
    assert reason.startswith("refused: ")
    assert why in reason
    assert "EVIDENCE_CAPTURE_ALLOW" in reason
    assert caught.value.limit is None


def test_a_name_resolving_to_loopback_is_refused_naming_both(dns: dict[str, list[str]]) -> None:
    dns["localhost"] = ["127.0.0.1"]
    with pytest.raises(CaptureError) as caught:
        check_host("localhost", 80, OPEN)
    assert caught.value.reason == (
        "refused: localhost resolves to 127.0.0.1, which is in 127.0.0.0/8, "
        "Loopback (RFC 1122); allow-list it with EVIDENCE_CAPTURE_ALLOW"
    )


def test_one_refused_answer_among_public_ones_refuses_the_host(
    dns: dict[str, list[str]],
) -> None:
    dns["rebind.example"] = [PUBLIC, "169.254.169.254"]
    with pytest.raises(CaptureError, match=r"rebind\.example resolves to 169\.254\.169\.254"):
        check_host("rebind.example", 443, OPEN)
    dns["six.example"] = [PUBLIC, "::ffff:10.0.0.1"]
    with pytest.raises(CaptureError, match="IPv4-mapped"):
        check_host("six.example", 443, OPEN)


def test_public_answers_pass_and_all_are_returned(dns: dict[str, list[str]]) -> None:
    dns["shop.example"] = [PUBLIC, PUBLIC6, PUBLIC]
    assert check_host("Shop.Example.", 443, OPEN) == [PUBLIC, PUBLIC6]
    assert check_host(PUBLIC, 80, OPEN) == [PUBLIC]
    assert check_host(f"[{PUBLIC6}]", 80, OPEN) == [PUBLIC6]


def test_unresolvable_and_malformed_hosts_are_refused(dns: dict[str, list[str]]) -> None:
    with pytest.raises(CaptureError, match=re.escape("nowhere.example does not resolve")):
        check_host("nowhere.example", 443, OPEN)
    # legacy numeric forms getaddrinfo would take as 127.0.0.1 are not names either
    for bad in ("", "a b.example", "-lead.example", "x" * 254, "a..b", "127.1", "0x7f.1"):
        with pytest.raises(CaptureError, match="not a host name or an IP address"):
            check_host(bad, 443, OPEN)
    with pytest.raises(CaptureError, match="not a TCP port"):
        check_host(PUBLIC, 0, OPEN)
    with pytest.raises(CaptureError, match="not a TCP port"):
        check_host(PUBLIC, 65536, OPEN)


# -- allow-listing ---------------------------------------------------------------------------


def test_allow_list_by_host_name_passes_its_answers(dns: dict[str, list[str]]) -> None:
    dns["localhost"] = ["127.0.0.1", "::1"]
    policy = policy_from_setting("LocalHost")
    assert check_host("localhost", 443, policy) == ["127.0.0.1", "::1"]
    # the name is allowed, not its addresses: another name answering them is still refused
    dns["other.test"] = ["127.0.0.1"]
    with pytest.raises(CaptureError, match=re.escape("other.test resolves to 127.0.0.1")):
        check_host("other.test", 443, policy)


def test_allow_list_by_ip_passes_that_address_only(dns: dict[str, list[str]]) -> None:
    policy = policy_from_setting("127.0.0.1")
    dns["localhost"] = ["127.0.0.1"]
    assert check_host("localhost", 443, policy) == ["127.0.0.1"]
    assert check_host("127.0.0.1", 443, policy) == ["127.0.0.1"]
    # the IPv4-mapped form of an allowed IPv4 address is that address
    assert check_host("::ffff:127.0.0.1", 443, policy) == ["::ffff:7f00:1"]
    with pytest.raises(CaptureError, match=re.escape("127.0.0.2")):
        check_host("127.0.0.2", 443, policy)
    dns["both.test"] = ["127.0.0.1", "::1"]
    with pytest.raises(CaptureError, match=r"both\.test resolves to ::1"):
        check_host("both.test", 443, policy)


def test_allow_list_by_cidr(dns: dict[str, list[str]]) -> None:
    policy = policy_from_setting(" 10.0.0.0/8 , fd00::/8 ")
    assert check_host("10.1.2.3", 80, policy) == ["10.1.2.3"]
    assert check_host("fd12::1", 80, policy) == ["fd12::1"]
    with pytest.raises(CaptureError, match=re.escape("172.16.0.0/12")):
        check_host("172.16.0.1", 80, policy)
    with pytest.raises(CaptureError, match=re.escape("169.254.0.0/16")):
        check_host("169.254.169.254", 80, policy)


# -- the setting ------------------------------------------------------------------------------


def test_policy_from_setting_parses_each_kind() -> None:
    policy = policy_from_setting("Fixture.Test., 127.0.0.1,[::1], 10.1.0.0/16,fe80::/10,")
    assert policy.allow_hosts == frozenset({"fixture.test", "127.0.0.1", "::1"})
    assert policy.allow_networks == ("10.1.0.0/16", "fe80::/10")
    assert policy_from_setting("") == AddressPolicy()
    assert policy_from_setting(" , ,") == AddressPolicy()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("127.0.0.1, 10.0.0.0/33", "'10.0.0.0/33' is not a CIDR block"),
        ("host/with/slashes", "'host/with/slashes' is not a CIDR block"),
        ("ok.test, bad host", "'bad host' is not a host name, an IP or a CIDR block"),
        ("http://x.test", "'http://x.test'"),
        ("under_score.test, 300.1.1.1", "'300.1.1.1'"),
        ("127.1", "'127.1'"),
    ],
)
def test_bad_settings_name_the_bad_item(setting: str, named: str) -> None:
    with pytest.raises(ValueError, match="EVIDENCE_CAPTURE_ALLOW") as caught:
        policy_from_setting(setting)
    assert named in str(caught.value)


def test_setting_has_an_item_limit() -> None:
    items = ",".join(f"10.0.{i // 256}.{i % 256}" for i in range(netpolicy.MAX_ALLOW_ITEMS))
    assert len(policy_from_setting(items).allow_hosts) == netpolicy.MAX_ALLOW_ITEMS
    with pytest.raises(ValueError, match="at most"):
        policy_from_setting(items + ",10.9.9.9")


# -- URLs ------------------------------------------------------------------------------------


def test_check_url_gives_host_port_and_checked_addresses(dns: dict[str, list[str]]) -> None:
    dns["shop.example"] = [PUBLIC]
    assert check_url("https://Shop.Example/item?id=1", OPEN) == ("shop.example", 443, [PUBLIC])
    assert check_url("http://shop.example/", OPEN) == ("shop.example", 80, [PUBLIC])
    assert check_url(f"http://[{PUBLIC6}]:8080/x", OPEN) == (PUBLIC6, 8080, [PUBLIC6])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://shop.example/", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("https:///path", "has no host"),
        ("http://shop.example:99999/", "not a valid URL"),
        ("http://127.0.0.1/", "127.0.0.0/8"),
        ("http://[::1]:8000/", "::1/128"),
        ("http://169.254.169.254/latest/meta-data/", "Link Local"),
    ],
)
def test_check_url_refuses(url: str, why: str, dns: dict[str, list[str]]) -> None:
    with pytest.raises(CaptureError) as caught:
        check_url(url, OPEN)
    assert why in caught.value.reason
