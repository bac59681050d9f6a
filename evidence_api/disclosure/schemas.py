"""信息公示: request bodies, the public answers, and the allow-list of every public object.

Every public answer is built by :func:`allowed` from one of the ``*_FIELDS`` constants
below, never from a dump of a row: a column added to a table later stays private until
someone adds its name here (and to docs/disclosure.md §3). A unit test holds each
response model to its constant; the integration test crawls every public route and
holds every object it finds to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

#: A publication's public id: ``pub-`` + 12 hex digits of time + 16 random hex digits.
PUBLICATION_ID = r"^pub-[0-9a-f]{28}$"
HEX64 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#: Longest search text (``q=``): an entity name or a 统一社会信用代码.
MAX_QUERY = 64
#: Largest page, and the deepest offset a public list answers (deeper: narrow the search).
MAX_LIMIT = 100
MAX_OFFSET = 10_000

# --- the allow-lists -------------------------------------------------------------------

#: The published penalty record: exactly what ``record_sha256`` commits to.
RECORD_FIELDS: Final = (
    "publication_id",
    "case_number",
    "decision_number",
    "entity_name",
    "entity_uscc",
    "facts",
    "legal_basis",
    "penalty",
    "decision_date",
    "deciding_unit",
)
#: A penalty in the public list.
PENALTY_FIELDS: Final = (
    "id",
    "decision_number",
    "entity_name",
    "entity_uscc",
    "deciding_unit",
    "decision_date",
    "published_at",
    "entry_id",
    "proof_status",
    "url",
)
#: One penalty: the list's fields, the record, the bundle and where to check it.
PENALTY_DETAIL_FIELDS: Final = (
    *PENALTY_FIELDS,
    "case_number",
    "facts",
    "legal_basis",
    "penalty",
    "record",
    "record_sha256",
    "leaf_hash",
    "bundle",
    "proof_url",
    "verify_url",
)
#: A page of a public list.
PAGE_FIELDS: Final = ("items", "total", "offset", "limit", "q")
#: The ``disclosure`` entry's body (docs/disclosure.md §4), for each action.
ENTRY_BODY_FIELDS: Final = {
    "publish": (
        "action",
        "publication_id",
        "case_number",
        "entity_uscc",
        "decision_number",
        "record_sha256",
    ),
    "withdraw": ("action", "publication_id", "case_number", "decision_number", "reason_sha256"),
}


def allowed(source: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The ``fields`` of ``source``, in that order and nothing else (a missing one: None)."""
    return {name: source.get(name) for name in fields}


# --- requests (officers) ---------------------------------------------------------------

