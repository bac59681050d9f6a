"""严重违法失信名单: request bodies, officers' and platforms' answers, the public allow-lists
and the Chinese labels of every code (docs/violators.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evidence_api.units.schemas import UNIT_CODE

#: A placement's public id: ``sv-`` + 12 hex digits of time + 16 random hex digits.
VIOLATION_ID = r"^sv-[0-9a-f]{28}$"
MAX_ID = 2**63 - 1
#: The statutory longest period (《市场监督管理严重违法失信名单管理办法》: three years).
MAX_YEARS = 3
MAX_PAGE = 200
MAX_FEED_PAGE = 500

LISTED, REMOVED, EXPIRED = "listed", "removed", "expired"
STATUS_LABELS: Final[dict[str, str]] = {
    LISTED: "列入名单",
    REMOVED: "已移出（信用修复或撤销）",
    EXPIRED: "期满移出",
}
CHANGE_LABELS: Final[dict[str, str]] = {
    LISTED: "列入严重违法失信名单",
    REMOVED: "移出严重违法失信名单",
    EXPIRED: "列入期满移出名单",
}
#: What a platform reports it did about a change (联合惩戒措施), code -> label.
MEASURES: Final[dict[str, str]] = {
    "restrict_promotion": "限制参加促销活动",
    "restrict_listing": "限制发布新商品",
    "restrict_traffic": "限制流量扶持与推荐",
    "delist_shop": "下架店铺",
    "suspend_service": "暂停平台服务",
    "enhanced_review": "加强审核与巡查",
    "lift_restrictions": "解除限制措施",
    "no_shop": "本平台无该经营者店铺，已列入监测",
}


def labels_of(codes: list[str]) -> list[str]:
    return [MEASURES.get(code, code) for code in codes]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PlacementCreate(_Body):
    """Place an entity on the list: legal basis, reason, and the period (``years``, or
    ``listed_until``; at most three years from ``listed_from``)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "entity_id": 12,
                    "legal_basis": "《市场监督管理严重违法失信名单管理办法》第九条",
                    "reason": "销售假冒注册商标的商品，情节严重，受到较重行政处罚",
                    "case_id": 7,
                    "years": 3,
                }
            ]
        },
    )

    entity_id: int = Field(ge=1, le=MAX_ID, description="the trading entity placed")
    legal_basis: str = Field(min_length=1, max_length=512, description="列入依据")
    reason: str = Field(min_length=1, max_length=4000, description="列入事由")
    case_id: int | None = Field(None, ge=1, le=MAX_ID, description="the case it rests on")
    unit: str | None = Field(
        None, pattern=UNIT_CODE, max_length=64, description="deciding unit (default: yours)"
    )
    listed_from: datetime | None = Field(None, description="start (default: now; not future)")
    listed_until: datetime | None = Field(None, description="end; or give `years`")
    years: int | None = Field(None, ge=1, le=MAX_YEARS, description="period in years")


class RemoveBody(_Body):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"reason": "行政复议撤销原处罚决定，依法移出"}]},
    )

    reason: str = Field(min_length=1, max_length=2000, description="移出理由 (the log: SHA-256)")


class AckBody(_Body):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"measures": ["restrict_promotion", "delist_shop"], "note": "已下架"}]
        },
    )

    measures: Annotated[list[str], Field(min_length=1, max_length=len(MEASURES))] = Field(
        description="measure codes taken (docs/violators.md §5), distinct"
    )
    note: str | None = Field(None, max_length=2000, description="free text (the log: SHA-256)")

    @field_validator("measures")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in MEASURES]
        if unknown:
            raise ValueError(f"unknown measure {unknown[0][:40]!r}; known: {', '.join(MEASURES)}")
        if len(set(value)) != len(value):
            raise ValueError("measures must be distinct")
        return value


# --- officers' answers ----------------------------------------------------------------


class EntityRef(BaseModel):
    id: int
    name: str = Field(description="shop name")
    uscc: str | None = Field(description="统一社会信用代码")
    platform: str = Field(description="platform code of the shop")
    shop_id: str | None
    shop_url: str | None


class AckView(BaseModel):
    platform: str
    measures: list[str]
    measure_labels: list[str]
    note: str | None
    at: datetime
    entry_id: str


