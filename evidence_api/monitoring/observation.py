"""What a monitor run saw and what fired (pure data; no I/O).

:class:`Observation` is extracted from a capture's DOM and main-document status by
:func:`evidence_api.monitoring.extract.observe_page`; the rules
(:func:`evidence_api.monitoring.rules.evaluate`) compare it with the monitor's baseline
(the previous observation) and return :class:`Finding` s. Both serialise to JSON for the
database (``monitor.baseline``, ``monitor_run.observation``/``fired``) and the API.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

#: Most characters of main text kept in an observation (the baseline diffed against).
MAX_TEXT = 100_000
#: Most prices one observation keeps (in page order).
MAX_PRICES = 20

# Alert rules (``alert.rule``): each with its reason text (rules.py) and docs/monitoring.md.
CONTENT_CHANGED = "content_changed"
PRICE_CHANGED = "price_changed"
PRICE_BOUND = "price_bound"
PROHIBITED_WORDS = "prohibited_words"
GONE = "gone"
BACK = "back"
#: not a monitor rule: a takedown re-capture found a removed listing again
REAPPEARED = "reappeared"
RULES = (CONTENT_CHANGED, PRICE_CHANGED, PRICE_BOUND, PROHIBITED_WORDS, GONE, BACK, REAPPEARED)

#: Labels for officers (Chinese with the English alongside).
RULE_LABELS: dict[str, str] = {
    CONTENT_CHANGED: "内容变化 content changed",
    PRICE_CHANGED: "价格变动 price changed",
    PRICE_BOUND: "价格越界 price out of bounds",
    PROHIBITED_WORDS: "违禁/极限用语 prohibited words",
    GONE: "商品下架 listing gone",
    BACK: "商品重新上架 listing back",
    REAPPEARED: "删除后重现 reappeared after takedown",
}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Observation:
    """One look at a target: HTTP status, title, main text, prices, availability."""

    #: the main document's final HTTP status (None: unknown)
    http_status: int | None
    final_url: str
    title: str
    #: the page's main text, whitespace-normalised, at most :data:`MAX_TEXT` characters
    text: str
    #: prices shown, as decimal strings with two places ("199.00"), page order, deduplicated
    prices: tuple[str, ...] = ()
    #: in stock (True), sold out / unavailable (False), unknown (None)
    available: bool | None = None
    #: the listing is gone: 404/410, or a removed-page pattern matched
    gone: bool = False
    #: why it counts as gone ("HTTP 404", "pattern: 商品已下架"), else None
    gone_reason: str | None = None
    #: SHA-256 of ``text`` (full, before truncation), hex
    text_sha256: str = ""
    #: SHA-256 of the captured files the observation was made from, by file name
    digests: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        value = asdict(self)
        value["prices"] = list(self.prices)
        return value

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Observation:
        return cls(
            http_status=value.get("http_status"),
            final_url=str(value.get("final_url", "")),
            title=str(value.get("title", "")),
            text=str(value.get("text", "")),
            prices=tuple(str(p) for p in value.get("prices", ())),
            available=value.get("available"),
            gone=bool(value.get("gone", False)),
            gone_reason=value.get("gone_reason"),
            text_sha256=str(value.get("text_sha256", "")),
            digests=dict(value.get("digests", {})),
        )

    @classmethod
    def loads(cls, text: str) -> Observation:
        return cls.from_json(json.loads(text))

    def summary(self) -> dict[str, Any]:
        """What the ``monitor`` log entry commits to: digests and small facts, never the
        page's text (entries may be shown to anyone holding a proof)."""
        return {
            "http_status": self.http_status,
            "title_sha256": sha256_text(self.title),
            "text_sha256": self.text_sha256,
            "prices": list(self.prices),
            "available": self.available,
            "gone": self.gone,
            "files": dict(sorted(self.digests.items())),
        }


@dataclass(frozen=True)
class Finding:
    """One rule that fired: which, why in words, and the facts behind it."""

    rule: str
    #: e.g. "价格变动 23.5%（199.00 → 152.25），超过阈值 10% / price changed by 23.5% …"
    reason: str
    #: JSON-able facts: old/new prices, words with their list and legal basis, ratio, …
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "reason": self.reason, "detail": self.detail}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Finding:
        return cls(str(value["rule"]), str(value["reason"]), dict(value.get("detail", {})))
