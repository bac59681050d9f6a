"""The codes a complaint states, with their Chinese labels (docs/complaints.md §2): kinds,
categories and statuses. Codes are stored; labels are what people read."""

from __future__ import annotations

from typing import Final

#: ``kind``: a complaint (投诉, the consumer's own dispute) or a report (举报, a violation).
KINDS: Final[dict[str, str]] = {"complaint": "投诉", "report": "举报"}

#: ``category``: what the complaint is about.
CATEGORIES: Final[dict[str, str]] = {
    "quality": "商品质量",
    "false_advertising": "虚假宣传",
    "pricing": "价格违法",
    "after_sales": "售后服务",
    "online_fraud": "网络诈骗",
    "personal_info": "侵犯个人信息",
    "counterfeit": "假冒伪劣",
    "food_safety": "食品安全",
    "contract": "合同纠纷",
    "other": "其他",
}

#: ``status``: ``received`` → ``clue`` | ``odr`` | ``rejected``; ``clue``/``odr`` → ``resolved``.
STATUSES: Final[dict[str, str]] = {
    "received": "待处理",
    "clue": "已转线索",
    "odr": "已转在线调解",
    "rejected": "不予受理",
    "resolved": "已办结",
}

#: Triage actions.
ACTIONS: Final[dict[str, str]] = {
    "to_clue": "转为线索",
    "to_odr": "转在线调解(ODR)",
    "reject": "不予受理",
}

#: Step actions recorded in ``complaint_step`` and the ``complaint_step`` log entries.
STEPS: Final[dict[str, str]] = {
    "received": "受理登记",
    "to_clue": "转为线索",
    "to_odr": "转在线调解",
    "reject": "不予受理",
    "resolve": "办结",
}


def outcome_label(status: str, substantiated: bool | None) -> str:
    """What the complainant reads as the outcome (结果)."""
    if status == "resolved":
        return "经核查属实" if substantiated else "经核查不属实"
    if status == "rejected":
        return "不予受理"
    return "办理中"
