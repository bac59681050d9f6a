"""Request and response bodies of ``/v1/inspection-items`` and ``/v1/spot-checks``
(双随机、一公开, docs/inspections.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evidence_api.units.schemas import UNIT_CODE

PLAN_ID = r"^sc-[0-9a-f]{28}$"
ITEM_CODE = r"^[a-z0-9][a-z0-9._-]{0,63}$"
ENTITY_REF = r"^ent-[1-9][0-9]{0,18}$"
#: An officer as requests name them: the token pseudonym (conflicts, results) ...
OFFICER_PSEUDONYM = r"^token-[1-9][0-9]{0,18}$"
#: ... or, for a result, the plan's own ref as the draw shows it.
OFFICER_REF = r"^(token|off)-[1-9][0-9]{0,18}$"
EVIDENCE_ID = r"^ev-[0-9a-f]{28}$"
#: A unit code, or a 行政区划代码 prefix (2 to 12 digits).
REGION = r"^([a-z0-9][a-z0-9._-]{0,63}|[0-9]{2,12})$"
GRADES = ("A", "B", "C", "D", "none")

Text = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
Grade = Literal["A", "B", "C", "D", "none"]
Outcome = Literal["qualified", "unqualified", "rectify", "no_issue", "not_found", "closed"]
RiskClass = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Weight = Annotated[int, Field(ge=1, le=1_000_000)]

ITEM_EXAMPLE: dict[str, Any] = {
    "code": "wj-01-license",
    "name": "网络交易经营者亮照亮证情况检查（营业执照、行政许可信息公示）",
    "legal_basis": "《中华人民共和国电子商务法》第十五条；《网络交易监督管理办法》第十二条",
    "department": "市场监督管理部门（网络交易监督管理机构）",
    "entity_classes": [],
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ItemCreate(_Body):
    """``POST /v1/inspection-items``: one 抽查事项 (administrators)."""

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_EXAMPLE]})

    code: str = Field(pattern=ITEM_CODE, max_length=64, description="stable key, e.g. wj-01")
    name: Text = Field(description="事项名称")
    legal_basis: str = Field(
        min_length=1, max_length=2000, pattern=r"^[^\x00-\x1f\x7f]+$", description="检查依据"
    )
    department: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="实施部门", pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    entity_classes: list[RiskClass] = Field(
        default_factory=list,
        max_length=50,
        description="applicable entity classes (risk classes); empty: every class",
    )


class ItemPublic(BaseModel):
    """An inspection item (抽查事项)."""

    code: str
    name: str
    legal_basis: str
    department: str
    entity_classes: list[str]


class ItemList(BaseModel):
    """The inspection-item list (抽查事项清单)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [ITEM_EXAMPLE]}]})

    items: list[ItemPublic]


class Conflict(_Body):
    """A declared conflict of interest: this officer never inspects this entity."""

    officer: str = Field(
        pattern=OFFICER_PSEUDONYM,
        description="the officer's token pseudonym, token-<id> (the plan shows it as off-<n>)",
    )
    entity: str = Field(pattern=ENTITY_REF, description="entity ref, ent-<id>")


PLAN_EXAMPLE: dict[str, Any] = {
    "title": "2026年第四季度网络交易经营者亮照亮证“双随机”抽查",
    "items": ["wj-01-license", "wj-03-information"],
    "region": "fj.qz",
    "risk_classes": [],
    "risk_grades": ["A", "B", "C", "D", "none"],
    "officer_units": ["fj.qz.fz", "fj.qz.lc"],
    "entity_count": 50,
    "officer_count": 10,
    "inspectors_per_entity": 2,
    "weights": {"A": 1, "B": 2, "C": 4, "D": 8, "none": 2},
    "recusal_days": 365,
    "conflicts": [{"officer": "token-12", "entity": "ent-1042"}],
}


