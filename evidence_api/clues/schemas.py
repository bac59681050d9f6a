"""Request and response bodies of ``/v1/clues``, ``/v1/assists`` and
``/v1/platform/assists`` (docs/clues.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evidence_api.core.auth import PLATFORM_CODE
from evidence_api.core.timestamps import ClientTime
from evidence_api.units.schemas import UNIT_CODE

CLUE_ID = r"^clu-[0-9a-f]{28}$"
TRANSFER_ID = r"^ctr-[0-9a-f]{28}$"
ASSIST_ID = r"^ast-[0-9a-f]{28}$"
EVIDENCE_ID = r"^ev-[0-9a-f]{28}$"
ALERT_ID = r"^alr-[0-9a-f]{28}$"
MAX_CLUE_EVIDENCE = 100
MAX_TOPICS = 6
#: Characters of a reason, note or reply text (stored; only its digest is logged).
MAX_TEXT = 2000
MAX_SUMMARY = 8000

Reason = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
UnitCode = Annotated[str, Field(pattern=UNIT_CODE, examples=["fj.qz.fz"])]
Topic = Annotated[
    str,
    Field(
        pattern=r"^(seller_identity|order_data|listing_history|payment_records|logistics|other)$"
    ),
]
_EXAMPLE_EV = "ev-0f1e2d3c4b5a69788796a5b4c3d2"
_EXAMPLE_CLUE = "clu-0192f3a4b5c6d7e8f9a0b1c2d3e4"


class ClueCreate(BaseModel):
    """``POST /v1/clues``: a clue held by the creator's unit."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "title": "某旗舰店疑似销售假冒化妆品",
                    "summary": "监测发现商品页价格异常低于市场价，页面宣称“专柜正品”。",
                    "entity_id": 12,
                    "evidence_ids": [_EXAMPLE_EV],
                    "case_id": 3,
                }
            ]
        },
    )

    title: Annotated[str, Field(min_length=1, max_length=200)] = Field(description="标题 title")
    summary: Annotated[str, Field(min_length=1, max_length=MAX_SUMMARY)] = Field(
        description="线索摘要 what was found (stored; the log holds only its SHA-256)"
    )
    entity_id: Annotated[int, Field(ge=1, le=2**63 - 1)] = Field(
        description="the trading entity (经营主体) under /v1/entities"
    )
    evidence_ids: Annotated[
        list[Annotated[str, Field(pattern=EVIDENCE_ID)]],
        Field(min_length=0, max_length=MAX_CLUE_EVIDENCE),
    ] = Field(default_factory=list, description="evidence the clue carries")
    case_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        None, description="the case it came from (案件), if any"
    )
    alert_id: Annotated[str, Field(pattern=ALERT_ID)] | None = Field(
        None, description="the monitoring alert it came from, if any"
    )

    @field_validator("evidence_ids")
    @classmethod
    def _unique(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("evidence_ids must not repeat an id")
        return ids


class TransferCreate(BaseModel):
    """``POST /v1/clues/{id}/transfers``: send the clue to another unit (线索转办)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "to_unit": "fj.qz.jj",
                    "reason": "经营者注册地在晋江市，属地管辖",
                    "deadline": "2030-12-31T18:00:00+08:00",
                }
            ]
        },
    )

    to_unit: UnitCode = Field(description="the receiving unit's code (接收单位)")
    reason: Reason = Field(description="转办理由 reason")
    deadline: ClientTime = Field(description="办理期限: RFC 3339 with a zone, future")


class AnswerBody(BaseModel):
    """``…/accept`` (``reason`` optional, a note) and ``…/return`` (``reason`` required)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"reason": "经核查不属于本局管辖"}]},
    )

    reason: Reason | None = Field(None, description="退回理由 (required to return) or a note")


