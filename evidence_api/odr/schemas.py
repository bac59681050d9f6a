"""Request and response bodies of ``/v1/odr``, ``/v1/platform/odr`` and
``/v1/public/odr`` (docs/odr.md §4)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from evidence_api.odr import workflow as wf

ODR_ID = r"^odr-[0-9a-f]{28}$"
COMPLAINT_ID = r"^cp-[0-9a-f]{28}$"
#: What the consumer sends in ``X-Access-Token`` (the complaint's token, shown once).
ACCESS_TOKEN = r"^[\x21-\x7e]{1,256}$"  # noqa: S105 - a pattern, not a secret
#: Characters of an offer's terms, a reason or a note.
MAX_TEXT = 2000
MAX_PAGE = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EXAMPLE_ODR = "odr-0192f3a4b5c6d7e8f9a0b1c2d3e4"


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(
            "must not contain NUL or control characters (line breaks and tabs are fine)"
        )
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_printable)]
OfferNo = Annotated[int, Field(ge=1, le=100_000, strict=True)]
Amount = Annotated[int, Field(ge=0, le=wf.MAX_AMOUNT_FEN, strict=True)]
RemedyCode = Literal["refund", "replace", "repair", "compensation", "other"]
Business = Literal["merchant", "platform"]
AnyParty = Literal["consumer", "merchant", "platform"]


def _check_amount(remedy: str, amount_fen: int) -> None:
    if wf.Remedy(remedy) in wf.PAID_REMEDIES and amount_fen < 1:
        raise ValueError(f"amount_fen: a {remedy} needs an amount of at least 1 分")


class OfferTerms(BaseModel):
    """What an offer proposes: a remedy, an amount in 分 and its terms in words."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    remedy: RemedyCode = Field(
        description="refund 退款 | replace 换货 | repair 维修 | compensation 赔偿 | other 其他"
    )
    amount_fen: Amount = Field(
        0,
        description="金额，单位分 (integer fen, 0..10^10); at least 1 for refund and compensation",
    )
    text: Text = Field(description="方案内容 the terms in words")
    counter_to: OfferNo | None = Field(
        None, description="the open offer (by number) of another party this counters"
    )

    @model_validator(mode="after")
    def _amount(self) -> OfferTerms:
        _check_amount(self.remedy, self.amount_fen)
        return self


_OFFER_EXAMPLE: dict[str, JsonValue] = {
    "remedy": "refund",
    "amount_fen": 19900,
    "text": "全额退款199元，商品无需退回",
}


class MediatorOffer(OfferTerms):
    """``POST /v1/odr/{id}/offers``: an offer recorded by the mediator, on a party's behalf
    (who = consumer | merchant | platform) or as the mediator's own proposal (mediator)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"who": "merchant", **_OFFER_EXAMPLE}]},
    )

    who: Literal["consumer", "merchant", "platform", "mediator"] = Field(
        description="on whose behalf (mediator: the mediator's own proposal 调解建议)"
    )


class PlatformOffer(OfferTerms):
    """``POST /v1/platform/odr/{id}/offers``: the platform speaks for itself or its merchant."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"who": "merchant", **_OFFER_EXAMPLE}]},
    )

    who: Business = Field(description="merchant (商家) or platform (平台)")


class AnswerBody(BaseModel):
    """``POST /v1/odr/{id}/accept`` and ``…/reject``: the mediator records a party's answer
    to an open offer (``reason`` required to reject)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"who": "consumer", "offer": 1}]},
    )

    who: AnyParty = Field(description="the party answering")
    offer: OfferNo = Field(description="the offer's number")
    reason: Text | None = Field(None, description="拒绝理由 (required to reject)")


class FailBody(BaseModel):
    """``POST /v1/odr/{id}/fail``: the mediation ends without agreement."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"who": "mediator", "reason": "双方分歧过大，调解终止"}]},
    )

    who: Literal["consumer", "merchant", "platform", "mediator"] = Field(
        "mediator", description="mediator: the mediator ends it; a party: that party refused"
    )
    reason: Text = Field(description="终止理由")


class ExtendBody(BaseModel):
    """``POST /v1/odr/{id}/extend``: more days before the deadline (at most twice)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"days": 7, "reason": "商家需核实物流信息"}]},
    )

    days: Annotated[int, Field(ge=1, le=wf.MAX_EXTENSION_DAYS, strict=True)] = Field(
        description=f"days added to the deadline (1..{wf.MAX_EXTENSION_DAYS})"
    )
    reason: Text = Field(description="延期理由")


class NoteBody(BaseModel):
    """``POST /v1/odr/{id}/notes``: a note on the timeline."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"text": "已电话联系商家，商家表示愿意退款"}]},
    )

    text: Text = Field(description="备注")


