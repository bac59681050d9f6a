"""The re-captures' pure parts: how a delay reads in an alert, which host the per-host
gate counts, the alert's reason in both languages, the issuer's token out of its
pseudonym, and the delays parsed once per distinct setting."""

from __future__ import annotations

import pytest

from evidence_api.monitoring.takedown_checks import (
    host_of,
    human_delay,
    issuer_token,
    reappeared_reason,
)
from evidence_api.takedowns.service import verify_delays


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1 s"),
        (59, "59 s"),
        (60, "1 min"),
        (90, "90 s"),  # not whole minutes: seconds
        (3600, "1 h"),
        (5400, "90 min"),
        (86400, "1 d"),
        (604800, "7 d"),
        (90000, "25 h"),
    ],
)
def test_human_delay(seconds: int, text: str) -> None:
    assert human_delay(seconds) == text


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Shop.Example.COM:8443/item/1?x=1", "shop.example.com"),
        ("https://127.0.0.1:9/item", "127.0.0.1"),
        ("https://[::1]:9/item", "::1"),
        ("https://localhost/item", "localhost"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_host_of_is_bounded_by_the_gate_key() -> None:
    long = "a" * 300
    assert len(host_of(f"https://{long}.example/x")) == 255


def test_reappeared_reason_names_host_and_delay_in_both_languages() -> None:
    reason = reappeared_reason("https://mall.example:8443/item/9", 86400)
    assert reason.startswith("下架复查：mall.example 上已下架的商品在完成下架 1 d 后重新出现")
    assert "the listing on mall.example was found again 1 d after the order was completed" in (
        reason
    )


def testissuer_token() -> None:
    assert issuer_token("token-42") == 42
    for bad in ("system", "token-", "token-4x", "tok-1"):
        with pytest.raises(ValueError, match="not a token pseudonym"):
            issuer_token(bad)


def test_delays_parsed_once_per_setting() -> None:
    verify_delays.cache_clear()
    assert verify_delays("86400,3600") == (3600, 86400)
    assert verify_delays("86400,3600") == (3600, 86400)
    assert verify_delays.cache_info().hits == 1
    with pytest.raises(ValueError, match="item 0"):
        verify_delays("0")
