"""Request and response bodies of the registries (platforms, entities, cases).

Create bodies validate everything a row needs; update bodies (PATCH) have the
same field rules, every field optional, and ``null`` clears a field that may be
empty. Which fields a PATCH named is ``model_fields_set``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from evidence_api.core.auth import PLATFORM_CODE
from evidence_api.leniency.schemas import Reasoning
from evidence_api.registry.case_workflow import STATUSES
from evidence_api.units.schemas import Owned, OwnerField, UnitCode

PlatformCode = Annotated[
    str,
    Field(
        pattern=PLATFORM_CODE,
        description="lowercase letters, digits, - or _ (platform tokens are bound to it)",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Url = Annotated[str, Field(min_length=1, max_length=2048)]
Secret = Annotated[
    str,
    Field(
        min_length=32,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="HMAC-SHA256 key for webhook signatures; 32-128 printable ASCII characters",
    ),
]
RiskGrade = Literal["A", "B", "C", "D"]
#: 企业信用风险分类 (A-D), as the market-regulation risk classification names them.
RISK_GRADES = {"A": "信用风险低", "B": "信用风险一般", "C": "信用风险较高", "D": "信用风险高"}
Note = Annotated[str, Field(min_length=1, max_length=4096)]


def http_url(value: str | None) -> str | None:
    """``value`` if it is an absolute http(s) URL without spaces or control characters."""
    if value is None:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest or rest[0] in "/?#":
        raise ValueError("must be an http:// or https:// URL with a host")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        raise ValueError("must not contain spaces or control characters")
    return value


#: Why a body naming ``risk_grade`` is refused (docs/credit.md §6.6).
GRADE_COMPUTED = (
    "the credit grade is computed from the entity's credit records and cannot be set; "
    "see GET /v1/entities/{entity_id}/credit (risk_class stays editable)"
)


def grade_is_computed(value: object) -> object:
    """Refuse any ``risk_grade`` in a create or update body (422 naming the field)."""
    del value
    raise PydanticCustomError("grade_computed", GRADE_COMPUTED)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- platforms ------------------------------------------------------------------------


class PlatformCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "example-mall",
                    "name": "某某商城",
                    "webhook_url": "https://hooks.mall.example.com/takedowns",
                    "webhook_enabled": True,
                }
            ]
        }
    )

    code: PlatformCode
    name: Name = Field(description="display name, e.g. 某某商城")
    webhook_url: Url | None = Field(None, description="http(s) endpoint for signed deliveries")
    webhook_enabled: bool = False
    webhook_secret: Secret | None = Field(
        None, description="omit to have one generated (then shown once, in this answer)"
    )

    _url = field_validator("webhook_url")(http_url)


class PlatformUpdate(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "某某优选商城", "webhook_enabled": False}]}
    )

    name: Name | None = None
    webhook_url: Url | None = Field(None, description="null removes it (and disables webhooks)")
    webhook_enabled: bool | None = None
    webhook_secret: Secret | None = Field(None, description="replace the secret with this one")

    _url = field_validator("webhook_url")(http_url)


class PlatformPublic(BaseModel):
    code: str
    name: str
    webhook_url: str | None
    webhook_enabled: bool
    webhook_secret_set: bool = Field(description="the secret itself is never shown again")
    created_at: datetime
    updated_at: datetime


class PlatformWithSecret(PlatformPublic):
    webhook_secret: str | None = Field(
        description="a generated secret, shown this once; null when the admin supplied it"
    )


class PlatformPage(BaseModel):
    items: list[PlatformPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


# --- online trading entities ------------------------------------------------------------


class EntityCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "platform": "example-mall",
                    "shop_name": "某某保健品旗舰店",
                    "shop_id": "shop-20261",
                    "shop_url": "https://mall.example.com/shop/20261",
                    "uscc": "91350100M000100Y43",
                    "risk_class": "保健食品",
                }
            ]
        }
    )

    platform: PlatformCode = Field(description="code of a registered platform")
    shop_name: Annotated[str, Field(min_length=1, max_length=256)] = Field(description="店铺名称")
    shop_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        None, description="the platform's id of the shop (unique on that platform)"
    )
    shop_url: Url | None = None
    uscc: Annotated[str, Field(max_length=64)] | None = Field(
        None,
        description="统一社会信用代码 (GB 32100-2015, 18 characters; check character verified)",
    )
    #: refused: the grade is computed (:func:`grade_is_computed`); not in the schema
    risk_grade: SkipJsonSchema[Any] = Field(None, exclude=True)
    risk_class: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="risk category, e.g. 食品, 化妆品"
    )
    unit: UnitCode | None = OwnerField

    _url = field_validator("shop_url")(http_url)
    _grade = field_validator("risk_grade", mode="before")(grade_is_computed)


class EntityUpdate(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"risk_class": "保健食品"}]})

    platform: PlatformCode | None = None
    shop_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    shop_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    shop_url: Url | None = None
    uscc: Annotated[str, Field(max_length=64)] | None = None
    #: refused: the grade is computed (:func:`grade_is_computed`); not in the schema
    risk_grade: SkipJsonSchema[Any] = Field(None, exclude=True)
    risk_class: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    unit: UnitCode | None = Field(
        None, description="assign to this unit (所属单位), in the caller's jurisdiction"
    )

    _url = field_validator("shop_url")(http_url)
    _grade = field_validator("risk_grade", mode="before")(grade_is_computed)


class UsccPublic(BaseModel):
    code: str
    authority: str = Field(description="登记管理部门, e.g. '9 工商（市场监管）'")
    organisation_type: str = Field(description="机构类别, e.g. '1 企业'")
    division: str = Field(description="登记管理机关行政区划码")


class EntityPublic(Owned):
    id: int
    platform: str
    shop_name: str
    shop_id: str | None
    shop_url: str | None
    uscc: UsccPublic | None
    risk_grade: str | None
    risk_grade_label: str | None
    risk_class: str | None
    created_at: datetime
    updated_at: datetime


class EntityPage(BaseModel):
    items: list[EntityPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


# --- cases --------------------------------------------------------------------------


CaseNumber = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="案件编号, unique, e.g. 泉市监网案〔2026〕12号",
    ),
]
Title = Annotated[str, Field(min_length=1, max_length=256)]
StatusName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=16,
        description="a status code or its label: "
        + ", ".join(f"{c} ({label})" for c, label in STATUSES.items()),
    ),
]


class CaseCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "泉市监网案〔2026〕12号",
                    "title": "某某保健品旗舰店涉嫌虚假宣传案",
                    "entity_id": 1,
                    "officer": "张三",
                }
            ]
        }
    )

    number: CaseNumber
    title: Title
    entity_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="the trading entity concerned"
    )
    officer: Name | None = Field(None, description="responsible officer; default: the caller")
    unit: UnitCode | None = OwnerField


class CaseUpdate(_Body):
    """Title, entity and officer; the number is fixed and status moves by transition."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "某某保健品旗舰店涉嫌虚假宣传及违规广告案", "officer": "李四"}]
        }
    )

    title: Title | None = None
    entity_id: int | None = Field(None, ge=1, le=2**63 - 1, description="null detaches the entity")
    officer: Name | None = None
    unit: UnitCode | None = Field(
        None, description="assign to this unit (所属单位), in the caller's jurisdiction"
    )