Text = Annotated[str, Field(min_length=1, max_length=4000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PublicationCreate(_Body):
    """The decision to publish; the entity and the deciding unit come from the case."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision_number": "泉市监处罚〔2026〕88号",
                    "facts": "当事人在其网店销售的保健食品页面宣称“根治糖尿病”，构成虚假宣传。",
                    "legal_basis": "《中华人民共和国反不正当竞争法》第八条第一款、第二十条",
                    "penalty": "责令停止违法行为，罚款人民币伍万元整。",
                    "decision_date": "2026-11-30",
                }
            ]
        }
    )

    decision_number: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="行政处罚决定书文号 (decision number)"
    )
    facts: Text = Field(description="违法事实摘要 (summary of the facts)")
    legal_basis: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="处罚依据 (legal basis)"
    )
    penalty: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="处罚内容 (penalty)"
    )
    decision_date: date = Field(description="决定日期 (decision date), YYYY-MM-DD")


class WithdrawBody(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "行政复议决定撤销原处罚决定"}]}
    )

    reason: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="why it is withdrawn (撤回理由); the log keeps its SHA-256"
    )


class Publication(BaseModel):
    """A publication as its officers see it (the public record plus its state)."""

    id: str
    case_id: int
    status: str = Field(description="published or withdrawn")
    record: dict[str, Any] = Field(description="the published record (docs/disclosure.md §2)")
    record_sha256: str
    published_at: datetime
    entry_id: str = Field(description="the publishing `disclosure` log entry")
    withdrawn_at: datetime | None
    withdraw_entry_id: str | None
    public_url: str = Field(description="where the public reads it")


# --- public answers --------------------------------------------------------------------


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicPenalty(_Public):
    """A published administrative penalty decision (行政处罚决定公示), as listed."""

    id: str = Field(pattern=PUBLICATION_ID, examples=["pub-019ae0c1d2e3f4a5b6c7d8e9f0a1"])
    decision_number: str = Field(description="行政处罚决定书文号")
    entity_name: str = Field(description="当事人 (the entity's name)")
    entity_uscc: str | None = Field(description="统一社会信用代码; null for an individual seller")
    deciding_unit: str = Field(description="作出处罚决定的机关 (unit name)")
    decision_date: date
    published_at: datetime
    entry_id: str = Field(description="the publishing `disclosure` log entry")
    proof_status: str = Field(description="pending, sealed or anchored")
    url: str = Field(description="this record in the public API")


class PublicPenaltyDetail(PublicPenalty):
    """One penalty decision with its record, the entry's proof bundle and where to check it."""

    case_number: str = Field(description="案件编号")
    facts: str = Field(description="违法事实")
    legal_basis: str = Field(description="处罚依据")
    penalty: str = Field(description="处罚内容")
    record: dict[str, Any] = Field(
        description="the published record; SHA-256 of its RFC 8785 JSON is record_sha256"
    )
    record_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", examples=[HEX64])
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$", examples=[HEX64])
    bundle: dict[str, Any] = Field(description="evidence-proof/v1 bundle of the entry")
    proof_url: str = Field(description="the bundle alone, to download and verify")
    verify_url: str | None = Field(description="the verification portal (null: not served)")


class PublicPenaltyPage(_Public):
    items: list[PublicPenalty]
    total: int = Field(description="matches in all")
    offset: int
    limit: int
    q: str | None = Field(description="the search, as understood (trimmed)")


# --- spot checks (双随机抽查) -------------------------------------------------------------

#: A published spot-check plan, as listed.
SPOTCHECK_FIELDS: Final = (
    "plan_id",
    "title",
    "status",
    "status_label",
    "plan_sha256",
    "seed_height",
    "drawn_count",
    "result_count",
    "committed_at",
    "published_at",
    "commit_entry_id",
    "draw_entry_id",
    "url",
)
#: One published plan.
SPOTCHECK_DETAIL_FIELDS: Final = (
    "plan_id",
    "title",
    "status",
    "status_label",
    "items",
    "plan",
    "plan_sha256",
    "chain_id",
    "seed_height",
    "seed_block_hash",
    "draw",
    "result_sha256",
    "drawn",
    "units",
    "results",
    "committed_at",
    "drawn_at",
    "published_at",
    "url",
    "plan_url",
    "reproduce",
    "proofs",
)
ITEM_FIELDS: Final = ("code", "name", "legal_basis", "department")
DRAWN_FIELDS: Final = ("entity", "name", "uscc", "officers")
RESULT_FIELDS: Final = (
    "entity",
    "name",
    "uscc",
    "outcome",
    "outcome_label",
    "date",
    "unit",
    "unit_name",
    "entry_id",
)
UNIT_FIELDS: Final = ("code", "name")
REPRODUCE_FIELDS: Final = (
    "command",
    "plan_url",
    "draw_url",
    "plan_sha256",
    "chain_id",
    "seed_height",
    "seed_block_hash",
    "algorithm",
)
PROOF_FIELDS: Final = ("step", "entry_id", "bundle")


class PublicSpotCheck(_Public):
    """A published spot-check plan (双随机抽查计划), as listed."""

    plan_id: str
    title: str
    status: str = Field(description="committed or drawn")
    status_label: str
    plan_sha256: str
    seed_height: int = Field(description="the chain block whose hash seeds the draw")
    drawn_count: int
    result_count: int
    committed_at: str | None
    published_at: str | None
    commit_entry_id: str
    draw_entry_id: str | None
    url: str


class PublicSpotCheckPage(_Public):
    items: list[PublicSpotCheck]
    total: int
    offset: int
    limit: int
    q: str | None


class PublicItem(_Public):
    code: str
    name: str = Field(description="抽查事项")
    legal_basis: str
    department: str


class PublicDrawn(_Public):
    entity: str = Field(description="entity ref in the plan (ent-<id>)")
    name: str | None = Field(description="the entity's name")
    uscc: str | None
    officers: list[str] = Field(description="refs of the officers assigned (no names)")


class PublicResult(_Public):
    entity: str
    name: str | None
    uscc: str | None
    outcome: str
    outcome_label: str = Field(description="检查结果")
    date: str
    unit: str | None = Field(description="the inspecting unit's code")
    unit_name: str | None
    entry_id: str


class PublicUnit(_Public):
    code: str
    name: str


class Reproduce(_Public):
    """How anyone redraws the plan: the command, the plan's bytes and the seed block."""

    command: str = Field(description="the exact evidence-verify command")
    plan_url: str = Field(description="the committed plan's canonical JSON")
    draw_url: str | None = Field(description="the draw's JSON (null before the draw)")
    plan_sha256: str
    chain_id: int
    seed_height: int
    seed_block_hash: str | None = Field(description="null until the seed block is mined")
    algorithm: str


class StepProof(_Public):
    step: str = Field(description="committed, drawn or result")
    entry_id: str
    bundle: dict[str, Any] = Field(description="evidence-proof/v1 bundle of the entry")


class PublicSpotCheckDetail(_Public):
    """One published plan: items, the committed plan, the seed, the draw, results, proofs."""

    plan_id: str
    title: str
    status: str
    status_label: str
    items: list[PublicItem]
    plan: dict[str, Any] = Field(description="the committed plan (verifier.spotcheck.DrawPlan)")
    plan_sha256: str
    chain_id: int
    seed_height: int
    seed_block_hash: str | None
    draw: dict[str, Any] | None = Field(description="the draw (DrawResult); null before it")
    result_sha256: str | None
    drawn: list[PublicDrawn]
    units: list[PublicUnit]
    results: list[PublicResult]
    committed_at: str | None
    drawn_at: str | None
    published_at: str | None
    url: str
    plan_url: str
    reproduce: Reproduce
    proofs: list[StepProof]
