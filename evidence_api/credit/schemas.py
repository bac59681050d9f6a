"""Response bodies of the credit API (docs/credit.md §6): an entity's grade explained line
by line, its records, its grade history, and the grading policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Labels of the causes of a grade change (codes are stored).
CAUSES = {
    "record": "新增信用记录 a new credit record",
    "decay": "时间衰减 decay over time",
    "policy": "分级规则变更 a new policy version",
}
#: Labels of the rule lines (lines that name no record).
RULE_LABEL = "规则 rule"
#: How an explanation line and a change are checked against the log.
VERIFY = (
    "Each entry_id names an entry of the log: GET /v1/credit/entries/<id> gives its bytes "
    "and leaf hash (SHA-256 of 0x00 and the bytes), GET /v1/log/proof/inclusion?leaf_hash= "
    "proves it is in the tree of the signed GET /v1/log/checkpoint, anchored on chain "
    "(docs/credit.md §6.4). A record's entry states its kind, source and time; a change's "
    "entry the grade, score, policy digest and records."
)


class CreditLine(BaseModel):
    ref: str | None = Field(description="the record (cr-<n>) the line explains; null for a rule")
    kind: str = Field(description="the record kind, or the rule's code")
    label: str
    points: int = Field(description="what the line adds to the score now")
    text: str = Field(description="why, in Chinese (e.g. −20 行政处罚结案 (2026-05-01))")
    source: str | None = Field(description="what the record came from (case:12, takedown:td-…)")
    entry_id: str | None = Field(description="the record's credit_record log entry")
    leaf_hash: str | None = Field(None, description="the entry's RFC 9162 leaf hash (hex)")


class CreditRecordPublic(BaseModel):
    ref: str = Field(description="cr-<n>")
    kind: str
    label: str
    source: str
    occurred_at: datetime = Field(description="when the fact happened (decay counts from it)")
    details: dict[str, Any]
    covers: list[str] = Field(description="records a repair settles")
    entry_id: str
    leaf_hash: str | None = Field(None, description="the entry's leaf hash (hex)")
    recorded_by: str
    recorded_at: datetime


class GradeChangePublic(BaseModel):
    id: int
    from_grade: str | None = Field(description="null for the first grade")
    to_grade: str
    to_label: str
    score: int
    policy_version: int
    cause: str = Field(description="record, decay or policy")
    cause_label: str
    records: list[str] = Field(description="the records that caused the change (cr-<n>)")
    entry_id: str = Field(description="the change's credit_grade log entry")
    leaf_hash: str | None = Field(None, description="the entry's leaf hash (hex)")
    at: datetime


class EntityCredit(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entity_id": 12,
                    "shop_name": "某某保健品旗舰店",
                    "graded": True,
                    "grade": "B",
                    "grade_label": "B 信用风险一般 ordinary risk",
                    "score": 80,
                    "policy_version": 1,
                    "policy_sha256": "3f1c…",
                    "policy_entry_id": "crp-019ae4c2b1d07f3c9a2e5b6d8f01",
                    "as_of": "2026-12-03T10:00:00Z",
                    "next_change_at": "2027-05-01T00:00:00Z",
                    "lines": [
                        {
                            "ref": "cr-7",
                            "kind": "case_penalty",
                            "label": "行政处罚结案 case closed with a penalty",
                            "points": -20,
                            "text": "−20 行政处罚结案 (2026-05-01)",
                            "source": "case:12",
                            "entry_id": "crr-019ae4c2b1d07f3c9a2e5b6d8f02",
                        }
                    ],
                    "records": [],
                    "records_next_cursor": "czc",
                    "history": [],
                    "verify": VERIFY,
                }
            ]
        }
    )

    entity_id: int
    shop_name: str
    graded: bool = Field(description="false: no record yet (the policy's grade of no records)")
    grade: str
    grade_label: str
    score: int
    policy_version: int
    policy_sha256: str = Field(description="SHA-256 of the policy's canonical JSON")
    policy_entry_id: str = Field(description="the policy's credit_policy log entry")
    as_of: datetime = Field(description="the grade is computed for this moment (now)")
    next_change_at: datetime | None = Field(description="when decay alone changes it next")
    lines: list[CreditLine] = Field(description="the explanation, in the policy's line order")
    records: list[CreditRecordPublic] = Field(description="one page, newest first")
    records_next_cursor: str | None = Field(description="pass as ?cursor= for older records")
    history: list[GradeChangePublic] = Field(description="grade changes, newest first")
    verify: str = Field(description="how to check each entry id against the anchored log")


class PolicySummary(BaseModel):
    version: int
    sha256: str = Field(description="SHA-256 of the canonical JSON document (the digest)")
    active: bool
    name: str | None = Field(description="the document's name, when it has one")
    created_by: str
    created_at: datetime
    entry_id: str = Field(description="the credit_policy log entry stating the digest")
    leaf_hash: str | None = Field(None, description="the entry's leaf hash (hex)")


class PolicyList(BaseModel):
    items: list[PolicySummary]


class PolicyDetail(PolicySummary):
    document: dict[str, Any] = Field(description="the policy document (docs/credit.md §3)")


class PolicyInstalled(PolicyDetail):
    regraded: int = Field(description="graded entities whose grade the new policy changed")


#: A credit log entry's id: a record's, a grade change's or a policy's.
ENTRY_ID = r"^cr[rgp]-[0-9a-f]{28}$"


class CreditEntry(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entry_id": "crr-019ae4c2b1d07f3c9a2e5b6d8f02",
                    "kind": "credit_record",
                    "entry": {
                        "v": 1,
                        "kind": "credit_record",
                        "id": "crr-019ae4c2b1d07f3c9a2e5b6d8f02",
                        "at": "2026-05-01T08:00:00.000Z",
                        "body": {"entity_id": 12, "kind": "case_penalty", "source": "case:12"},
                        "salt": "9c1f…",
                    },
                    "leaf_data": '{"at":"2026-05-01T08:00:00.000Z","body":{},"id":"crr-…"}',
                    "leaf_hash": "afe146408bd11efd0a70512d7bba484a90c709eb39ac844705536489ae596397",
                    "leaf_index": 41,
                    "receipt": "…",
                }
            ]
        }
    )

    entry_id: str
    kind: str
    entry: dict[str, Any] = Field(description="the entry, parsed")
    leaf_data: str = Field(
        description="the entry's RFC 8785 bytes: leaf hash = SHA-256(0x00 ‖ these)"
    )
    leaf_hash: str = Field(description="hex; GET /v1/log/proof/inclusion?leaf_hash= proves it")
    leaf_index: int | None = Field(description="null until the sealer has sealed it")
    receipt: str = Field(description="the log's signed receipt promising inclusion")
