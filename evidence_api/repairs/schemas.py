"""Request and response bodies of ``/v1/public/credit-repairs`` and ``/v1/credit-repairs``
(docs/credit-repair.md), with the Chinese labels the public and officers read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

REPAIR_ID = r"^rp-[0-9a-f]{28}$"
VIOLATION_ID = r"^sv-[0-9a-f]{28}$"
RECORD_REF = r"^cr-[1-9][0-9]{0,18}$"
#: Credit records one application may name.
MAX_RECORDS = 20
#: Characters of a decision's reason.
MAX_REASON = 2000
#: Characters of the statement (整改情况).
MAX_STATEMENT = 4000
#: The header carrying an application's access token.
ACCESS_HEADER = "X-Access-Token"

APPLIED, ACCEPTED, REJECTED = "applied", "accepted", "rejected"
STATUS_LABELS = {APPLIED: "待审核", ACCEPTED: "准予信用修复", REJECTED: "不予信用修复"}
STEP_LABELS = {APPLIED: "提交申请", ACCEPTED: "准予修复", REJECTED: "不予修复"}
_EXAMPLE_ID = "rp-0192f3a4b5c6d7e8f9a0b1c2d3e4"
_EXAMPLE_EV = "ev-0192f3a4b5c6d7e8f9a0b1c2d3e5"


class AttachmentReceipt(BaseModel):
    """One attachment fixed as evidence: the applicant keeps its receipt."""

    name: str = Field(examples=["整改报告.pdf"])
    evidence_id: str = Field(examples=[_EXAMPLE_EV])
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    receipt: str = Field(description="signed receipt of the evidence's log entry")
    proof_url: str


class RepairReceipt(BaseModel):
    """``201`` of ``POST /v1/public/credit-repairs``: the applicant's receipt."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "repair_id": _EXAMPLE_ID,
                    "access_token": "q3Zr0Yc6m1Jm2Hq0rX1o9jv0lq3t2xk0b5c8d7e6f5a",
                    "status": "applied",
                    "status_label": "待审核",
                    "entity_name": "某某美妆旗舰店",
                    "violation_id": "sv-0192f3a4b5c6d7e8f9a0b1c2d3e6",
                    "record_refs": ["cr-12"],
                    "entry_id": "rps-0192f3a4b5c6d7e8f9a0b1c2d3e7",
                    "leaf_hash": "0" * 64,
                    "attachments": [],
                    "created_at": "2026-12-03T09:00:00Z",
                }
            ]
        }
    )

    repair_id: str
    access_token: str = Field(
        description="shown once; send it as X-Access-Token to read the status (only its "
        "SHA-256 is kept)"
    )
    status: str
    status_label: str
    entity_name: str
    violation_id: str | None
    record_refs: list[str]
    entry_id: str = Field(description="the `applied` step's log entry (kind credit_repair)")
    leaf_hash: str
    attachments: list[AttachmentReceipt]
    created_at: datetime


class RepairStatus(BaseModel):
    """``GET /v1/public/credit-repairs/{id}``: status and the decision's reason, no more."""

    repair_id: str = Field(examples=[_EXAMPLE_ID])
    status: str = Field(examples=["rejected"])
    status_label: str = Field(examples=["不予信用修复"])
    decision_reason: str | None = Field(examples=["整改材料未能证明已消除不良影响"])
    decided_at: datetime | None
    created_at: datetime


class WaitingPublic(BaseModel):
    """A target's statutory waiting period and whether it has passed."""

    target: str = Field(examples=["violation:sv-…", "cr-12"])
    kind: str = Field(examples=["serious_violation", "case_penalty"])
    label: str = Field(examples=["严重违法失信名单"])
    start: datetime
    earliest: datetime
    due: bool = Field(description="the period has passed")
    source: str = Field(description="legal source of the period")


class AttachmentPublic(BaseModel):
    name: str
    evidence_id: str = Field(examples=[_EXAMPLE_EV])


class StepPublic(BaseModel):
    """One step and the log entry recording it."""

    step: str = Field(examples=["applied"])
    step_label: str = Field(examples=["提交申请"])
    actor: str = Field(examples=["applicant", "token-7"])
    at: datetime
    entry_id: str
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class RepairPublic(BaseModel):
    """An application as officers list it."""

    repair_id: str = Field(examples=[_EXAMPLE_ID])
    entity_id: int
    entity_name: str
    uscc: str | None
    unit: str | None = Field(description="the entity's unit code (null: the top)")
    violation_id: str | None
    record_refs: list[str]
    applicant_name: str
    applicant_contact: str
    status: str
    status_label: str
    created_at: datetime
    decided_at: datetime | None


class RepairDetail(RepairPublic):
    """An application with its statement, attachments, waiting periods and steps."""

    statement: str
    pledge_accepted: bool
    decision_reason: str | None
    decided_by: str | None
    covers: list[str] = Field(description="refs the repair_accepted record covers")
    record_ref: str | None = Field(description="the repair_accepted credit record (cr-…)")
    attachments: list[AttachmentPublic]
    waiting: list[WaitingPublic]
    steps: list[StepPublic]


class RepairPage(BaseModel):
    items: list[RepairPublic]
    next_cursor: str | None


class DecisionBody(BaseModel):
    """``POST /v1/credit-repairs/{id}/decision``."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"decision": "accept", "reason": "已履行处罚决定，整改到位，承诺守信"}]
        },
    )

    decision: Literal["accept", "reject"]
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)] = Field(
        description="理由 (required; stored, the log holds its SHA-256)"
    )
