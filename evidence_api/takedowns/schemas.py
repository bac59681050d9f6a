"""Request and response bodies of the takedown APIs (officer and platform)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evidence_api.core.auth import PLATFORM_CODE
from evidence_api.core.timestamps import Rfc3339, check_client_time
from evidence_api.intake.schemas import FilePublic, ManifestDigests
from evidence_api.units.schemas import Owned, OwnerField, UnitCode

MAX_LISTING_URLS = 100
MAX_CITED_EVIDENCE = 100
EVIDENCE_ID = r"^ev-[0-9a-f]{28}$"
ORDER_ID = r"^td-[0-9a-f]{28}$"

Url = Annotated[str, Field(min_length=1, max_length=2048)]
Note = Annotated[str, Field(min_length=1, max_length=4096)]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must include a time zone (e.g. 2026-11-30T18:00:00+08:00)")
    try:
        return check_client_time(value)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from exc


class TakedownCreate(BaseModel):
    """``POST /v1/takedowns``: an order to one platform (责令删除/下架通知)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "platform": "example-mall",
                    "listing_urls": ["https://mall.example.com/item/10086"],
                    "legal_basis": "《电子商务法》第三十八条",
                    "reason": "商品页宣称“根治高血压”，涉嫌虚假宣传",
                    "evidence_ids": ["ev-0f1e2d3c4b5a69788796a5b4c3d2"],
                    "deadline": "2030-12-31T18:00:00+08:00",
                    "grant_files": True,
                    "case_number": "泉市监网案〔2026〕12号",
                }
            ]
        },
    )

    platform: Annotated[str, Field(pattern=PLATFORM_CODE)] = Field(
        description="platform code (平台代码), as registered under /v1/platforms"
    )
    listing_urls: Annotated[list[Url], Field(min_length=1, max_length=MAX_LISTING_URLS)] = Field(
        description="listings to take down (http/https URLs)"
    )
    legal_basis: Annotated[str, Field(min_length=1, max_length=512)] = Field(
        description="legal basis (法律依据), e.g. 《电子商务法》第三十八条"
    )
    reason: Note = Field(description="reason (理由)")
    evidence_ids: Annotated[
        list[Annotated[str, Field(pattern=EVIDENCE_ID)]],
        Field(min_length=1, max_length=MAX_CITED_EVIDENCE),
    ] = Field(description="evidence the order cites; the platform may read these (and only these)")
    deadline: Rfc3339 = Field(description="deadline (期限), RFC 3339 with a time zone, future")
    grant_files: bool = Field(
        False, description="the platform may download the cited evidence's files"
    )
    case_number: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="case number (案件编号) of a registered case"
    )
    unit: UnitCode | None = OwnerField

    @field_validator("listing_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for i, url in enumerate(urls):
            if not url.lower().startswith(("http://", "https://")) or len(url) < 9:
                raise ValueError(f"listing_urls[{i}] must be an http:// or https:// URL")
            if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
                raise ValueError(f"listing_urls[{i}] must not contain spaces or control characters")
        if len(set(urls)) != len(urls):
            raise ValueError("listing_urls must not repeat a URL")
        return urls

    @field_validator("evidence_ids")
    @classmethod
    def _unique(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("evidence_ids must not repeat an id")
        return ids

    @field_validator("deadline")
    @classmethod
    def _deadline_aware(cls, value: datetime) -> datetime:
        return _aware(value, "deadline")


class AckBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "已收到，正在核查"}]}
    )
    note: Note | None = None


class CompleteBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"note": "涉事商品已下架并冻结该链接", "removed_at": "2026-12-03T16:30:00+08:00"}
            ]
        },
    )
    note: Note = Field(description="what was done (处理说明)")
    removed_at: Rfc3339 = Field(description="when the listings were removed (下架时间), RFC 3339")

    @field_validator("removed_at")
    @classmethod
    def _removed_aware(cls, value: datetime) -> datetime:
        return _aware(value, "removed_at")


class DisputeBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "该商品已取得保健食品注册证书，宣传内容与批准文号一致"}]
        },
    )
    reason: Note = Field(description="why the platform disputes the order (异议理由)")


