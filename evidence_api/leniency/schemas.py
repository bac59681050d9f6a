"""Request and response bodies of ``/v1/leniency-items`` (免罚清单, docs/leniency.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evidence_api.leniency.conditions import MAX_WINDOW_DAYS

#: An item's code: what cases cite (``case_file.leniency_item``, 32 characters).
ITEM_CODE = r"^[a-z0-9][a-z0-9-]{1,31}$"
_LINE = r"^[^\x00-\x1f\x7f]+$"
Title = Annotated[str, Field(min_length=1, max_length=256, pattern=_LINE)]
LongText = Annotated[str, Field(min_length=1, max_length=2000, pattern=_LINE)]
LenientOutcome = Literal["no_penalty", "reduced"]

ITEM_EXAMPLE: dict[str, Any] = {
    "code": "qz-ec-01",
    "title": "网店未亮照亮证首次被发现及时改正",
    "violation": "网络交易经营者未在其网站首页或者从事经营活动的主页面显著位置公示营业执照信息，"
    "首次被发现并在责令改正期限内改正",
    "legal_basis": "《中华人民共和国行政处罚法》第三十三条第一款；《中华人民共和国电子商务法》"
    "第十五条第一款、第七十六条第一款第（一）项",
    "outcome": "no_penalty",
    "conditions": {
        "first_offence": {"window_days": 730, "scope": "any_case"},
        "corrected_in_time": True,
        "minor_harm": True,
    },
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FirstOffenceRule(_Body):
    window_days: int = Field(
        ge=1, le=MAX_WINDOW_DAYS, description="how far back an earlier offence counts (days)"
    )
    scope: Literal["any_case", "same_item"] = Field(
        "any_case",
        description="any_case: any earlier case closed with penalty, reduced or no_penalty; "
        "same_item: only earlier cases that cited this item",
    )


class ConditionsBody(_Body):
    """The item's conditions; at least one."""

    first_offence: FirstOffenceRule | None = Field(None, description="首次违法; null: not required")
    corrected_in_time: bool = Field(False, description="及时改正: the officer states it")
    minor_harm: bool = Field(False, description="危害后果轻微: the officer states it")

    @model_validator(mode="after")
    def _some(self) -> ConditionsBody:
        if self.first_offence is None and not self.corrected_in_time and not self.minor_harm:
            raise ValueError("an item needs at least one condition")
        return self


class ItemCreate(_Body):
    """``POST /v1/leniency-items``: one item of the list (admins)."""

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_EXAMPLE]})

    code: str = Field(pattern=ITEM_CODE, description="stable key cases cite, e.g. qz-ec-01")
    title: Title = Field(description="事项名称")
    violation: LongText = Field(description="违法行为 as the list describes it")
    legal_basis: LongText = Field(
        description="法律依据: the leniency provision (行政处罚法第三十三条 …) and the one violated"
    )
    outcome: LenientOutcome = Field(description="no_penalty (不予处罚) or reduced (减轻处罚)")
    conditions: ConditionsBody


class ItemUpdate(_Body):
    """``PATCH /v1/leniency-items/{code}``: only the fields named change; ``active: false``
    retires the item (it is never deleted), ``true`` restores it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"active": False}, {"title": "网店未亮照亮证"}]}
    )

    title: Title | None = None
    violation: LongText | None = None
    legal_basis: LongText | None = None
    outcome: LenientOutcome | None = None
    conditions: ConditionsBody | None = None
    active: bool | None = None


class ConditionsPublic(BaseModel):
    first_offence: FirstOffenceRule | None
    corrected_in_time: bool
    minor_harm: bool
    labels: list[str] = Field(description="the conditions in Chinese, e.g. 首次违法（730 日内）")


ITEM_PUBLIC_EXAMPLE: dict[str, Any] = {
    **ITEM_EXAMPLE,
    "outcome_label": "不予处罚",
    "conditions": {
        **ITEM_EXAMPLE["conditions"],
        "labels": ["首次违法（730 日内，任何违法案件）", "及时改正", "危害后果轻微"],
    },
    "active": True,
    "version": 1,
    "entry_id": "lni-0f1e2d3c4b5a69788796a5b4c3d2",
    "created_at": "2026-12-03T09:00:00Z",
    "updated_at": "2026-12-03T09:00:00Z",
}


class ItemPublic(BaseModel):
    """An item of the 免罚清单."""

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_PUBLIC_EXAMPLE]})

    code: str
    title: str
    violation: str
    legal_basis: str
    outcome: str
    outcome_label: str = Field(description="不予处罚 or 减轻处罚")
    conditions: ConditionsPublic
    active: bool
    version: int = Field(description="1 at creation, +1 per change")
    entry_id: str = Field(description="the latest leniency_item log entry")
    created_at: datetime
    updated_at: datetime


class ItemList(BaseModel):
    items: list[ItemPublic]


class ConditionCheck(BaseModel):
    """One condition checked at closing (or in a dry run)."""

    condition: str = Field(description="first_offence, corrected_in_time or minor_harm")
    label: str = Field(description="首次违法, 及时改正 or 危害后果轻微")
    checked: str = Field(description="what was checked")
    found: str = Field(description="what was found")
    passed: bool


class LeniencyCheck(BaseModel):
    """``GET /v1/leniency-items/{code}/check``: the item's conditions against a case, as a
    closing would check them, changing nothing."""

    case_id: int
    leniency_item: str
    outcome: str
    outcome_label: str
    item_active: bool
    allowed: bool = Field(description="every condition holds and the item is active")
    conditions: list[ConditionCheck]


class ReasoningFacts(BaseModel):
    corrected_in_time: bool | None
    minor_harm: bool | None
    evidence_ids: list[str]


class Reasoning(BaseModel):
    """Why a case closed with its outcome (``leniency-reasoning/v1``): the item cited and
    each condition checked, what was checked and what was found."""

    format: str
    outcome: str
    outcome_label: str
    leniency_item: str | None
    item_title: str | None
    item_version: int | None
    legal_basis: str | None
    checked_at: str
    conditions: list[ConditionCheck]
    facts: ReasoningFacts
