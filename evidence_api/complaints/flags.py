"""Heuristics for likely professional complainants (职业索赔 / 职业举报): pure functions of
one new complaint and the recent complaints the database holds (docs/complaints.md §4).

A flag is for review only: it never rejects a complaint, and a flagged complaint is
triaged like any other. Each heuristic that fires gives a :class:`Reason` with its figures
and threshold; the thresholds are data (:data:`THRESHOLDS`).

* ``volume``: at least ``volume_count`` complaints (this one included) with the same
  complainant key within ``volume_days`` days;
* ``same_text``: at least ``same_text_count`` complaints (this one included) with the same
  normalised text hash (:func:`normalise_text`) within ``same_text_days`` days, from any
  complainant, to at least ``same_text_targets`` distinct targets;
* ``near_text``: at least ``near_text_count`` complaints of the same complainant within
  ``near_text_days`` days whose texts are near-identical to this one (character-trigram
  Jaccard similarity ≥ ``near_text_similarity``), this one included;
* ``targets``: at least ``targets_count`` distinct targets complained about by the same
  complainant within ``targets_days`` days;
* ``category_pattern``: at least ``category_count`` complaints of the same complainant in
  this complaint's category within ``category_days`` days, to at least
  ``category_targets`` distinct targets;
* ``keywords``: the text contains claim phrases (:data:`KEYWORDS`: 十倍赔偿, 退一赔三,
  知假买假 …). A contributing signal only: it is listed when another heuristic fires,
  and it never flags a complaint alone.

A complaint is flagged when at least one heuristic other than ``keywords`` fires.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

#: The thresholds (data; docs/complaints.md §4 lists them).
THRESHOLDS: Final[dict[str, float]] = {
    "volume_count": 5,
    "volume_days": 30,
    "same_text_count": 3,
    "same_text_days": 90,
    "same_text_targets": 2,
    "near_text_count": 3,
    "near_text_days": 30,
    "near_text_similarity": 0.8,
    "targets_count": 5,
    "targets_days": 7,
    "category_count": 4,
    "category_days": 30,
    "category_targets": 3,
}

#: Claim phrases typical of professional claimants (contributing signal only).
KEYWORDS: Final[tuple[str, ...]] = (
    "十倍赔偿",
    "十倍索赔",
    "退一赔十",
    "退一赔三",
    "三倍赔偿",
    "知假买假",
    "惩罚性赔偿",
    "价款十倍",
    "假一赔十",
)

LABELS: Final[dict[str, str]] = {
    "volume": "短期内投诉数量多",
    "same_text": "相同投诉文本多次出现",
    "near_text": "近似投诉文本多次出现",
    "targets": "短期内投诉对象众多",
    "category_pattern": "同类投诉反复针对不同对象",
    "keywords": "含索赔类关键词",
}

_DROP = re.compile(r"[\s\d\W_]+", re.UNICODE)
#: The days the database query looks back (the longest window above).
LOOKBACK_DAYS: Final[int] = int(max(v for k, v in THRESHOLDS.items() if k.endswith("_days")))


def normalise_text(text: str, target_name: str | None = None) -> str:
    """NFKC, case-folded, the target's name removed, then every white space, digit,
    punctuation and symbol removed: texts differing only in a shop name, an order number
    or spacing normalise alike."""
    value = unicodedata.normalize("NFKC", text).casefold()
    if target_name:
        name = unicodedata.normalize("NFKC", target_name).casefold().strip()
        if name:
            value = value.replace(name, "")
    return _DROP.sub("", value)


def text_sha256(text: str, target_name: str | None = None) -> str:
    """SHA-256 (hex) of :func:`normalise_text` in UTF-8."""
    return hashlib.sha256(normalise_text(text, target_name).encode("utf-8")).hexdigest()


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the character-trigram sets of two normalised texts."""
    if a == b:
        return 1.0
    sa = {a[i : i + 3] for i in range(max(1, len(a) - 2))}
    sb = {b[i : i + 3] for i in range(max(1, len(b) - 2))}
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


