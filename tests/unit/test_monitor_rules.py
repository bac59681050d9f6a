"""The rules: each one's fire / not-fire boundary (exactly at the threshold, just above),
gone and back, first runs, disabled rules, reason texts and JSON-able details
(docs/monitoring.md §3)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_api.monitoring.observation import (
    BACK,
    CONTENT_CHANGED,
    GONE,
    PRICE_BOUND,
    PRICE_CHANGED,
    PROHIBITED_WORDS,
    Finding,
    Observation,
    sha256_text,
)
from evidence_api.monitoring.rules import TOKEN, changed_share, evaluate
from evidence_api.monitoring.ruleset import Rules
from evidence_api.monitoring.wordlists import shipped_wordlists

WORDS = shipped_wordlists()
LETTERS = "a b c d e f g h i j k l m n o p"  # 16 tokens


def seen(
    text: str = LETTERS,
    prices: tuple[str, ...] = ("199.00",),
    *,
    title: str = "商品",
    gone_reason: str | None = None,
    status: int = 200,
) -> Observation:
    return Observation(
        http_status=status,
        final_url="https://shop.example/item/1",
        title=title,
        text=text,
        prices=prices,
        available=True,
        gone=gone_reason is not None,
        gone_reason=gone_reason,
        text_sha256=sha256_text(text),
    )


def rules(**config: Any) -> Rules:
    return Rules.model_validate(config)


def fired(
    previous: Observation | None,
    current: Observation,
    config: Rules | None = None,
    *,
    was_gone: bool = False,
) -> list[Finding]:
    return evaluate(previous, current, config or Rules(), WORDS, was_gone=was_gone)


def names(findings: list[Finding]) -> list[str]:
    return [finding.rule for finding in findings]


# -- content_changed ---------------------------------------------------------------------


def replace_tokens(count: int) -> str:
    tokens = LETTERS.split()
    return " ".join(["X" + t for t in tokens[:count]] + tokens[count:])


def test_changed_share_counts_tokens_exactly() -> None:
    # 4 of 16 tokens replaced: 1 − 2·12/32 = 1/4
    assert changed_share(LETTERS, replace_tokens(4)) == Fraction(1, 4)
    assert changed_share(LETTERS, LETTERS) == 0
    assert changed_share("", "") == 0
    assert changed_share("", "新") == 1
    # CJK: one character is one token; whitespace does not count
    assert changed_share("价格便宜", "价格 便宜") == 0
    assert changed_share("价格便宜", "价格很便宜") == Fraction(1, 9)


def test_content_threshold_exactly_at_does_not_fire_just_above_fires() -> None:
    config = rules(content_changed={"threshold": 0.25})
    assert fired(seen(), seen(replace_tokens(4)), config) == []
    findings = fired(seen(), seen(replace_tokens(5)), config)  # 1 − 22/32 = 31.25%
    assert names(findings) == [CONTENT_CHANGED]
    finding = findings[0]
    assert finding.reason == ("内容变化 31.3%，超过阈值 25% / content changed by 31.3%, above 25%")
    assert finding.detail == {
        "changed": 0.3125,
        "threshold": 0.25,
        "old_text_sha256": sha256_text(LETTERS),
        "new_text_sha256": sha256_text(replace_tokens(5)),
    }
    just_below = rules(content_changed={"threshold": 0.2499})
    assert names(fired(seen(), seen(replace_tokens(4)), just_below)) == [CONTENT_CHANGED]


def test_equal_digest_means_unchanged_without_diffing() -> None:
    previous = seen()
    # same digest but different text: the digest decides (the text is not diffed)
    current = Observation(**{**previous.to_json(), "text": "完全不同", "prices": ("199.00",)})
    assert fired(previous, current) == []


def test_small_change_in_a_long_cjk_text_is_small_and_fast() -> None:
    base = "本店商品质量可靠，价格实惠，欢迎选购。" * 5000  # 95,000 characters
    changed = base[:40_000] + "新增说明" + base[40_000:60_000] + base[60_010:]
    start = time.monotonic()
    share = changed_share(base, changed)
    assert time.monotonic() - start < 10
    assert 0 < share < Fraction(1, 1000)
    assert fired(seen(base), seen(changed)) == []


def test_rewritten_long_text_is_compared_as_multisets_with_bounded_cost() -> None:
    old = " ".join(f"w{n}" for n in range(20_000))
    new = " ".join(f"v{n}" for n in range(20_000))
    start = time.monotonic()
    assert changed_share(old, new) == 1
    assert time.monotonic() - start < 10
    # only moved: reads as unchanged beyond the cut (documented)
    moved = " ".join(f"w{n}" for n in reversed(range(20_000)))
    assert changed_share(old, moved) == 0


# -- price_changed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "fires"),
    [
        ("199.00", "179.10", False),  # exactly 10%
        ("199.00", "179.09", True),  # 10.005%
        ("199.00", "218.90", False),
        ("199.00", "218.91", True),
        ("199.00", "199.00", False),
        ("0.00", "0.01", True),  # from 0: any change fires
        ("0.00", "0.00", False),
    ],
)
def test_price_change_boundary(old: str, new: str, fires: bool) -> None:
    findings = fired(seen(prices=(old,)), seen(prices=(new,)))
    assert names(findings) == ([PRICE_CHANGED] if fires else [])


def test_price_change_reason_and_detail() -> None:
    [finding] = fired(seen(prices=("199.00", "299.00")), seen(prices=("152.25",)))
    assert finding.reason == (
        "价格变动 23.5%（199.00 → 152.25），超过阈值 10% / "
        "price changed by 23.5% (199.00 → 152.25), above 10%"
    )
    assert finding.detail == {
        "old": "199.00",
        "new": "152.25",
        "direction": "down",
        "threshold_percent": 10.0,
        "change_percent": 23.49,
    }
    [from_zero] = fired(seen(prices=("0.00",)), seen(prices=("5.00",)))
    assert from_zero.detail["change_percent"] is None
    assert from_zero.detail["direction"] == "up"
    assert "0.00 → 5.00" in from_zero.reason


def test_price_change_needs_both_prices_and_a_setting() -> None:
    assert fired(seen(prices=()), seen(prices=("5.00",))) == []
    assert fired(seen(prices=("5.00",)), seen(prices=())) == []
    assert fired(None, seen(prices=("5.00",))) == []  # first run
    off = rules(price={"change_percent": None})
    assert fired(seen(prices=("1.00",)), seen(prices=("100.00",)), off) == []
    custom = rules(price={"change_percent": 50})
    assert fired(seen(prices=("100.00",)), seen(prices=("150.00",)), custom) == []
    assert names(fired(seen(prices=("100.00",)), seen(prices=("150.01",)), custom)) == [
        PRICE_CHANGED
    ]


# -- price_bound -------------------------------------------------------------------------

BOUNDS = {"price": {"change_percent": None, "min": "100.00", "max": "200.00"}}


@pytest.mark.parametrize(
    ("price", "side"),
    [("99.99", "below"), ("100.00", None), ("200.00", None), ("200.01", "above")],
)
def test_price_bound_edges(price: str, side: str | None) -> None:
    findings = fired(seen(prices=("150.00",)), seen(prices=(price,)), rules(**BOUNDS))
    if side is None:
        assert findings == []
    else:
        [finding] = findings
        assert finding.rule == PRICE_BOUND
        assert finding.detail == {"price": price, "side": side, "min": "100.00", "max": "200.00"}


def test_price_bound_reasons() -> None:
    config = rules(**BOUNDS)
    [low] = fired(None, seen(prices=("99.99",)), config)
    assert low.reason == (
        "价格越界：99.99 低于下限 100.00 / price out of bounds: 99.99 below the minimum 100.00"
    )
    [high] = fired(None, seen(prices=("250.00",)), config)
    assert high.reason == (
        "价格越界：250.00 高于上限 200.00 / price out of bounds: 250.00 above the maximum 200.00"
    )


def test_price_bound_fires_when_crossing_not_while_staying_out() -> None:
    config = rules(**BOUNDS)
    out = seen(prices=("50.00",))
    assert names(fired(None, out, config)) == [PRICE_BOUND]  # first run
    assert names(fired(seen(prices=()), out, config)) == [PRICE_BOUND]  # no price before
    assert names(fired(seen(prices=("150.00",)), out, config)) == [PRICE_BOUND]
    assert fired(seen(prices=("60.00",)), out, config) == []  # still out (below)
    assert fired(seen(prices=("300.00",)), out, config) == []  # was out (above): still out
    assert fired(seen(prices=("50.00",)), seen(prices=()), config) == []  # no price now


def test_only_one_bound() -> None:
    config = rules(price={"change_percent": None, "min": Decimal("10")})
    assert names(fired(None, seen(prices=("9.99",)), config)) == [PRICE_BOUND]
    assert fired(None, seen(prices=("1000000.00",)), config) == []


# -- prohibited_words --------------------------------------------------------------------


def test_words_on_the_first_run_with_list_and_legal_basis() -> None:
    [finding] = fired(None, seen("全网最低价，正品仿真枪", title="国家级 好物"))
    assert finding.rule == PROHIBITED_WORDS
    assert finding.reason == (
        "违禁/极限用语 3 个：国家级、全网最低价、仿真枪 / "
        "prohibited words (3): 国家级, 全网最低价, 仿真枪"
    )
    assert finding.detail["count"] == 3
    assert finding.detail["every_run"] is False
    words = finding.detail["words"]
    assert [(w["word"], w["list"]) for w in words] == [
        ("国家级", "advertising-law-art9"),
        ("全网最低价", "advertising-law-art9"),
        ("仿真枪", "prohibited-goods"),
    ]
    assert words[2]["legal_basis"] == WORDS.get("prohibited-goods").legal_basis


def test_words_only_when_new_unless_every_run() -> None:
    words_only = rules(content_changed={"enabled": False})
    previous = seen("最佳商品")
    current = seen("最佳商品，顶级做工")
    [finding] = fired(previous, current, words_only)
    assert [w["word"] for w in finding.detail["words"]] == ["顶级"]
    assert fired(previous, seen("最佳商品 again"), words_only) == []
    every = rules(content_changed={"enabled": False}, prohibited_words={"every_run": True})
    [again] = fired(previous, seen("最佳商品 again"), every)
    assert [w["word"] for w in again.detail["words"]] == ["最佳"]


def test_words_lists_and_extra() -> None:
    config = rules(prohibited_words={"lists": ["prohibited-goods"], "extra": ["神药"]})
    [finding] = fired(None, seen("最佳神药，另有仿真枪"), config)
    assert [(w["word"], w["list"], w["legal_basis"]) for w in finding.detail["words"]] == [
        ("神药", "extra", ""),
        ("仿真枪", "prohibited-goods", WORDS.get("prohibited-goods").legal_basis),
    ]
    none = rules(prohibited_words={"lists": [], "extra": []})
    assert fired(None, seen("最佳仿真枪"), none) == []


def test_many_words_are_bounded_in_reason_and_detail() -> None:
    words = list(WORDS.get("advertising-law-art9").words)
    [finding] = fired(None, seen(" ".join(words)))
    assert finding.detail["count"] > 10
    assert finding.reason.count("、") == 9 and "…" in finding.reason
    assert len(finding.detail["words"]) == finding.detail["count"] <= 100


# -- gone / back -------------------------------------------------------------------------


def test_gone_fires_once_and_alone() -> None:
    gone = seen("很抱歉，商品已下架", prices=("1.00",), gone_reason="pattern: 商品已下架")
    [finding] = fired(seen(), gone, was_gone=False)
    assert finding.rule == GONE
    assert (
        finding.reason
        == "商品下架：页面显示“商品已下架” / listing gone: the page shows “商品已下架”"
    )
    assert finding.detail == {
        "gone_reason": "pattern: 商品已下架",
        "http_status": 200,
        "final_url": "https://shop.example/item/1",
    }
    assert fired(seen(), gone, was_gone=True) == []  # not again while it stays gone
    # nothing else is evaluated on a gone page (its price and words are not the listing's)
    config = rules(**BOUNDS)
    assert names(fired(seen(), seen("最佳", ("1.00",), gone_reason="HTTP 404"), config)) == [GONE]


def test_gone_by_status_reason() -> None:
    [finding] = fired(None, seen("", (), gone_reason="HTTP 410", status=410))
    assert finding.reason == "商品下架：HTTP 410 / listing gone: HTTP 410"
    assert finding.detail["http_status"] == 410


def test_back_fires_then_the_other_rules() -> None:
    previous = seen("商品已下架", (), gone_reason="pattern: 商品已下架")
    current = seen("最佳 " + LETTERS, ("1.00",))
    findings = fired(previous, current, rules(**BOUNDS), was_gone=True)
    # the gone page is no baseline for changes; bounds and words apply
    assert names(findings) == [BACK, PRICE_BOUND, PROHIBITED_WORDS]
    assert findings[0].reason == (
        "商品重新上架：此前下架的链接再次可见 / listing back: the gone listing is shown again"
    )
    # with a pre-removal baseline, change rules apply too
    assert names(fired(seen(), seen(replace_tokens(16), ("1.00",)), was_gone=True)) == [
        BACK,
        CONTENT_CHANGED,
        PRICE_CHANGED,
    ]


def test_disabled_rules_never_fire() -> None:
    everything_off = rules(
        content_changed={"enabled": False},
        price={"enabled": False, "min": "100", "max": "200"},
        prohibited_words={"enabled": False},
        gone={"enabled": False},
    )
    previous = seen(LETTERS, ("150.00",))
    current = seen("最佳仿真枪 " + replace_tokens(16), ("1.00",))
    assert fired(previous, current, everything_off, was_gone=True) == []
    gone = seen("", (), gone_reason="HTTP 404", status=404)
    assert fired(previous, gone, everything_off) == []
    # and each alone
    assert names(fired(previous, current, rules(content_changed={"enabled": False}))) == [
        PRICE_CHANGED,
        PROHIBITED_WORDS,
    ]
    assert names(fired(previous, current, rules(price={"enabled": False}))) == [
        CONTENT_CHANGED,
        PROHIBITED_WORDS,
    ]
    assert names(fired(previous, current, rules(gone={"enabled": False}), was_gone=True)) == [
        CONTENT_CHANGED,
        PRICE_CHANGED,
        PROHIBITED_WORDS,
    ]


def test_unchanged_run_fires_nothing_and_all_is_deterministic_json() -> None:
    assert fired(seen(), seen()) == []
    previous = seen(LETTERS, ("150.00",))
    current = seen("最佳仿真枪 " + replace_tokens(16), ("1.00",), title="国家级")
    first = fired(previous, current, rules(**{**BOUNDS, "price": {"min": "100"}}))
    second = fired(previous, current, rules(**{**BOUNDS, "price": {"min": "100"}}))
    assert first == second
    assert names(first) == [CONTENT_CHANGED, PRICE_CHANGED, PRICE_BOUND, PROHIBITED_WORDS]
    for finding in first:
        assert Finding.from_json(json.loads(json.dumps(finding.to_json()))) == finding


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab 价格。最佳x1", max_size=60),
    st.text(alphabet="ab 价格。最佳x1", max_size=60),
)
def test_changed_share_is_a_share_and_zero_only_for_equal_tokens(old: str, new: str) -> None:
    share = changed_share(old, new)
    assert 0 <= share <= 1
    assert (share == 0) == (TOKEN.findall(old) == TOKEN.findall(new))
