"""Codes of the demonstration-zone indicators (示范区指标) and their labels (Chinese with
the English alongside). Codes are what the API and the CSV carry; labels are for people
(the console, spreadsheets). docs/stats.md defines every indicator."""

from __future__ import annotations

from typing import Final

from evidence_api.complaints.categories import CATEGORIES
from evidence_api.spotcheck.labels import OUTCOMES
from verifier.credit import GRADE_LABELS

#: Indicator code -> label, in the order the figures are given.
INDICATORS: Final[dict[str, str]] = {
    "entities": "经营主体总数 entities",
    "entities_by_class": "经营主体数（按风险分类） entities by class",
    "entities_by_grade": "经营主体数（按信用等级） entities by credit grade",
    "operating_2y_share": "持续经营两年以上主体占比 share of entities operating 2+ years",
    "operating_since_unknown": "开始经营日期不详的主体数 entities whose start date is unknown",
    "complaints": "投诉举报件数 complaints and reports",
    "complaints_open": "未办结投诉举报件数 complaints not yet finished",
    "complaint_resolution_median_hours": "办结时长中位数（小时） median resolution time, hours",
    "complaint_resolution_mean_hours": "平均办结时长（小时） mean resolution time, hours",
    "odr_cases": "在线纠纷调解件数 ODR mediations",
    "odr_success_rate": "在线纠纷调解成功率 ODR success rate",
    "spotcheck_results": "双随机抽查结果数 spot-check results",
    "spotcheck_noncompliance_rate": "双随机抽查不合格率 spot-check non-compliance rate",
}

#: The dimension of a figure over everything (the total row of an indicator).
ALL = "全部 all"
UNCLASSIFIED = "未分类 unclassified"
UNGRADED = "未评级 ungraded"
ALL_CATEGORIES = "全部类别 all categories"
#: Grade code -> label (the credit policy's grades).
GRADES: Final[dict[str, str]] = dict(GRADE_LABELS)
#: An ODR mediation's status -> label (evidence_api/odr/models.py).
ODR_STATUSES: Final[dict[str, str]] = {
    "open": "调解中 open",
    "agreed": "调解成功 agreed",
    "failed": "调解失败 failed",
}
#: Spot-check outcome -> label (evidence_api/spotcheck/labels.py).
SPOTCHECK_OUTCOMES: Final[dict[str, str]] = dict(OUTCOMES)
#: The outcomes counted as non-compliant (不合格、责令整改).
NONCOMPLIANT: Final[tuple[str, ...]] = ("unqualified", "rectify")


def month_label(month: str) -> str:
    """``2026-03`` -> ``2026年3月 2026-03``."""
    year, number = month.split("-")
    return f"{year}年{int(number)}月 {month}"


def category_label(code: str) -> str:
    """The label of complaint category ``code`` (the complaints feature's list; the code
    itself for one the list does not know)."""
    return CATEGORIES.get(code, code)
