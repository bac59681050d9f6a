"""``/v1/odr`` (the mediator: officers and admins), ``/v1/platform/odr`` (platform tokens)
and ``/v1/public/odr`` (the consumer, by the complaint's access token); docs/odr.md §4."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from evidence_api.core.auth import PLATFORM_CODE, Principal
from evidence_api.core.deps import RuntimeDep, Submitter, require
from evidence_api.core.errors import InvalidInputError, UnauthorizedError
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.odr import service
from evidence_api.odr import workflow as wf
from evidence_api.odr.schemas import (
    ACCESS_TOKEN,
    MAX_PAGE,
    ODR_ID,
    AnswerBody,
    ConsumerView,
    ExtendBody,
    FailBody,
    MediatorOffer,
    NoteBody,
    OdrDetail,
    OdrPage,
    PlatformOffer,
    RespondBody,
)

TAG = "odr 在线调解"
mediator = APIRouter(prefix="/v1/odr", tags=[TAG], route_class=GuardedRoute)
platform = APIRouter(
    prefix="/v1/platform/odr", tags=["platform 平台接口"], route_class=GuardedRoute
)


def _consumer_access(request: Request) -> None:
    """The consumer's credential, checked before the body is read (core.guard): no or a
    malformed ``X-Access-Token`` is 401; a token that is not the mediation's complaint's,
    404 as an unknown mediation. A malformed mediation id is left to the path's 422."""
    token = request.headers.get("x-access-token")
    if not token or re.fullmatch(ACCESS_TOKEN, token) is None:
        raise UnauthorizedError("the complaint's access token is required (X-Access-Token)")
    odr_id = str(request.path_params.get("odr_id", ""))
    if re.fullmatch(ODR_ID, odr_id) is None:
        return
    with request.app.state.runtime.session() as session:
        service.load_for_consumer(session, odr_id, token)


def consumer_access() -> None:
    """Marks a route as the consumer's: core.guard runs :func:`_consumer_access` first."""


consumer_access.access_check = _consumer_access  # type: ignore[attr-defined]


public = APIRouter(
    prefix="/v1/public/odr",
    tags=[TAG],
    route_class=GuardedRoute,
    dependencies=[Depends(consumer_access)],
)

PlatformToken = Annotated[Principal, Depends(require("platform"))]
OdrId = Annotated[str, Path(pattern=ODR_ID, description="mediation id (odr-…)")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=64, description="`next_cursor` of the last page")]
AccessToken = Annotated[
    str,
    Header(
        alias="X-Access-Token",
        pattern=ACCESS_TOKEN,
        max_length=256,
        description="the complaint's access token (shown once when it was filed)",
    ),
]

READ_ERRORS = problem_responses(401, 403, 404, 422, 503)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)
PUBLIC_READ = problem_responses(401, 404, 422, 429, 503)
PUBLIC_WRITE = problem_responses(401, 404, 409, 422, 429, 503)


# --- the mediator -------------------------------------------------------------------------