class ChangeView(BaseModel):
    seq: int = Field(description="feed position")
    kind: str = Field(description="listed, removed or expired")
    kind_label: str
    at: datetime
    actor: str
    entry_id: str
    leaf_hash: str
    acks: list[AckView] = Field(description="platforms that acknowledged it")


class Violation(BaseModel):
    """A placement as officers see it."""

    violation_id: str = Field(examples=["sv-019ae0c1d2e3f4a5b6c7d8e9f0a1"])
    status: str
    status_label: str
    entity: EntityRef
    unit: str | None = None
    unit_name: str | None = None
    legal_basis: str
    reason: str
    case_id: int | None
    listed_from: datetime
    listed_until: datetime
    placed_by: str
    removed_at: datetime | None
    removed_by: str | None
    removal_reason: str | None
    repair_id: str | None
    change_seq: int
    entry_id: str
    created_at: datetime
    updated_at: datetime
    public_url: str | None = Field(description="the public page while it is published")


class ViolationDetail(Violation):
    changes: list[ChangeView]


class ViolationPage(BaseModel):
    items: list[Violation]
    next_cursor: str | None


class EntryProof(BaseModel):
    action: str = Field(description="listed, removed, expired or ack")
    seq: int = Field(description="the change's feed position")
    platform: str | None = Field(description="the acknowledging platform (ack only)")
    entry_id: str
    bundle: dict[str, Any] = Field(description="evidence-proof/v1 bundle of the entry")


class ViolationProofs(BaseModel):
    """Proof bundles of every entry of a placement: its changes and acknowledgements."""

    violation_id: str
    entries: list[EntryProof]


# --- platforms' answers ---------------------------------------------------------------


class FeedEntity(BaseModel):
    name: str
    uscc: str | None
    platform: str = Field(description="the platform the shop is on")
    own: bool = Field(description="whether the shop is on the reading platform")
    shop_id: str | None = Field(description="only when the shop is the reader's")
    shop_url: str | None = Field(description="only when the shop is the reader's")


class FeedChange(BaseModel):
    seq: int
    kind: str = Field(description="listed, removed or expired")
    kind_label: str
    violation_id: str
    entity: FeedEntity
    legal_basis: str
    listed_from: datetime
    listed_until: datetime
    at: datetime
    entry_id: str
    acknowledged: bool = Field(description="whether the reading platform acknowledged it")


class FeedPage(BaseModel):
    items: list[FeedChange]
    next_cursor: int = Field(description="pass as `cursor` to continue")
    more: bool = Field(description="whether more changes are there already")


class AckResult(AckView):
    seq: int
    violation_id: str
    created: bool = Field(description="false: this change was already acknowledged")


# --- public (allow-lists) -------------------------------------------------------------

PUBLIC_FIELDS: Final = (
    "violation_id",
    "entity_name",
    "entity_uscc",
    "legal_basis",
    "reason",
    "deciding_unit",
    "listed_from",
    "listed_until",
    "url",
)
PUBLIC_DETAIL_FIELDS: Final = (
    *PUBLIC_FIELDS,
    "platform_name",
    "entry_id",
    "proof_status",
)
PAGE_FIELDS: Final = ("items", "total", "offset", "limit", "q")


def allowed(source: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The ``fields`` of ``source``, in that order and nothing else."""
    return {name: source.get(name) for name in fields}


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicViolation(_Public):
    """A published placement (严重违法失信名单公示)."""

    violation_id: str = Field(examples=["sv-019ae0c1d2e3f4a5b6c7d8e9f0a1"])
    entity_name: str = Field(description="当事人")
    entity_uscc: str | None = Field(description="统一社会信用代码; null for an individual")
    legal_basis: str = Field(description="列入依据")
    reason: str = Field(description="列入事由")
    deciding_unit: str | None = Field(description="作出决定机关")
    listed_from: datetime
    listed_until: datetime
    url: str


class PublicViolationDetail(PublicViolation):
    platform_name: str = Field(description="the platform of the shop")
    entry_id: str = Field(description="the placement's log entry")
    proof_status: str = Field(description="the entry: pending, sealed or anchored")


class PublicViolationPage(_Public):
    items: list[PublicViolation]
    total: int
    offset: int
    limit: int
    q: str | None