class RespondBody(BaseModel):
    """The consumer's (``/v1/public/odr/{id}/respond``) or the platform's
    (``/v1/platform/odr/{id}/respond``) answer: ``accept`` an offer, ``reject`` it with a
    reason, ``counter`` with an offer of one's own, or ``refuse`` to go on (the mediation
    fails). ``who`` is the platform's only (merchant or platform)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"action": "accept", "offer": 1},
                {"action": "reject", "offer": 1, "reason": "退款金额过低"},
                {
                    "action": "counter",
                    "offer": 1,
                    "remedy": "refund",
                    "amount_fen": 29900,
                    "text": "要求退款299元（含运费）",
                },
                {"action": "refuse", "reason": "不同意继续调解，将另行起诉"},
            ]
        },
    )

    action: Literal["accept", "reject", "counter", "refuse"]
    offer: OfferNo | None = Field(
        None, description="the offer answered (required for accept and reject; counter: optional)"
    )
    reason: Text | None = Field(None, description="reject and refuse: why")
    remedy: RemedyCode | None = Field(None, description="counter: the remedy proposed")
    amount_fen: Amount | None = Field(None, description="counter: the amount in 分")
    text: Text | None = Field(None, description="counter: the terms in words")
    who: Business | None = Field(
        None, description="platform only: merchant (default) or platform; the consumer sends none"
    )

    @model_validator(mode="after")
    def _shape(self) -> RespondBody:
        if self.action in ("accept", "reject") and self.offer is None:
            raise ValueError(f"offer: required to {self.action}")
        if self.action in ("reject", "refuse") and self.reason is None:
            raise ValueError(f"reason: required to {self.action}")
        if self.action == "counter":
            if self.remedy is None or self.text is None:
                raise ValueError("remedy and text: required to counter")
            _check_amount(self.remedy, self.amount_fen or 0)
        elif self.remedy is not None or self.text is not None or self.amount_fen is not None:
            raise ValueError("remedy, amount_fen and text: only with counter")
        return self


# --- answers ------------------------------------------------------------------------------


class EventPublic(BaseModel):
    """One step of the mediation and the log entry recording it."""

    number: int = Field(examples=[2])
    kind: str = Field(
        examples=["offer"], description="opened | offer | accept | reject | note | extend | failed"
    )
    kind_label: str = Field(examples=["提出方案"])
    party: str = Field(examples=["merchant"])
    party_label: str = Field(examples=["商家"])
    actor: str | None = Field(
        None, examples=["token-7"], description="who recorded it (not shown to the consumer)"
    )
    offer: int | None = Field(None, examples=[1], description="an offer's own number")
    ref_offer: int | None = Field(
        None, description="the offer an acceptance, rejection or counter-offer answers"
    )
    remedy: str | None = Field(None, examples=["refund"])
    remedy_label: str | None = Field(None, examples=["退款"])
    amount_fen: int | None = Field(None, examples=[19900])
    text: str | None = None
    deadline: datetime | None = Field(None, description="an extension's new deadline")
    at: datetime
    entry_id: str = Field(examples=["oe-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    leaf_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class OfferPublic(BaseModel):
    offer: int = Field(examples=[1])
    party: str = Field(examples=["merchant"])
    party_label: str = Field(examples=["商家"])
    remedy: str = Field(examples=["refund"])
    remedy_label: str = Field(examples=["退款"])
    amount_fen: int = Field(examples=[19900])
    text: str
    state: str = Field(
        examples=["open"], description="open | accepted | rejected | countered | superseded"
    )
    state_label: str = Field(examples=["待答复"])
    assents: list[str] = Field(examples=[["business"]], description="sides assenting so far")
    at: datetime


class Parties(BaseModel):
    complaint_id: str = Field(examples=["cp-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    entity_id: int | None = Field(None, examples=[12])
    shop_name: str | None = Field(None, examples=["某某美妆旗舰店"])
    platform: str | None = Field(None, examples=["example-mall"])
    platform_name: str | None = Field(None, examples=["示例商城"])
    unit: str | None = Field(None, examples=["fj.qz"], description="the mediating unit (null: top)")


class OdrPublic(BaseModel):
    odr_id: str = Field(examples=[_EXAMPLE_ODR])
    complaint_id: str = Field(examples=["cp-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    entity_id: int | None = None
    platform: str | None = Field(None, examples=["example-mall"])
    status: str = Field(examples=["open"], description="open | agreed | failed")
    status_label: str = Field(examples=["调解中"])
    deadline: datetime
    overdue: bool = Field(description="open and past its deadline (the job closes it soon)")
    opened_by: str
    opened_at: datetime
    closed_at: datetime | None = None


class Outcome(BaseModel):
    """The agreed terms, or why it failed."""

    result: str = Field(examples=["agreed"], description="agreed | failed")
    offer: int | None = Field(None, examples=[2])
    party: str | None = Field(None, examples=["consumer"])
    remedy: str | None = Field(None, examples=["refund"])
    amount_fen: int | None = Field(None, examples=[29900])
    text: str | None = None
    reason: str | None = Field(
        None, examples=["deadline"], description="refused | ended | deadline"
    )
    reason_label: str | None = Field(None, examples=["调解期限届满"])


class OdrDetail(OdrPublic):
    parties: Parties
    offers: list[OfferPublic]
    events: list[EventPublic]
    outcome: Outcome | None = None
    extensions_left: int = Field(examples=[2])


class OdrPage(BaseModel):
    items: list[OdrPublic]
    next_cursor: str | None


class ConsumerView(BaseModel):
    """The mediation as the consumer sees it: no officers' pseudonyms, no units."""

    odr_id: str = Field(examples=[_EXAMPLE_ODR])
    complaint_id: str = Field(examples=["cp-0192f3a4b5c6d7e8f9a0b1c2d3e4"])
    status: str = Field(examples=["open"])
    status_label: str = Field(examples=["调解中"])
    deadline: datetime
    shop_name: str | None = None
    platform_name: str | None = None
    offers: list[OfferPublic]
    events: list[EventPublic]
    outcome: Outcome | None = None