@dataclass(frozen=True)
class Seen:
    """A complaint as the heuristics see it: who (keyed), what (normalised text and its
    hash), about whom (a target key: ``entity:<id>``, else the normalised URL or name),
    which category, and when."""

    complainant_key: str
    text_sha256: str
    normalised: str
    target: str
    category: str
    received_at: datetime


@dataclass(frozen=True)
class Reason:
    """One heuristic that fired, with its figures."""

    code: str
    figures: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": LABELS[self.code], **self.figures}


def _within(rows: Sequence[Seen], now: datetime, days: float) -> list[Seen]:
    since = now - timedelta(days=days)
    return [r for r in rows if r.received_at > since]


def evaluate(
    new: Seen,
    text: str,
    recent: Sequence[Seen],
    *,
    thresholds: dict[str, float] = THRESHOLDS,
) -> list[Reason]:
    """The reasons that fire for ``new`` (raw ``text`` for the keywords) given ``recent``
    complaints (any complainant; ``new`` not among them). Flag iff any reason's code is
    not ``keywords``."""
    t = thresholds
    now = new.received_at
    mine = [r for r in recent if r.complainant_key == new.complainant_key]
    reasons: list[Reason] = []

    window = _within(mine, now, t["volume_days"])
    if len(window) + 1 >= t["volume_count"]:
        reasons.append(
            Reason(
                "volume",
                {
                    "count": len(window) + 1,
                    "days": t["volume_days"],
                    "threshold": t["volume_count"],
                },
            )
        )

    same = [
        r for r in _within(recent, now, t["same_text_days"]) if r.text_sha256 == new.text_sha256
    ]
    same_targets = {r.target for r in same} | {new.target}
    if len(same) + 1 >= t["same_text_count"] and len(same_targets) >= t["same_text_targets"]:
        reasons.append(
            Reason(
                "same_text",
                {
                    "count": len(same) + 1,
                    "targets": len(same_targets),
                    "days": t["same_text_days"],
                    "threshold": t["same_text_count"],
                },
            )
        )

    near = [
        r
        for r in _within(mine, now, t["near_text_days"])
        if similarity(r.normalised, new.normalised) >= t["near_text_similarity"]
    ]
    if len(near) + 1 >= t["near_text_count"]:
        reasons.append(
            Reason(
                "near_text",
                {
                    "count": len(near) + 1,
                    "similarity": t["near_text_similarity"],
                    "days": t["near_text_days"],
                    "threshold": t["near_text_count"],
                },
            )
        )

    targets = {r.target for r in _within(mine, now, t["targets_days"])} | {new.target}
    if len(targets) >= t["targets_count"]:
        reasons.append(
            Reason(
                "targets",
                {
                    "targets": len(targets),
                    "days": t["targets_days"],
                    "threshold": t["targets_count"],
                },
            )
        )

    same_cat = [r for r in _within(mine, now, t["category_days"]) if r.category == new.category]
    cat_targets = {r.target for r in same_cat} | {new.target}
    if len(same_cat) + 1 >= t["category_count"] and len(cat_targets) >= t["category_targets"]:
        reasons.append(
            Reason(
                "category_pattern",
                {
                    "category": new.category,
                    "count": len(same_cat) + 1,
                    "targets": len(cat_targets),
                    "days": t["category_days"],
                    "threshold": t["category_count"],
                },
            )
        )

    found = [k for k in KEYWORDS if k in unicodedata.normalize("NFKC", text)]
    if found and reasons:
        reasons.append(Reason("keywords", {"keywords": found}))
    return reasons


def flagged(reasons: Sequence[Reason]) -> bool:
    """Whether ``reasons`` flag the complaint (a reason besides ``keywords``)."""
    return any(r.code != "keywords" for r in reasons)