class PlanCreate(_Body):
    """``POST /v1/spot-checks``: what to inspect, whom, and by whom. The pools are
    resolved when the plan is committed and never change after."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [PLAN_EXAMPLE]}
    )

    title: Text = Field(description="计划名称")
    items: list[Annotated[str, Field(pattern=ITEM_CODE, max_length=64)]] = Field(
        min_length=1, max_length=50, description="inspection item codes (抽查事项)"
    )
    region: str | None = Field(
        None,
        pattern=REGION,
        max_length=64,
        description="a unit code (entities of that unit and those below it) or a 行政区划代码 "
        "prefix (entities of units whose region code starts with it); omitted: the caller's "
        "whole jurisdiction",
    )
    risk_classes: list[RiskClass] = Field(
        default_factory=list, max_length=50, description="only these risk classes; empty: all"
    )
    risk_grades: list[Grade] = Field(
        default_factory=list,
        max_length=5,
        description="only these credit grades (none: not graded); empty: all",
    )
    officer_units: list[Annotated[str, Field(pattern=UNIT_CODE, max_length=64)]] = Field(
        min_length=1,
        max_length=100,
        description="officers (role officer, token not revoked or expired) of these units and "
        "the units below them form the officer pool",
    )
    entity_count: int = Field(ge=1, le=10_000, description="entities to draw")
    officer_count: int = Field(ge=1, le=10_000, description="officers to draw")
    inspectors_per_entity: int = Field(2, ge=1, le=10, description="officers per entity")
    weights: dict[Grade, Weight] = Field(
        default_factory=dict,
        description="integer weight per credit grade; a grade not named weighs 1",
    )
    recusal_days: int = Field(
        365,
        ge=0,
        le=3650,
        description="an officer never inspects an entity on which their own unit opened a "
        "case within this many days (0: no such recusal)",
    )
    conflicts: list[Conflict] = Field(
        default_factory=list, max_length=10_000, description="declared conflicts (申报回避)"
    )


class ResultCreate(_Body):
    """``POST /v1/spot-checks/{id}/results``: the outcome for one drawn entity."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "entity": "ent-1042",
                    "outcome": "rectify",
                    "note": "未在首页显著位置公示营业执照信息，已责令限期整改",
                    "officer": "token-12",
                    "evidence_ids": ["ev-0f1e2d3c4b5a69788796a5b4c3d2"],
                }
            ]
        },
    )

    entity: str = Field(pattern=ENTITY_REF, description="a drawn entity, ent-<id>")
    outcome: Outcome = Field(description="抽查结果 code (docs/inspections.md §5)")
    note: str | None = Field(
        None,
        min_length=1,
        max_length=4000,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$",
        description="检查情况说明 (line breaks and tabs allowed, no other control characters)",
    )
    officer: str = Field(
        pattern=OFFICER_REF,
        description="an officer the draw assigned to this entity: the plan's ref off-<n> or "
        "the token pseudonym token-<id> (recorded as off-<n>)",
    )
    evidence_ids: list[Annotated[str, Field(pattern=EVIDENCE_ID)]] = Field(
        default_factory=list, max_length=20, description="evidence of the inspection"
    )


class DrawnEntity(BaseModel):
    entity: str
    name: str | None
    uscc: str | None
    officers: list[str]


class PlanOfficer(BaseModel):
    """An officer of the plan's pool as officers see it: the plan's ref (the only form
    public) with the token pseudonym and holder it stands for (never public)."""

    ref: str = Field(description="the plan's ref, off-<n>")
    unit: str = Field(description="unit code")
    pseudonym: str = Field(description="token pseudonym, token-<id>")
    holder: str | None = Field(description="持证人 (display name and unit)")


class ResultPublic(BaseModel):
    entity: str
    name: str | None
    uscc: str | None
    outcome: str
    outcome_label: str
    date: str
    unit: str | None
    unit_name: str | None
    entry_id: str


class ItemRef(BaseModel):
    code: str
    name: str
    legal_basis: str
    department: str


class PlanEntries(BaseModel):
    """Log entry ids of each step (proof bundles: ``GET /v1/log/entries/{id}/proof``)."""

    committed: str
    drawn: str | None
    published: str | None
    results: list[str]


class DrawPublic(BaseModel):
    """The stored draw (verifier.spotcheck.DrawResult)."""

    algorithm: str
    plan_sha256: str
    seed: str
    entities: list[str]
    officers: list[str]
    assignments: list[dict[str, Any]]


class PlanSummary(BaseModel):
    plan_id: str
    title: str
    status: str
    status_label: str
    plan_sha256: str
    seed_height: int
    entity_pool: int
    officer_pool: int
    public: bool
    committed_at: str
    commit_entry_id: str


class PlanPage(BaseModel):
    """Spot-check plans in the caller's jurisdiction, newest first."""

    plans: list[PlanSummary]
    total: int


class PlanDetail(BaseModel):
    """A plan with its status, draw, results and log entries (the pools themselves:
    ``GET /v1/spot-checks/{id}/plan.json``)."""

    plan_id: str
    title: str
    status: str
    status_label: str
    items: list[ItemRef]
    plan_sha256: str
    algorithm: str
    chain_id: int
    seed_height: int
    seed_block_hash: str | None
    entity_pool: int
    officer_pool: int
    recusals: int
    entity_count: int
    officer_count: int
    inspectors_per_entity: int
    draw: DrawPublic | None
    result_sha256: str | None
    officers: list[PlanOfficer] = Field(
        description="the pool: each off-<n> with the officer it stands for (officers only)"
    )
    drawn: list[DrawnEntity]
    results: list[ResultPublic]
    entries: PlanEntries
    public: bool
    committed_at: str
    drawn_at: str | None
    published_at: str | None
    plan_url: str