class RulingBody(BaseModel):
    """``POST /v1/takedowns/{id}/ruling``: an officer's ruling on a disputed order (异议裁决)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"decision": "withdraw", "reason": "平台已提交资质证明，经复核不构成违法"}]
        },
    )

    decision: Literal["uphold", "withdraw"] = Field(
        description="uphold (维持: the order stands, reopened with `deadline`) or "
        "withdraw (撤回: the order is closed)"
    )
    reason: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="the ruling's reasons (裁决理由), shown to the platform"
    )
    deadline: Rfc3339 | None = Field(
        None,
        description="uphold only (required): the new deadline, RFC 3339 with a time zone, "
        "future, at most 366 days ahead",
    )

    @field_validator("deadline")
    @classmethod
    def _deadline_aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value, "deadline")


class RulingPublic(BaseModel):
    """The latest ruling on a dispute of the order (shown to the platform too)."""

    decision: str = Field(description="uphold or withdraw")
    label: str
    reason: str
    deadline: datetime | None = Field(None, description="the new deadline (uphold)")
    at: datetime
    change_seq: int
    entry_id: str = Field(description="the `takedown` log entry recording the ruling")


class TakedownPublic(BaseModel):
    """An order as both officers and its platform see it."""

    order_id: str
    platform: str
    status: str
    status_label: str
    #: position in the platform's change feed (``since`` cursors count these)
    change_seq: int
    listing_urls: list[str]
    legal_basis: str
    reason: str
    evidence_ids: list[str]
    deadline: datetime
    grant_files: bool
    case_number: str | None
    issued_at: datetime
    issued_by: str
    updated_at: datetime
    content_sha256: str = Field(
        description="SHA-256 of the RFC 8785 canonical JSON of `content` (in the issuance entry)"
    )
    allowed_actions: list[str]
    ruling: RulingPublic | None = Field(
        None, description="the latest ruling on a dispute of the order (uphold or withdraw)"
    )


class EventPublic(BaseModel):
    change_seq: int
    from_status: str | None
    to_status: str
    label: str
    at: datetime
    actor: str
    note: str | None
    removed_at: datetime | None
    entry_id: str = Field(description="the `takedown` log entry recording this change")
    leaf_hash: str
    proof_status: str | None = Field(None, description="pending, sealed or anchored (officer view)")
    check: str | None = Field(
        None, description="a re-capture's result: removal_verified or reappeared"
    )
    evidence_id: str | None = Field(None, description="the re-capture kept as evidence")
    url: str | None = Field(None, description="the listing URL captured again")
    delay_seconds: int | None = Field(None, description="the re-capture's delay after completion")
    decision: str | None = Field(None, description="a ruling: uphold or withdraw")
    deadline: datetime | None = Field(
        None, description="the deadline this change set (issuance, uphold, reopening)"
    )


class CheckPublic(BaseModel):
    """One scheduled re-capture of a listed URL of a completed order (officer view)."""

    check_id: int
    round: int = Field(description="which completion of the order it verifies (1, 2, …)")
    url: str
    delay_seconds: int
    due_at: datetime
    status: str = Field(
        description="pending, running, removal_verified, reappeared, failed or cancelled"
    )
    attempts: int
    finished_at: datetime | None
    evidence_id: str | None
    change_seq: int | None = Field(None, description="the change recording the result")
    reason: str | None


class AttemptPublic(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    delivery_id: str
    event: str
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    log: list[AttemptPublic]


class TakedownAssign(BaseModel):
    """``PATCH /v1/takedowns/{id}``: give the order to a unit in the caller's jurisdiction."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"unit": "fj.qz.fz"}]},
    )

    unit: UnitCode = Field(description="the unit's code (所属单位)")


class OfficerOrder(TakedownPublic, Owned):
    """An order as officers see it: with the unit it belongs to (docs/supervision.md §1)."""


class TakedownDetail(OfficerOrder):
    """The officer's view: the order, what its hash covers, its history and deliveries."""

    content: dict[str, Any]
    history: list[EventPublic]
    checks: list[CheckPublic] = Field(description="re-captures after completion (复查)")
    deliveries: list[DeliveryPublic]


class TakedownPage(BaseModel):
    items: list[OfficerOrder]
    next_cursor: str | None


class FeedPage(BaseModel):
    """A page of the platform's change feed, oldest change first."""

    items: list[TakedownPublic]
    next_cursor: str = Field(
        description="pass as `since` next time; unchanged when nothing new has committed"
    )
    more: bool = Field(description="true when more changes are ready now")


class CitedEvidence(BaseModel):
    evidence_id: str
    manifest: ManifestDigests
    files: list[FilePublic]
    bundle: dict[str, Any] = Field(description="evidence-proof/v1 bundle, manifest included")


class PlatformTakedown(TakedownPublic):
    """What a platform sees of its own order: the order, its history, the cited evidence."""

    content: dict[str, Any]
    history: list[EventPublic]
    evidence: list[CitedEvidence]


class EntryProof(BaseModel):
    change_seq: int
    to_status: str
    entry_id: str
    bundle: dict[str, Any]


class TakedownProofs(BaseModel):
    """Proof bundles of every ``takedown`` entry of one order, oldest first."""

    order_id: str
    entries: list[EntryProof]
