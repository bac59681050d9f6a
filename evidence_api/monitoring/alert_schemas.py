"""Request and response bodies of ``/v1/alerts`` (预警) and ``/v1/stats/monitoring``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from evidence_api.monitoring.models import ALERT_CONVERTED, ALERT_DISMISSED, ALERT_OPEN
from evidence_api.units.schemas import Owned

ALERT_ID = r"^alr-[0-9a-f]{28}$"
#: Longest dismissal reason or conversion note.
MAX_NOTE = 2000

#: Alert states for officers (Chinese with the English alongside).
STATUS_LABELS: dict[str, str] = {
    ALERT_OPEN: "待处理 open",
    ALERT_DISMISSED: "已排除 dismissed",
    ALERT_CONVERTED: "已转线索 converted",
}

Note = Annotated[str, Field(min_length=1, max_length=MAX_NOTE)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DismissBody(_Body):
    """``POST /v1/alerts/{id}/dismiss``: why the alert is not a lead (排除理由)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "价格变动系平台统一促销活动，不构成违法线索"}]}
    )

    reason: Note = Field(description="why it is dismissed (排除理由), 1-2000 characters")


class ConvertBody(_Body):
    """``POST /v1/alerts/{id}/convert``: to an existing open case, or to a new clue."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"title": "某某旗舰店 涉嫌使用绝对化用语", "note": "商品页新增“最佳”“第一”等用语"}
            ]
        }
    )

    case_number: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")] | None
    ) = Field(
        None,
        description="案件编号 of an existing case that is not closed; omitted: a new case "
        "(线索) is created for the alert",
    )
    title: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        None, description="the new case's title; default: the rule and the target"
    )
    note: Note | None = Field(None, description="why it is converted (转线索说明)")


class AlertPublic(Owned):
    """An alert as officers list it."""

    id: str
    rule: str
    rule_label: str
    reason: str
    detail: dict[str, Any]
    status: str
    status_label: str
    monitor_id: str | None
    order_id: str | None
    platform: str | None = Field(description="platform code")
    entity_id: int | None
    evidence_id: str | None
    evidence_url: str | None
    case: str | None = Field(description="the case's number (案件编号) once converted")
    case_id: int | None
    recipient: str = Field(description="the officer it is for (token pseudonym)")
    created_at: datetime
    updated_at: datetime


class AlertEventPublic(BaseModel):
    """One state change of an alert (its opening included) and its ``alert`` log entry."""

    id: int = Field(description="the event id (the event stream's `id:`)")
    from_status: str | None
    to_status: str
    label: str
    at: datetime
    actor: str
    note: str | None
    entry_id: str = Field(description="the `alert` log entry recording this change")
    leaf_hash: str
    proof_status: str = Field(description="pending, sealed or anchored")
    proof_url: str = Field(description="where the proof bundles of the alert's entries are")


class AlertDetail(AlertPublic):
    """An alert, its history (oldest first) and where its proof bundles are."""

    history: list[AlertEventPublic]
    proofs_url: str


class AlertPage(BaseModel):
    items: list[AlertPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class AlertEntryProof(BaseModel):
    event_id: int
    to_status: str
    entry_id: str
    bundle: dict[str, Any] = Field(description="evidence-proof/v1 bundle of the `alert` entry")


class AlertProofs(BaseModel):
    """The proof bundle of every ``alert`` entry of one alert, oldest first."""

    alert_id: str
    entries: list[AlertEntryProof]


# --- statistics ---------------------------------------------------------------------


class RuleCount(BaseModel):
    rule: str
    label: str
    count: int


class PlatformCount(BaseModel):
    platform: str | None = Field(description="platform code; null: alerts of no platform")
    count: int


class EntityCount(BaseModel):
    entity_id: int
    name: str
    count: int


class WeekCount(BaseModel):
    week: str = Field(description="ISO 8601 week of the alerts' creation (UTC), e.g. 2026-W49")
    count: int


class AlertStats(BaseModel):
    total: int
    by_rule: list[RuleCount]
    by_platform: list[PlatformCount]
    by_entity: list[EntityCount] = Field(description="the 50 entities with the most alerts")
    by_week: list[WeekCount]


class PlatformCompliance(BaseModel):
    """One platform's takedown orders issued in the window (合规审查评价的数据)."""

    platform: str
    orders: int
    acknowledged: int = Field(description="orders acknowledged at least once")
    completed: int = Field(description="orders completed at least once")
    median_ack_seconds: float | None = Field(
        description="median of (first acknowledgment − issuance), seconds"
    )
    median_complete_seconds: float | None = Field(
        description="median of (first completion − issuance), seconds"
    )
    verified_removed: int = Field(
        description="completed orders with at least one re-capture that verified removal"
    )
    verified_share: float | None = Field(description="verified_removed / completed")
    reappearances: int = Field(description="re-captures that found a listing back")
    reappeared_orders: int = Field(description="orders with at least one reappearance")
    overdue: int = Field(description="orders that went overdue at least once")


class MonitoringStats(BaseModel):
    """``GET /v1/stats/monitoring``: alerts and takedown compliance in [since, until)."""

    since: datetime
    until: datetime
    platform: str | None
    alerts: AlertStats
    takedowns: list[PlatformCompliance]
