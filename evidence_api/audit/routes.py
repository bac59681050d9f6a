"""Audit runs over HTTP (admin): ``GET /v1/integrity/audits``, one run with its findings,
and ``POST /v1/integrity/audits/{id}/acknowledge`` (audited in the accounts audit log).
Runs are started by ``evidence audit`` or, in the service's background,
``POST /v1/integrity/audits`` (docs/audit.md)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from evidence_api.accounts import audit
from evidence_api.audit.models import AuditFinding, AuditRun
from evidence_api.audit.service import (
    RunNotFoundError,
    acknowledge,
    findings_of,
    start_background,
)
from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.pagination import cursor_after, decode_cursor, encode_cursor, keyset
from evidence_api.core.schemas import problem_responses

router = APIRouter(prefix="/v1/integrity/audits", tags=["audit 审计"], route_class=GuardedRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
RunId = Annotated[int, Path(ge=1, le=2**53, description="audit run id")]
Limit = Annotated[int, Query(ge=1, le=200, description="items per page")]
Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the last page")]
READ = problem_responses(401, 403, 404, 422, 503)
WRITE = problem_responses(401, 403, 404, 409, 422, 503)

STATUSES = "running, clean, failed (discrepancies found), interrupted (resumable)"


class AuditRunPublic(BaseModel):
    """One ``evidence audit`` run."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(examples=[7])
    status: str = Field(description=STATUSES, examples=["failed"])
    started_at: datetime = Field(examples=["2026-12-03T10:00:00Z"])
    finished_at: datetime | None = Field(examples=["2026-12-03T10:04:12Z"])
    findings: int = Field(description="discrepancies found", examples=[1])
    counts: dict[str, Any] = Field(
        description="what was checked, per kind; ``not_checked`` says what could not be",
        examples=[{"entries": 1200, "leaves": 1200, "objects": 310}],
    )
    acknowledged_at: datetime | None = Field(examples=[None])
    acknowledged_by: str | None = Field(examples=[None])
    acknowledge_note: str | None = Field(examples=[None])

    @classmethod
    def of(cls, row: AuditRun) -> AuditRunPublic:
        return cls(
            id=row.id,
            status=row.status,
            started_at=row.started_at,
            finished_at=row.finished_at,
            findings=row.findings,
            counts=json.loads(row.counts) if row.counts else {},
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            acknowledge_note=row.acknowledge_note,
        )


class AuditRunPage(BaseModel):
    items: list[AuditRunPublic]
    next_cursor: str | None = Field(examples=[None])


class AuditFindingPublic(BaseModel):
    """One discrepancy: its kind, where, and what differs."""

    id: int = Field(examples=[31])
    kind: str = Field(examples=["entry"])
    location: str = Field(examples=["entry:ev-01JE7Q2M8W6V1T3N5K9P4R2S7X"])
    detail: str = Field(
        examples=[
            "log entry ev-01JE… (seq 3) hashes to leaf 5d1e…, its leaf_hash column says 9a0c…"
        ]
    )
    found_at: datetime = Field(examples=["2026-12-03T10:01:02Z"])


class AuditRunDetail(AuditRunPublic):
    """A run with one page of its findings (oldest first)."""

    items: list[AuditFindingPublic]
    next_cursor: str | None = Field(examples=[None])


class Acknowledgement(BaseModel):
    """Who acknowledges a failed run, and what was done about it."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(
        min_length=1,
        max_length=4000,
        description="what was found and done (kept with the run)",
        examples=["entry restored from the 12-02 backup; re-audited clean"],
    )


def _finding(row: AuditFinding) -> AuditFindingPublic:
    return AuditFindingPublic(
        id=row.id, kind=row.kind, location=row.location, detail=row.detail, found_at=row.found_at
    )


@router.get("", response_model=AuditRunPage, responses=READ, summary="List audit runs")
def list_runs(
    runtime: RuntimeDep, _: Admin, limit: Limit = 50, cursor: Cursor = None
) -> AuditRunPage:
    """Newest first; ``next_cursor`` continues the list. A ``failed`` run not yet
    acknowledged keeps ``/readyz`` not ready."""
    with runtime.session() as session:
        rows = list(
            session.execute(keyset(select(AuditRun), AuditRun.id, limit=limit, cursor=cursor))
            .scalars()
            .all()
        )
        return AuditRunPage(
            items=[AuditRunPublic.of(r) for r in rows[:limit]],
            next_cursor=cursor_after(rows, limit, lambda r: r.id),
        )


@router.post(
    "",
    response_model=AuditRunPublic,
    status_code=202,
    responses=problem_responses(401, 403, 409, 503),
    summary="Start a full audit in the background",
)
def start_run(request: Request, runtime: RuntimeDep, admin: Admin) -> AuditRunPublic:
    """Starts a full run in a thread of this service process (anchors are checked on the
    chain this process is connected to) and answers at once with the run, ``running``;
    ``GET /v1/integrity/audits/{id}`` follows it. 409 while this process runs one.
    ``evidence audit`` on the server does the same in its own process."""
    run_id = start_background(runtime)
    with runtime.session() as session:
        audit.record(
            session,
            "audit_started",
            actor=admin.pseudonym,
            subject=f"audit-{run_id}",
            client=request.client.host if request.client else None,
        )
        row = session.get(AuditRun, run_id)
        if row is None:  # pragma: no cover - it was just created
            raise RunNotFoundError(f"no audit run {run_id}")
        return AuditRunPublic.of(row)


@router.get(
    "/{run_id}",
    response_model=AuditRunDetail,
    responses=READ,
    summary="Read an audit run and its findings",
)
def get_run(
    run_id: RunId, runtime: RuntimeDep, _: Admin, limit: Limit = 100, cursor: Cursor = None
) -> AuditRunDetail:
    """The run's status and counts, and one page of its findings (kind, location, what
    differs), oldest first; ``next_cursor`` continues the findings."""
    after = decode_cursor(cursor) if cursor else 0
    with runtime.session() as session:
        row = session.get(AuditRun, run_id)
        if row is None:
            raise RunNotFoundError(f"no audit run {run_id}")
        found = findings_of(session, run_id, after=after, limit=limit + 1)
        return AuditRunDetail(
            **AuditRunPublic.of(row).model_dump(),
            items=[_finding(f) for f in found[:limit]],
            next_cursor=encode_cursor(found[limit - 1].id) if len(found) > limit else None,
        )


@router.post(
    "/{run_id}/acknowledge",
    response_model=AuditRunPublic,
    responses=WRITE,
    summary="Acknowledge a failed audit run",
)
def acknowledge_run(
    run_id: RunId, body: Acknowledgement, request: Request, runtime: RuntimeDep, admin: Admin
) -> AuditRunPublic:
    """Records who acknowledged the failed run and the note; ``/readyz`` is ready again
    unless another failed run waits. 409 if the run did not fail or was acknowledged."""
    with runtime.session() as session:
        row = acknowledge(session, run_id, admin.pseudonym, body.note)
        audit.record(
            session,
            "audit_acknowledged",
            actor=admin.pseudonym,
            subject=f"audit-{run_id}",
            client=request.client.host if request.client else None,
            detail=body.note,
        )
        return AuditRunPublic.of(row)
