"""``/v1/entities/{entity_id}/credit`` (an entity's grade explained line by line) and
``/v1/credit/policies`` (the grading policy's versions; admins upload a new one).

Officers see the entities of their jurisdiction (404 outside it, as the registry);
appraisers and admins see every entity: a grade is explained so that it can be checked
(docs/credit.md §6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from evidence_api.core.auth import Principal
from evidence_api.core.deps import Reader, RuntimeDep, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.credit import service
from evidence_api.credit.policies import DEFAULT_POLICY
from evidence_api.credit.schemas import (
    ENTRY_ID,
    CreditEntry,
    EntityCredit,
    PolicyDetail,
    PolicyInstalled,
    PolicyList,
)

router = APIRouter(prefix="/v1", tags=["credit 信用分级"], route_class=GuardedRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1, description="trading entity id")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="policy version")]
Cursor = Annotated[str | None, Query(max_length=64, description="from records_next_cursor")]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE, description="records on the page")]
READ = problem_responses(401, 403, 404, 422, 503)
WRITE = problem_responses(401, 403, 409, 413, 422, 503)
POLICY_EXAMPLE: dict[str, Any] = json.loads(DEFAULT_POLICY.read_text(encoding="utf-8")) | {
    "version": 2
}


@router.get(
    "/entities/{entity_id}/credit",
    response_model=EntityCredit,
    responses=READ,
    summary="An entity's credit grade explained (信用分级及其依据)",
)
def entity_credit(
    entity_id: EntityId,
    runtime: RuntimeDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EntityCredit:
    """The grade now (A-D) and score with the active policy (version and SHA-256 digest),
    one explanation line per record that weighs and per rule in force (each with the
    record's ref, kind, label, points, text, source and the ``credit_record`` log entry),
    the records (newest first, ``limit`` a page, ``records_next_cursor`` continues) and
    the grade history (changes with their cause, records and ``credit_grade`` entry).
    Every entry id resolves through ``GET /v1/log/lookup`` and the proof endpoints to an
    anchored log entry. 404 for an unknown entity or one outside the caller's
    jurisdiction. Officers, admins and appraisers."""
    at = datetime.now(UTC)
    with runtime.session() as session:
        answer = service.entity_credit(
            session,
            runtime.sign_receipt,
            principal,
            entity_id,
            at=at,
            limit=limit,
            cursor=cursor,
        )
    runtime.queued(1)  # the built-in policy's entry, the first time
    return answer


@router.get(
    "/credit/policies",
    response_model=PolicyList,
    responses=problem_responses(401, 403, 503),
    summary="The grading policy's versions (信用分级规则版本)",
)
def list_policies(runtime: RuntimeDep, _: Reader) -> PolicyList:
    """Every version, newest first: its digest (SHA-256 of the canonical JSON), whether
    it is the active one, who installed it and its ``credit_policy`` log entry. The
    built-in version 1 is installed the first time a policy is needed. Officers, admins
    and appraisers."""
    at = datetime.now(UTC)
    with runtime.session() as session:
        items = service.list_policies(session, runtime.sign_receipt, at)
    runtime.queued(1)
    return PolicyList(items=items)


@router.get(
    "/credit/policies/{version}",
    response_model=PolicyDetail,
    responses=READ,
    summary="One version of the grading policy, with its document (信用分级规则)",
)
def get_policy(version: Version, runtime: RuntimeDep, _: Reader) -> PolicyDetail:
    """The document (docs/credit.md §3) and its digest: SHA-256 of the RFC 8785
    canonical JSON, as its ``credit_policy`` entry states. 404 for an unknown version.
    Officers, admins and appraisers."""
    at = datetime.now(UTC)
    with runtime.session() as session:
        answer = service.get_policy(session, runtime.sign_receipt, version, at)
    runtime.queued(1)
    return answer


@router.post(
    "/credit/policies",
    response_model=PolicyInstalled,
    status_code=201,
    responses=WRITE,
    summary="Install a new policy version and regrade (发布新版信用分级规则)",
)
def install_policy(
    runtime: RuntimeDep,
    principal: Admin,
    document: Annotated[
        dict[str, Any],
        Body(
            description="the policy document (docs/credit.md §3), version above every stored one",
            examples=[POLICY_EXAMPLE],
        ),
    ],
) -> PolicyInstalled:
    """Checks the document (422 with the reason: unknown record kinds, non-integers,
    missing grades, thresholds not descending, values out of bounds …), refuses a
    version not above every stored one (409), stores it as its canonical JSON with a
    ``credit_policy`` entry and makes it the active one; then, in a second transaction
    of the same request, regrades every graded entity with it (a change row and a
    ``credit_grade`` entry for each grade that changes, cause ``policy``). If that
    regrade is interrupted, the ``credit-regrade`` job finishes it (it regrades every
    grade computed with another version). Admins."""
    data = json.dumps(document, ensure_ascii=False).encode("utf-8")
    at = datetime.now(UTC)
    with runtime.session() as session:
        detail = service.install(
            session, runtime.sign_receipt, data, actor=principal.pseudonym, at=at
        )
    runtime.queued(1)
    with runtime.session() as session:
        answer = service.regrade_for_policy(session, runtime.sign_receipt, detail, at=at)
    runtime.queued(answer.regraded)
    return answer


@router.get(
    "/credit/entries/{entry_id}",
    response_model=CreditEntry,
    responses=READ,
    summary="A credit log entry with its leaf hash (信用记录存证条目)",
)
def credit_entry(
    entry_id: Annotated[str, Path(pattern=ENTRY_ID, description="crr-…, crg-… or crp-…")],
    runtime: RuntimeDep,
    _: Reader,
) -> CreditEntry:
    """The entry (a ``credit_record``, ``credit_grade`` or ``credit_policy`` entry: the
    ids ``…/credit`` and the policies name) exactly as logged: its RFC 8785 bytes, leaf
    hash and index, and the signed receipt. Its inclusion is proved by
    ``GET /v1/log/proof/inclusion?leaf_hash=…`` against ``GET /v1/log/checkpoint`` (and
    the checkpoint's on-chain anchor), as for any entry. 404 for another kind of entry.
    Officers, admins and appraisers."""
    with runtime.session() as session:
        return service.credit_entry(session, entry_id)
