"""What fires: a monitor's rules applied to the current observation and the previous
one (pure and deterministic; docs/monitoring.md §3 states each rule exactly).

:func:`evaluate` returns the :class:`~evidence_api.monitoring.observation.Finding` s in a
fixed order — ``gone`` alone, or ``back``, ``content_changed``, ``price_changed``,
``price_bound``, ``prohibited_words`` — each with a reason in Chinese and English (the
alert's text an officer reads) and JSON-able facts (``detail``).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from evidence_api.monitoring.observation import (
    BACK,
    CONTENT_CHANGED,
    GONE,
    PRICE_BOUND,
    PRICE_CHANGED,
    PROHIBITED_WORDS,
    Finding,
    Observation,
)
from evidence_api.monitoring.ruleset import Rules
from evidence_api.monitoring.wordlists import WordHit, WordLists

#: Tokens of the text compared: runs of Latin letters and digits, else single non-space
#: characters (one CJK character is one token).
TOKEN = re.compile(r"[0-9A-Za-z]+|\S")
#: The differing middles (after the common start and end) are diffed exactly by difflib
#: while each has at most this many tokens; longer ones are compared as token multisets.
MAX_DIFF_TOKENS = 2000
#: Most words a finding's detail lists (and its reason names).
MAX_DETAIL_WORDS = 100
MAX_REASON_WORDS = 10


def evaluate(
    previous: Observation | None,
    current: Observation,
    rules: Rules,
    words: WordLists,
    *,
    was_gone: bool,
) -> list[Finding]:
    """The findings of one run: ``previous`` is the baseline (None on the first run),
    ``was_gone`` whether the monitor counted the listing as gone before this run."""
    if current.gone:
        if rules.gone.enabled and not was_gone:
            return [_gone(current)]
        return []
    findings: list[Finding] = []
    if was_gone and rules.gone.enabled:
        findings.append(_back(current))
    if previous is not None and not previous.gone:
        if rules.content_changed.enabled:
            findings.extend(_content_changed(previous, current, rules.content_changed.threshold))
        if rules.price.enabled and rules.price.change_percent is not None:
            findings.extend(_price_changed(previous, current, rules.price.change_percent))
    if rules.price.enabled and (rules.price.min is not None or rules.price.max is not None):
        findings.extend(_price_bound(previous, current, rules.price.min, rules.price.max))
    if rules.prohibited_words.enabled:
        findings.extend(_prohibited_words(previous, current, rules, words))
    return findings


# -- gone / back -------------------------------------------------------------------------


def _gone(current: Observation) -> Finding:
    why = current.gone_reason or ""
    if why.startswith("pattern: "):
        pattern = why.removeprefix("pattern: ")
        zh, en = f"页面显示“{pattern}”", f"the page shows “{pattern}”"
    else:
        zh = en = why or "unknown"
    return Finding(
        GONE,
        f"商品下架：{zh} / listing gone: {en}",
        {
            "gone_reason": current.gone_reason,
            "http_status": current.http_status,
            "final_url": current.final_url,
        },
    )


def _back(current: Observation) -> Finding:
    return Finding(
        BACK,
        "商品重新上架：此前下架的链接再次可见 / listing back: the gone listing is shown again",
        {"http_status": current.http_status, "final_url": current.final_url},
    )


# -- content -----------------------------------------------------------------------------


def changed_share(old: str, new: str) -> Fraction:
    """The share (0–1) of the two texts' tokens that differ: 1 − 2·matched / (tokens of
    both), difflib's ratio. The common start and end count as matched without diffing;
    the middles are matched by ``difflib.SequenceMatcher(autojunk=True)`` while each has
    at most :data:`MAX_DIFF_TOKENS` tokens, else by their multiset intersection (an
    upper bound of the matches: bounded cost; text that only moves reads as unchanged).
    Exact (a fraction), so a threshold is compared without rounding noise."""
    if old == new:
        return Fraction(0)
    a, b = TOKEN.findall(old), TOKEN.findall(new)
    total = len(a) + len(b)
    if total == 0:
        return Fraction(0)
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    middle_a, middle_b = a[start : len(a) - end], b[start : len(b) - end]
    if not middle_a or not middle_b:
        matched = 0
    elif len(middle_a) <= MAX_DIFF_TOKENS and len(middle_b) <= MAX_DIFF_TOKENS:
        matcher = difflib.SequenceMatcher(None, middle_a, middle_b, autojunk=True)
        matched = sum(block.size for block in matcher.get_matching_blocks())
    else:
        matched = sum((Counter(middle_a) & Counter(middle_b)).values())
    return Fraction(total - 2 * (start + end + matched), total)


def _content_changed(
    previous: Observation, current: Observation, threshold: float
) -> list[Finding]:
    if previous.text_sha256 and previous.text_sha256 == current.text_sha256:
        return []
    share = changed_share(previous.text, current.text)
    if share <= Fraction(str(threshold)):
        return []
    shown, limit = _percent(float(share) * 100), _percent(threshold * 100)
    return [
        Finding(
            CONTENT_CHANGED,
            f"内容变化 {shown}%，超过阈值 {limit}% / content changed by {shown}%, above {limit}%",
            {
                "changed": round(float(share), 6),
                "threshold": threshold,
                "old_text_sha256": previous.text_sha256,
                "new_text_sha256": current.text_sha256,
            },
        )
    ]


# -- prices ------------------------------------------------------------------------------


def _first_price(observation: Observation | None) -> Decimal | None:
    if observation is None or not observation.prices:
        return None
    try:
        return Decimal(observation.prices[0])
    except InvalidOperation:
        return None


def _price_changed(previous: Observation, current: Observation, limit: float) -> list[Finding]:
    old, new = _first_price(previous), _first_price(current)
    if old is None or new is None or old == new:
        return []
    threshold = Decimal(str(limit))
    detail: dict[str, Any] = {
        "old": _money(old),
        "new": _money(new),
        "direction": "up" if new > old else "down",
        "threshold_percent": limit,
    }
    if old == 0:
        detail["change_percent"] = None
        return [
            Finding(
                PRICE_CHANGED,
                f"价格变动（{_money(old)} → {_money(new)}），原价为 0 / "
                f"price changed ({_money(old)} → {_money(new)}), from 0",
                detail,
            )
        ]
    change = abs(new - old) / old * 100
    if change <= threshold:
        return []
    shown, limit_shown = _percent(change), _percent(threshold)
    detail["change_percent"] = float(change.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return [
        Finding(
            PRICE_CHANGED,
            f"价格变动 {shown}%（{_money(old)} → {_money(new)}），超过阈值 {limit_shown}% / "
            f"price changed by {shown}% ({_money(old)} → {_money(new)}), above {limit_shown}%",
            detail,
        )
    ]


def _out_of_bounds(price: Decimal | None, low: Decimal | None, high: Decimal | None) -> str | None:
    if price is None:
        return None
    if low is not None and price < low:
        return "below"
    if high is not None and price > high:
        return "above"
    return None


def _price_bound(
    previous: Observation | None,
    current: Observation,
    low: Decimal | None,
    high: Decimal | None,
) -> list[Finding]:
    price = _first_price(current)
    side = _out_of_bounds(price, low, high)
    if side is None or price is None:
        return []
    if _out_of_bounds(_first_price(previous), low, high) is not None:
        return []  # still out of bounds: fired when it crossed
    if side == "below":
        assert low is not None
        bound = _money(low)
        reason = (
            f"价格越界：{_money(price)} 低于下限 {bound} / "
            f"price out of bounds: {_money(price)} below the minimum {bound}"
        )
    else:
        assert high is not None
        bound = _money(high)
        reason = (
            f"价格越界：{_money(price)} 高于上限 {bound} / "
            f"price out of bounds: {_money(price)} above the maximum {bound}"
        )
    detail = {
        "price": _money(price),
        "side": side,
        "min": None if low is None else _money(low),
        "max": None if high is None else _money(high),
    }
    return [Finding(PRICE_BOUND, reason, detail)]


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _percent(value: Decimal | float) -> str:
    """A percentage with one decimal place, without a trailing ".0" ("23.5", "10")."""
    shown = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    text = str(shown)
    return text.removesuffix(".0")


# -- words -------------------------------------------------------------------------------


def _page_hits(observation: Observation, rules: Rules, words: WordLists) -> list[WordHit]:
    config = rules.prohibited_words
    # a newline between title and text: no word spans both (words hold no newline)
    text = f"{observation.title}\n{observation.text}"
    return words.match(text, lists=config.lists, extra=config.extra)


def _prohibited_words(
    previous: Observation | None, current: Observation, rules: Rules, words: WordLists
) -> list[Finding]:
    hits = _page_hits(current, rules, words)
    if previous is not None and not rules.prohibited_words.every_run:
        before = {hit.word for hit in _page_hits(previous, rules, words)}
        hits = [hit for hit in hits if hit.word not in before]
    if not hits:
        return []
    named = [hit.word for hit in hits[:MAX_REASON_WORDS]]
    more = "…" if len(hits) > MAX_REASON_WORDS else ""
    reason = (
        f"违禁/极限用语 {len(hits)} 个：{'、'.join(named)}{more} / "
        f"prohibited words ({len(hits)}): {', '.join(named)}{more}"
    )
    detail = {
        "count": len(hits),
        "words": [
            {"word": hit.word, "list": hit.list, "legal_basis": hit.legal_basis}
            for hit in hits[:MAX_DETAIL_WORDS]
        ],
        "every_run": rules.prohibited_words.every_run,
    }
    return [Finding(PROHIBITED_WORDS, reason, detail)]