class AssistCreate(BaseModel):
    """``POST /v1/assists``: ask another unit or a platform (政企协作) for information."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "to_platform": "example-mall",
                    "entity_id": 12,
                    "clue_id": _EXAMPLE_CLUE,
                    "topics": ["seller_identity", "order_data"],
                    "questions": "请提供该店铺经营者实名信息及2026年11月全部订单记录",
                    "deadline": "2030-12-31T18:00:00+08:00",
                }
            ]
        },
    )

    to_unit: UnitCode | None = Field(None, description="the unit asked (协查单位); or to_platform")
    to_platform: Annotated[str, Field(pattern=PLATFORM_CODE)] | None = Field(
        None, description="the platform asked (平台代码); or to_unit"
    )
    entity_id: Annotated[int, Field(ge=1, le=2**63 - 1)] = Field(description="the entity concerned")
    clue_id: Annotated[str, Field(pattern=CLUE_ID)] | None = Field(
        None, description="the clue it serves, if any"
    )
    topics: Annotated[list[Topic], Field(min_length=1, max_length=MAX_TOPICS)] = Field(
        description="what is asked: seller_identity, order_data, listing_history, "
        "payment_records, logistics, other"
    )
    questions: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] = Field(
        description="协查事项 the questions, in words"
    )
    deadline: ClientTime = Field(description="回复期限: RFC 3339 with a zone, future")

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, topics: list[str]) -> list[str]:
        if len(set(topics)) != len(topics):
            raise ValueError("topics must not repeat a topic")
        return topics


class ReplyText(BaseModel):
    """The ``metadata`` part of a reply (multipart): its text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: Reason


class CloseBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"note": "已取得所需信息"}]},
    )

    note: Reason | None = Field(None, description="a closing note (办结说明)")


# --- answers ------------------------------------------------------------------------------


class StepPublic(BaseModel):
    """One step and the log entry recording it."""

    step: str = Field(examples=["transfer_sent"])
    actor: str = Field(examples=["token-7"], description="pseudonym, or system")
    at: datetime
    transfer_id: str | None = None
    entry_id: str = Field(examples=["cl-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class TransferPublic(BaseModel):
    transfer_id: str = Field(examples=["ctr-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    from_unit: str | None = Field(examples=["fj.qz"], description="null: the top")
    to_unit: str = Field(examples=["fj.qz.jj"])
    reason: str
    deadline: datetime
    status: str = Field(examples=["pending"], description="pending | accepted | returned")
    overdue: bool
    sent_by: str
    sent_at: datetime
    answered_by: str | None = None
    answered_at: datetime | None = None
    answer: str | None = Field(None, description="the return reason or acceptance note")


class CluePublic(BaseModel):
    clue_id: str = Field(examples=[_EXAMPLE_CLUE])
    title: str
    summary: str
    entity_id: int
    evidence_ids: list[str]
    case_id: int | None = None
    alert_id: str | None = None
    unit: str | None = Field(
        examples=["fj.qz"], description="the holding unit's code (null: the top)"
    )
    status: str = Field(examples=["pending"], description="held | pending | returned | accepted")
    status_label: str = Field(examples=["转办中"])
    overdue: bool = Field(description="its pending transfer is past its deadline")
    created_by: str
    created_at: datetime
    updated_at: datetime


class ClueDetail(CluePublic):
    transfers: list[TransferPublic]
    steps: list[StepPublic]
    proofs_url: str = Field(examples=[f"/v1/clues/{_EXAMPLE_CLUE}/proofs"])


class CluePage(BaseModel):
    items: list[CluePublic]
    next_cursor: str | None


class ReplyPublic(BaseModel):
    text: str
    evidence_ids: list[str]
    replied_by: str
    replied_at: datetime


class AssistPublic(BaseModel):
    assist_id: str = Field(examples=["ast-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    from_unit: str | None = Field(examples=["fj.qz"], description="null: the top")
    to_unit: str | None = None
    to_platform: str | None = Field(None, examples=["example-mall"])
    entity_id: int
    clue_id: str | None = None
    topics: list[str] = Field(examples=[["seller_identity"]])
    questions: str
    deadline: datetime
    status: str = Field(examples=["open"], description="open | replied | closed")
    status_label: str = Field(examples=["待回复"])
    overdue: bool
    sent_by: str
    sent_at: datetime
    updated_at: datetime


class AssistDetail(AssistPublic):
    replies: list[ReplyPublic]
    steps: list[StepPublic]
    proofs_url: str = Field(examples=["/v1/assists/ast-0192f3a4b5c6d7e8f9a0b1c2d3e4/proofs"])


class AssistPage(BaseModel):
    items: list[AssistPublic]
    next_cursor: str | None


class StepProof(BaseModel):
    step: str
    entry_id: str
    bundle: dict[str, object] = Field(description="evidence-proof/v1 bundle of the step's entry")


class StepProofs(BaseModel):
    """Proof bundles of every step's entry, oldest first."""

    id: str
    entries: list[StepProof]
