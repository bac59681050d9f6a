"""``/v1/clues`` (线索转办) and ``/v1/assists`` (协查), for officers and admins;
the platform's side is :mod:`evidence_api.clues.platform_routes`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from evidence_api.clues import assists, platform_routes, service
from evidence_api.clues.replies import REPLY_DOC, receive_reply
from evidence_api.clues.schemas import (
    ASSIST_ID,
    CLUE_ID,
    TRANSFER_ID,
    AnswerBody,
    AssistCreate,
    AssistDetail,
    AssistPage,
    CloseBody,
    ClueCreate,
    ClueDetail,
    CluePage,
    StepProofs,
    TransferCreate,
)
from evidence_api.clues.steps import ledger_of, step_proofs
from evidence_api.clues.workflow import ClueAction
from evidence_api.core.deps import RuntimeDep, Submitter
from evidence_api.core.guard import GuardedRoute, streamed_body
from evidence_api.core.schemas import problem_responses
from evidence_api.units.schemas import UNIT_CODE

#: The officers' routes; :data:`router` adds the platform's (each keeps its own tag).
officers = APIRouter(tags=["clues 线索协查"], route_class=GuardedRoute)

ClueId = Annotated[str, Path(pattern=CLUE_ID, description="clue id (clu-…)")]
TransferId = Annotated[str, Path(pattern=TRANSFER_ID, description="transfer id (ctr-…)")]
AssistId = Annotated[str, Path(pattern=ASSIST_ID, description="assistance request id (ast-…)")]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=64, description="`next_cursor` of the last page")]
READ_ERRORS = problem_responses(401, 403, 404, 422, 503)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422, 503)
REPLY_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422, 503)


# --- clues ------------------------------------------------------------------------------


@officers.post(
    "/v1/clues",
    status_code=201,
    response_model=ClueDetail,
    responses=WRITE_ERRORS,
    summary="Register a clue (登记线索)",
)
def create_clue(body: ClueCreate, runtime: RuntimeDep, principal: Submitter) -> ClueDetail:
    """A clue held by the caller's unit (status `held`), with its `created` entry (kind
    `clue`). 403 for a token without a unit; 422 for an unknown entity, evidence (each
    named), case or alert (or one outside the caller's jurisdiction)."""
    return service.create_clue(ledger_of(runtime), principal, body)


@officers.get(
    "/v1/clues", response_model=CluePage, responses=READ_ERRORS, summary="Clues (线索列表)"
)
def list_clues(
    runtime: RuntimeDep,
    principal: Submitter,
    status: Annotated[str | None, Query(max_length=16)] = None,
    entity: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="entity id")] = None,
    unit: Annotated[
        str | None, Query(pattern=UNIT_CODE, max_length=64, description="holding unit code")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CluePage:
    """Newest first: the clues held in the caller's jurisdiction and those pending towards
    it (`overdue` marks a pending transfer past its deadline); `next_cursor` continues."""
    with runtime.session() as session:
        return service.list_clues(
            session,
            principal,
            status=status,
            entity_id=entity,
            unit=unit,
            limit=limit,
            cursor=cursor,
        )


@officers.get(
    "/v1/clues/{clue_id}",
    response_model=ClueDetail,
    responses=READ_ERRORS,
    summary="A clue, its transfers and every step with its log entry (线索详情)",
)
def clue_detail(clue_id: ClueId, runtime: RuntimeDep, principal: Submitter) -> ClueDetail:
    """Each step names its log entry and leaf hash; `proofs_url` gives the proof bundle of
    every step's entry. 404 outside the caller's reach."""
    with runtime.session() as session:
        return service.detail(session, service.load(session, principal, clue_id))


@officers.get(
    "/v1/clues/{clue_id}/proofs",
    response_model=StepProofs,
    responses=READ_ERRORS,
    summary="Proof bundles of every step of a clue (证明包)",
)
def clue_proofs(clue_id: ClueId, runtime: RuntimeDep, principal: Submitter) -> StepProofs:
    """One evidence-proof/v1 bundle per step (pending, sealed or anchored), oldest first,
    each verifiable offline with `evidence-verify`."""
    with runtime.session() as session:
        clue = service.load(session, principal, clue_id)
        entries = step_proofs(session, runtime.signer.name, service.subject(clue))
        return StepProofs(id=clue.id, entries=entries)


@officers.post(
    "/v1/clues/{clue_id}/transfers",
    status_code=201,
    response_model=ClueDetail,
    responses=WRITE_ERRORS,
    summary="Transfer a clue to another unit (线索转办)",
)
def send_transfer(
    clue_id: ClueId, body: TransferCreate, runtime: RuntimeDep, principal: Submitter
) -> ClueDetail:
    """The holding unit sends the clue to `to_unit` with a reason and a deadline (status
    `pending`; a `transfer_sent` entry). A returned clue is re-sent the same way, as a new
    transfer. 403 when the caller does not hold it; 409 while a transfer is pending; 422
    for an unknown unit, the holding unit itself or a deadline not in the future."""
    return service.send(ledger_of(runtime), principal, clue_id, body)


@officers.post(
    "/v1/clues/{clue_id}/transfers/{transfer_id}/accept",
    response_model=ClueDetail,
    responses=WRITE_ERRORS,
    summary="Accept a transferred clue (接收线索)",
)
def accept_transfer(
    clue_id: ClueId,
    transfer_id: TransferId,
    runtime: RuntimeDep,
    principal: Submitter,
    body: AnswerBody | None = None,
) -> ClueDetail:
    """The receiving unit accepts: the clue moves to it (status `accepted`; a
    `transfer_accepted` entry). 403 for anyone else; 409 when the transfer was already
    answered."""
    return service.answer(
        ledger_of(runtime), principal, clue_id, transfer_id, ClueAction.ACCEPT, body or AnswerBody()
    )


@officers.post(
    "/v1/clues/{clue_id}/transfers/{transfer_id}/return",
    response_model=ClueDetail,
    responses=WRITE_ERRORS,
    summary="Return a transferred clue with a reason (退回线索)",
)
def return_transfer(
    clue_id: ClueId,
    transfer_id: TransferId,
    body: AnswerBody,
    runtime: RuntimeDep,
    principal: Submitter,
) -> ClueDetail:
    """The receiving unit returns it with a `reason` (required): the clue stays with the
    sender (status `returned`; a `transfer_returned` entry), which may send it again."""
    return service.answer(
        ledger_of(runtime), principal, clue_id, transfer_id, ClueAction.RETURN, body
    )


# --- assistance requests ----------------------------------------------------------------


@officers.post(
    "/v1/assists",
    status_code=201,
    response_model=AssistDetail,
    responses=WRITE_ERRORS,
    summary="Send an assistance request to a unit or a platform (发起协查)",
)
def create_assist(body: AssistCreate, runtime: RuntimeDep, principal: Submitter) -> AssistDetail:
    """Ask `to_unit` or `to_platform` (exactly one) for `topics` about an entity by a
    deadline (status `open`; a `sent` entry, kind `assist`). The platform sees it under
    /v1/platform/assists. 403 for a token without a unit; 422 for unknown references."""
    return assists.create_assist(ledger_of(runtime), principal, body)


@officers.get(
    "/v1/assists",
    response_model=AssistPage,
    responses=READ_ERRORS,
    summary="Assistance requests sent or received (协查列表)",
)
def list_assists(
    runtime: RuntimeDep,
    principal: Submitter,
    status: Annotated[str | None, Query(max_length=16)] = None,
    overdue: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AssistPage:
    """Newest first: requests whose sending or receiving unit is in the caller's
    jurisdiction; filter by `status` (open, replied, closed) or `overdue`."""
    with runtime.session() as session:
        return assists.list_assists(
            session, principal, status=status, overdue=overdue, limit=limit, cursor=cursor
        )


@officers.get(
    "/v1/assists/{assist_id}",
    response_model=AssistDetail,
    responses=READ_ERRORS,
    summary="An assistance request, its replies and steps (协查详情)",
)
def assist_detail(assist_id: AssistId, runtime: RuntimeDep, principal: Submitter) -> AssistDetail:
    """The questions, each reply with the evidence its files became, and every step with
    its log entry. 404 outside the caller's reach."""
    with runtime.session() as session:
        return assists.detail(session, assists.load(session, principal, assist_id))


@officers.get(
    "/v1/assists/{assist_id}/proofs",
    response_model=StepProofs,
    responses=READ_ERRORS,
    summary="Proof bundles of every step of an assistance request (证明包)",
)
def assist_proofs(assist_id: AssistId, runtime: RuntimeDep, principal: Submitter) -> StepProofs:
    """One evidence-proof/v1 bundle per step, oldest first; the files of a reply have
    their own bundles under /v1/evidence/{id}/proof."""
    with runtime.session() as session:
        row = assists.load(session, principal, assist_id)
        entries = step_proofs(session, runtime.signer.name, assists.subject(row))
        return StepProofs(id=row.id, entries=entries)


@officers.post(
    "/v1/assists/{assist_id}/reply",
    response_model=AssistDetail,
    responses=REPLY_ERRORS,
    openapi_extra=REPLY_DOC,
    summary="Reply to an assistance request, with files (协查回复)",
)
@streamed_body("max_request_bytes")
async def reply_assist(
    assist_id: AssistId, request: Request, runtime: RuntimeDep, principal: Submitter
) -> AssistDetail:
    """Multipart: `metadata` `{"text": …}` and up to 20 `files`. Each file is fixed as
    evidence (its own `evidence` entry and proof bundle, submitted by the caller), then
    the reply is a `replied` entry naming them. Only the unit asked (403 otherwise); 409
    once closed; 413 beyond the size limits."""
    return await receive_reply(request, runtime, principal, assist_id)


@officers.post(
    "/v1/assists/{assist_id}/close",
    response_model=AssistDetail,
    responses=WRITE_ERRORS,
    summary="Close an assistance request (协查办结)",
)
def close_assist(
    assist_id: AssistId, runtime: RuntimeDep, principal: Submitter, body: CloseBody | None = None
) -> AssistDetail:
    """The sending unit closes it (a `closed` entry); 403 for anyone else, 409 if closed."""
    note = None if body is None else body.note
    return assists.close(ledger_of(runtime), principal, assist_id, note)


#: Included one by one: FastAPI builds a nested router's routes when it is included.
routers = (officers, platform_routes.router)