@mediator.get("", response_model=OdrPage, responses=READ_ERRORS, summary="Mediations (调解列表)")
def list_mediations(
    runtime: RuntimeDep,
    principal: Submitter,
    status: Annotated[
        str | None, Query(max_length=16, description="open | agreed | failed")
    ] = None,
    platform_code: Annotated[
        str | None, Query(alias="platform", pattern=PLATFORM_CODE, max_length=64)
    ] = None,
    entity: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="entity id")] = None,
    overdue: Annotated[
        bool | None, Query(description="open and past the deadline (true) or not (false)")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> OdrPage:
    """Newest first, the mediations whose complaint's unit is in the caller's jurisdiction;
    filters `status`, `platform` (code), `entity` and `overdue`; `next_cursor` continues."""
    with runtime.session() as session:
        return service.list_cases(
            session,
            principal,
            status=status,
            platform=platform_code,
            entity_id=entity,
            overdue=overdue,
            limit=limit,
            cursor=cursor,
        )


@mediator.get(
    "/{odr_id}",
    response_model=OdrDetail,
    responses=READ_ERRORS,
    summary="A mediation: parties, offers, deadline and every event (调解详情)",
)
def mediation(odr_id: OdrId, runtime: RuntimeDep, principal: Submitter) -> OdrDetail:
    """Each event names its log entry and leaf hash; each offer its state (open, accepted,
    rejected, countered, superseded). 404 outside the caller's reach."""
    with runtime.session() as session:
        return service.detail(session, service.load(session, principal, odr_id))


@mediator.post(
    "/{odr_id}/offers",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="Record an offer, a counter-offer or a mediator's proposal (记录调解方案)",
)
def mediator_offer(
    odr_id: OdrId, body: MediatorOffer, runtime: RuntimeDep, principal: Submitter
) -> OdrDetail:
    """On behalf of `who` (consumer, merchant, platform) or the mediator's own proposal
    (`mediator`: both sides must accept it). `counter_to` names the open offer of another
    party it answers (that one becomes `countered`); the party's own earlier open offer
    becomes `superseded`. 409 once closed or past the deadline."""
    action = service.offer_action(body.who, principal.pseudonym, body)
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


@mediator.post(
    "/{odr_id}/accept",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="Record a party's acceptance of an offer (记录接受方案)",
)
def mediator_accept(
    odr_id: OdrId, body: AnswerBody, runtime: RuntimeDep, principal: Submitter
) -> OdrDetail:
    """Once both sides assent to one offer the mediation is `agreed`, the offer's terms are
    its outcome and the complaint is resolved. 409 for an offer that is not open or is
    already the party's side's own."""
    action = service.Action(
        wf.Kind.ACCEPT, wf.Party(body.who), principal.pseudonym, offer=body.offer
    )
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


@mediator.post(
    "/{odr_id}/reject",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="Record a party's rejection of an offer (记录拒绝方案)",
)
def mediator_reject(
    odr_id: OdrId, body: AnswerBody, runtime: RuntimeDep, principal: Submitter
) -> OdrDetail:
    """The offer becomes `rejected` (`reason` required); the mediation goes on."""
    if body.reason is None:
        raise InvalidInputError("reason: required to reject", field="reason")
    action = service.Action(
        wf.Kind.REJECT, wf.Party(body.who), principal.pseudonym, offer=body.offer, text=body.reason
    )
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


@mediator.post(
    "/{odr_id}/fail",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="End a mediation without agreement (调解终止)",
)
def mediator_fail(
    odr_id: OdrId, body: FailBody, runtime: RuntimeDep, principal: Submitter
) -> OdrDetail:
    """`who` = mediator: the mediator ends it (reason `ended`); a party: that party refused
    (reason `refused`). The mediation is `failed` and final; the complaint is resolved."""
    reason = wf.FAIL_ENDED if body.who == "mediator" else wf.FAIL_REFUSED
    action = service.Action(
        wf.Kind.FAILED, wf.Party(body.who), principal.pseudonym, text=body.reason, reason=reason
    )
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


@mediator.post(
    "/{odr_id}/extend",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="Extend a mediation's deadline (延长调解期限)",
)
def mediator_extend(
    odr_id: OdrId, body: ExtendBody, runtime: RuntimeDep, principal: Submitter
) -> OdrDetail:
    """`days` (1..30) added to the deadline, with a reason; at most twice per mediation
    (409 after), and only before the deadline has passed."""
    action = service.Action(
        wf.Kind.EXTEND, wf.Party.MEDIATOR, principal.pseudonym, days=body.days, text=body.reason
    )
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


@mediator.post(
    "/{odr_id}/notes",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="Add a note to a mediation's timeline (调解备注)",
)
def mediator_note(
    odr_id: OdrId, body: NoteBody, runtime: RuntimeDep, principal: Submitter
) -> OdrDetail:
    """A mediator's note (a `note` event); 409 once closed."""
    action = service.Action(wf.Kind.NOTE, wf.Party.MEDIATOR, principal.pseudonym, text=body.text)
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


# --- the platform -------------------------------------------------------------------------


@platform.get(
    "", response_model=OdrPage, responses=READ_ERRORS, summary="This platform's mediations (调解)"
)
def platform_mediations(
    runtime: RuntimeDep,
    principal: PlatformToken,
    status: Annotated[
        str | None, Query(max_length=16, description="open | agreed | failed")
    ] = None,
    overdue: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> OdrPage:
    """Newest first, only the mediations whose platform is the token's own."""
    with runtime.session() as session:
        return service.list_cases(
            session, principal, status=status, overdue=overdue, limit=limit, cursor=cursor
        )


@platform.get(
    "/{odr_id}",
    response_model=OdrDetail,
    responses=READ_ERRORS,
    summary="One of this platform's mediations (调解详情)",
)
def platform_mediation(odr_id: OdrId, runtime: RuntimeDep, principal: PlatformToken) -> OdrDetail:
    """Only a mediation whose platform is the token's own (another's is 404)."""
    with runtime.session() as session:
        return service.detail(session, service.load(session, principal, odr_id))


@platform.post(
    "/{odr_id}/offers",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="Make an offer for the platform or its merchant (提出调解方案)",
)
def platform_offer(
    odr_id: OdrId, body: PlatformOffer, runtime: RuntimeDep, principal: PlatformToken
) -> OdrDetail:
    """`who`: merchant (商家) or platform (平台). `counter_to` answers the consumer's (or
    the mediator's) open offer. 409 once closed or past the deadline."""
    action = service.offer_action(body.who, principal.pseudonym, body)
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


@platform.post(
    "/{odr_id}/respond",
    response_model=OdrDetail,
    responses=WRITE_ERRORS,
    summary="Answer an offer for the platform or its merchant (答复调解方案)",
)
def platform_respond(
    odr_id: OdrId, body: RespondBody, runtime: RuntimeDep, principal: PlatformToken
) -> OdrDetail:
    """`accept` or `reject` (with a reason) the consumer's or the mediator's open offer,
    `counter` it, or `refuse` to go on (the mediation fails). `who`: merchant (default) or
    platform."""
    party = wf.Party(body.who or "merchant")
    action = service.respond_action(party, principal.pseudonym, body)
    return service.act(service.ledger_of(runtime), principal, odr_id, action)


# --- the consumer -------------------------------------------------------------------------


@public.get(
    "/{odr_id}",
    response_model=ConsumerView,
    responses=PUBLIC_READ,
    summary="My mediation, by my complaint's access token (我的调解)",
)
def consumer_mediation(odr_id: OdrId, token: AccessToken, runtime: RuntimeDep) -> ConsumerView:
    """The status, deadline, offers and events as the consumer sees them (no officers'
    pseudonyms). 404 for an unknown mediation and for a wrong token alike."""
    with runtime.session() as session:
        return service.consumer_view(session, service.load_for_consumer(session, odr_id, token))


@public.post(
    "/{odr_id}/respond",
    response_model=ConsumerView,
    responses=PUBLIC_WRITE,
    summary="Answer an offer: accept, reject, counter or refuse (答复调解方案)",
)
def consumer_respond(
    odr_id: OdrId, body: RespondBody, token: AccessToken, runtime: RuntimeDep
) -> ConsumerView:
    """`accept` an open offer by its number, `reject` it with a reason, `counter` with an
    offer of one's own, or `refuse` to go on (the mediation fails). `who` is not sent. 404
    for a wrong token; 409 for an offer that is not open or a closed mediation."""
    if body.who is not None:
        raise InvalidInputError("who: the consumer speaks for themself", field="who")
    action = service.respond_action(wf.Party.CONSUMER, service.CONSUMER_ACTOR, body)
    return service.consumer_act(service.ledger_of(runtime), odr_id, token, action)


#: Included one by one: FastAPI builds a nested router's routes when it is included.
routers = (mediator, platform, public)