CaseOutcome = Literal["penalty", "reduced", "no_penalty", "not_filed"]
EvidenceId = Annotated[str, Field(pattern=r"^ev-[0-9a-f]{28}$")]


class CaseTransition(_Body):
    """One step of the workflow. Moving 处理 → 结案 (handling → closed) needs ``outcome``
    and, for ``reduced`` / ``no_penalty``, the 免罚清单 item and the facts its conditions
    need (docs/leniency.md §3); 线索 → 结案 (不予立案) records ``not_filed`` and needs none."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"to": "立案", "note": "经初步核查，符合立案条件"},
                {"to": "closed", "outcome": "penalty", "note": "作出行政处罚决定"},
                {
                    "to": "closed",
                    "outcome": "no_penalty",
                    "leniency_item": "qz-ec-01",
                    "corrected_in_time": True,
                    "minor_harm": True,
                    "evidence_ids": ["ev-0f1e2d3c4b5a69788796a5b4c3d2"],
                    "note": "首次违法，责令改正后已在期限内改正",
                },
            ]
        }
    )

    to: StatusName = Field(description="the next status")
    note: Note | None = Field(None, description="why (e.g. the 不予立案 reason)")
    outcome: CaseOutcome | None = Field(
        None,
        description="closing only: penalty (行政处罚), reduced (减轻处罚), no_penalty (不予处罚); "
        "required after handling; not_filed (不予立案) for a clue, the default there",
    )
    leniency_item: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9-]{1,31}$",
        description="the 免罚清单 item a reduced or no_penalty outcome cites",
    )
    corrected_in_time: bool | None = Field(
        None, description="及时改正: corrected within the deadline (the officer states it)"
    )
    minor_harm: bool | None = Field(
        None, description="危害后果轻微: the harm was minor (the officer states it)"
    )
    evidence_ids: list[EvidenceId] = Field(
        default_factory=list, max_length=20, description="evidence the statements rest on"
    )


class EvidenceLink(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"evidence_ids": ["ev-0f1e2d3c4b5a69788796a5b4c3d2"]}]}
    )

    evidence_ids: Annotated[
        list[Annotated[str, Field(pattern=r"^ev-[0-9a-f]{28}$")]],
        Field(min_length=1, max_length=100),
    ]


class Status(BaseModel):
    code: str
    label: str


class LinkedEvidence(BaseModel):
    evidence_id: str
    linked_at: datetime
    linked_by: str
    linked_by_name: str | None = Field(
        None, description="who linked it: display name and unit of the token's holder"
    )


class CasePublic(Owned):
    id: int
    number: str
    title: str
    entity_id: int | None
    officer: str
    status: Status
    allowed_next: list[Status] = Field(description="where the case may move next")
    evidence: list[LinkedEvidence]
    outcome: Status | None = Field(
        None,
        description="how a closed case ended: penalty 行政处罚, reduced 减轻处罚, "
        "no_penalty 不予处罚, not_filed 不予立案; null while open",
    )
    leniency_item: str | None = Field(None, description="the 免罚清单 item the outcome cites")
    outcome_reasoning: Reasoning | None = Field(
        None, description="each condition checked at closing, what was checked and found"
    )
    closed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class CasePage(BaseModel):
    items: list[CasePublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class LinkResult(BaseModel):
    linked: list[str] = Field(description="newly linked")
    already_linked: list[str]


class CaseEventPublic(BaseModel):
    id: int
    kind: Literal["created", "updated", "transition", "evidence_linked", "outcome"] = Field(
        description="outcome: how the case ended (note: outcome and item), after its 结案"
    )
    from_status: Status | None
    to_status: Status | None
    step: str | None = Field(description="for a transition: 立案, 不予立案, 调查, 处理 or 结案")
    evidence_id: str | None
    note: str | None
    actor: str = Field(description="the caller's pseudonym (token-<id>)")
    actor_name: str | None = Field(
        None,
        description="the actor's display name and unit, resolved when shown (the log and "
        "the history keep only the pseudonym); null for a token with no name on record",
    )
    at: datetime


class CaseEventPage(BaseModel):
    items: list[CaseEventPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
