"""Codes of 双随机、一公开 and their labels (Chinese with the English alongside).

Codes are stored and logged; labels are for people (console, public pages, reports)."""

from __future__ import annotations

#: Outcome of inspecting one drawn entity (抽查结果), in display order.
OUTCOMES: dict[str, str] = {
    "qualified": "合格 qualified",
    "unqualified": "不合格 unqualified",
    "rectify": "责令整改 ordered to rectify",
    "no_issue": "未发现问题 no issue found",
    "not_found": "查无此户 not found at the registered address",
    "closed": "已注销/停业 closed",
}

#: A plan's status.
STATUSES: dict[str, str] = {
    "committed": "已承诺（待抽取） committed",
    "drawn": "已抽取 drawn",
}

#: Why an officer is never assigned to an entity (回避).
RECUSALS: dict[str, str] = {
    "unit_case": "本单位近期办理过该主体案件 own unit's recent case",
    "declared": "申报的利益冲突 declared conflict",
}
