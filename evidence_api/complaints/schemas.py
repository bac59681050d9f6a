"""Request and response bodies of ``/v1/public/complaints`` and ``/v1/complaints``
(docs/complaints.md §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evidence_api.units.schemas import UNIT_CODE

COMPLAINT_ID = r"^cp-[0-9a-f]{28}$"
#: The access token: 32 random bytes, URL-safe base64 without padding (43 characters).
ACCESS_TOKEN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 - a pattern
MAX_TEXT = 5000
MAX_NOTE = 2000
_EXAMPLE_CP = "cp-0192f3a4b5c6d7e8f9a0b1c2d3e4"
_EXAMPLE_EV = "ev-0f1e2d3c4b5a69788796a5b4c3d2"


class Receipt(BaseModel):
    """A log entry and its signed receipt (verifiable offline with ``evidence-verify``)."""

    entry_id: str = Field(examples=["cpe-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    receipt: str = Field(description="signed receipt (C2SP signed note)")


class AttachmentReceipt(BaseModel):
    """An attachment fixed as evidence."""

    name: str = Field(examples=["订单截图.png"])
    evidence_id: str = Field(examples=[_EXAMPLE_EV])
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    receipt: str = Field(description="signed receipt of the evidence entry")


class ComplaintCreated(BaseModel):
    """``POST /v1/public/complaints``: the access token is shown here only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "complaint_id": _EXAMPLE_CP,
                    "access_token": "q3Vb7-Jx0p1m7CwzWn5cS2Xl1l9yK3hQZ0o2M6n8rT4",
                    "status": "received",
                    "status_label": "待处理",
                    "received_at": "2026-12-03T08:00:00.000Z",
                    "entry": {
                        "entry_id": "cpe-0192f3a4b5c6d7e8f9a0b1c2d3e4",
                        "leaf_hash": "ab" * 32,
                        "receipt": "evidence.local/log\n…",
                    },
                    "attachments": [],
                }
            ]
        }
    )

    complaint_id: str = Field(examples=[_EXAMPLE_CP])
    access_token: str = Field(
        description="shown once: send it as X-Access-Token to read the status"
    )
    status: str
    status_label: str
    received_at: str
    entry: Receipt
    attachments: list[AttachmentReceipt]


class ComplaintStatus(BaseModel):
    """What the complainant may read: the status and the outcome, nothing else."""

    complaint_id: str = Field(examples=[_EXAMPLE_CP])
    status: str = Field(examples=["resolved"])
    status_label: str = Field(examples=["已办结"])
    outcome_label: str = Field(examples=["经核查属实"])
    substantiated: bool | None
    received_at: datetime
    resolved_at: datetime | None


class FlagReason(BaseModel):
    """A heuristic that fired, with its figures (docs/complaints.md §4)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["volume"])
    label: str = Field(examples=["短期内投诉数量多"])


class StepPublic(BaseModel):
    action: str = Field(examples=["received"])
    action_label: str
    actor: str = Field(examples=["public"], description="pseudonym, or public")
    note: str | None
    entry_id: str
    at: datetime


class ComplaintPublic(BaseModel):
    """A complaint as officers list it."""

    complaint_id: str = Field(examples=[_EXAMPLE_CP])
    kind: str = Field(examples=["complaint"])
    kind_label: str = Field(examples=["投诉"])
    category: str = Field(examples=["quality"])
    category_label: str = Field(examples=["商品质量"])
    status: str
    status_label: str
    substantiated: bool | None
    entity_id: int | None
    platform: str | None
    unit: str | None
    unit_name: str | None
    target_url: str | None
    target_name: str | None
    flagged: bool
    received_at: datetime
    triaged_at: datetime | None
    resolved_at: datetime | None


class ComplaintDetail(ComplaintPublic):
    """A complaint with its text, complainant, attachments, flags and steps."""

    text: str
    complainant_name: str
    complainant_contact: str
    evidence_ids: list[str]
    flag_reasons: list[FlagReason]
    triage_reason: str | None
    clue_id: str | None
    odr_id: str | None
    entry_id: str
    steps: list[StepPublic]


class ComplaintPage(BaseModel):
    items: list[ComplaintPublic]
    next_cursor: str | None


class TriageBody(BaseModel):
    """``POST /v1/complaints/{id}/triage``."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"action": "to_clue", "entity_id": 12, "reason": "涉嫌虚假宣传，转线索核查"},
                {"action": "to_odr", "reason": "消费纠纷，适合在线调解"},
                {"action": "reject", "reason": "不属于本局管辖"},
            ]
        },
    )

    action: Literal["to_clue", "to_odr", "reject"]
    reason: Annotated[str, Field(min_length=1, max_length=MAX_NOTE)] | None = Field(
        None, description="required for reject; stored, the log holds its SHA-256"
    )
    entity_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        None, description="the entity, when the complaint's target was not resolved to one"
    )
    unit: Annotated[str, Field(pattern=UNIT_CODE, max_length=64)] | None = Field(
        None, description="the unit to hold the complaint (in the caller's reach)"
    )


class ResolveBody(BaseModel):
    """``POST /v1/complaints/{id}/resolve``."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"substantiated": True, "note": "经核查，情况属实"}]},
    )

    substantiated: bool
    note: Annotated[str, Field(min_length=1, max_length=MAX_NOTE)] | None = None


def reasons_of(raw: list[dict[str, Any]]) -> list[FlagReason]:
    return [FlagReason.model_validate(r) for r in raw]
