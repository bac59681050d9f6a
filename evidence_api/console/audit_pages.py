"""Administrator pages ``/console/admin/audits``: audit runs with their findings, and the
acknowledgement of a failed run (which makes ``/readyz`` ready again). The same service
functions as ``GET /v1/integrity/audits`` and its acknowledge route."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.accounts import audit
from evidence_api.audit.models import AuditFinding, AuditRun
from evidence_api.audit.service import (
    RunNotFoundError,
    acknowledge,
    findings_of,
    start_background,
)
from evidence_api.console.listing import next_link, when
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    client_of,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
    viewer,
)
from evidence_api.core.errors import ApiError, InvalidInputError
from evidence_api.core.pagination import cursor_after, decode_cursor, encode_cursor, keyset
from evidence_api.core.routing import page_router

router = page_router("/console/admin/audits")
Admin = Annotated[Viewer, Depends(viewer("admin"))]
RunId = Annotated[int, Path(ge=1, le=2**53)]
Cursor = Annotated[str | None, Query(max_length=64)]
RUNS_PAGE = 50
FINDINGS_PAGE = 100
#: badge class of each run status (the label is translated)
BADGE = {"clean": "ok", "failed": "failed", "running": "running", "interrupted": "pending"}
#: finding kinds with a translated label (others are shown as they are)
KINDS = frozenset(
    {
        "entry",
        "node",
        "checkpoint",
        "object",
        "manifest",
        "row",
        "anchor",
        "cosignature",
        "timestamp",
    }
)


@dataclass(frozen=True)
class RunRow:
    id: int
    status: str
    badge: str
    started: str
    finished: str
    findings: int
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: str
    note: str | None
    counts: dict[str, Any]
    not_checked: dict[str, str]

    @classmethod
    def of(cls, row: AuditRun) -> RunRow:
        counts: dict[str, Any] = json.loads(row.counts) if row.counts else {}
        not_checked = counts.pop("not_checked", {})
        return cls(
            id=row.id,
            status=row.status,
            badge=BADGE.get(row.status, "pending"),
            started=when(row.started_at),
            finished=when(row.finished_at, missing="—"),
            findings=row.findings,
            acknowledged=row.acknowledged_at is not None,
            acknowledged_by=row.acknowledged_by,
            acknowledged_at=when(row.acknowledged_at, missing="—"),
            note=row.acknowledge_note,
            counts=counts,
            not_checked=not_checked,
        )


@router.get("", response_class=HTMLResponse)
def runs(request: Request, who: Admin, cursor: Cursor = None) -> Response:
    """全面审计: the runs, newest first (a failed run not yet acknowledged holds
    ``/readyz`` not ready), and how to start one (``evidence audit``, or the button)."""
    return _runs_page(request, who, cursor)


def _runs_page(
    request: Request,
    who: Viewer,
    cursor: str | None = None,
    *,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:

    def work(session: Session) -> tuple[list[RunRow], str | None]:
        query = keyset(select(AuditRun), AuditRun.id, limit=RUNS_PAGE, cursor=cursor)
        rows = list(session.execute(query).scalars())
        return [RunRow.of(r) for r in rows[:RUNS_PAGE]], cursor_after(
            rows, RUNS_PAGE, lambda r: r.id
        )

    shown, after = in_session(request, work)
    return render(
        request,
        who,
        "audit/runs.html",
        status=status,
        runs=shown,
        next_url=next_link(request, after),
        errors=errors or FormErrors(),
    )


@router.post("/start", response_class=HTMLResponse)
async def run_start(request: Request, who: Admin) -> Response:
    """``POST /v1/integrity/audits``'s service function: a full run in the service's
    background; the browser goes to the run's page (a refusal: the list with the reason)."""
    await read_form(request, who.csrf_token)
    actor = who.principal.pseudonym
    runtime = runtime_of(request)

    def work() -> int:
        run_id = start_background(runtime)
        with runtime.session() as session:
            audit.record(
                session,
                "audit_started",
                actor=actor,
                subject=f"audit-{run_id}",
                client=client_of(request),
            )
        return run_id

    try:
        run_id = await run_in_threadpool(work)
    except ApiError as exc:
        return await run_in_threadpool(
            partial(
                _runs_page, request, who, errors=FormErrors({"": exc.detail}), status=exc.status
            )
        )
    return redirect(f"/console/admin/audits/{run_id}")


def _run_page(
    request: Request,
    who: Viewer,
    run_id: int,
    cursor: str | None = None,
    *,
    errors: FormErrors | None = None,
    note: str = "",
    notice: str | None = None,
    status: int = 200,
) -> Response:
    after = decode_cursor(cursor) if cursor else 0

    def work(session: Session) -> tuple[RunRow, list[AuditFinding]]:
        row = session.get(AuditRun, run_id)
        if row is None:
            raise RunNotFoundError(f"no audit run {run_id}")
        return RunRow.of(row), findings_of(session, run_id, after=after, limit=FINDINGS_PAGE + 1)

    run, found = in_session(request, work)
    more = encode_cursor(found[FINDINGS_PAGE - 1].id) if len(found) > FINDINGS_PAGE else None
    return render(
        request,
        who,
        "audit/run.html",
        status=status,
        run=run,
        findings=found[:FINDINGS_PAGE],
        next_url=next_link(request, more),
        errors=errors or FormErrors(),
        note=note,
        notice=notice,
        when=when,
        kinds=KINDS,
    )


@router.get("/{run_id}", response_class=HTMLResponse)
def run_detail(
    request: Request, who: Admin, run_id: RunId, cursor: Cursor = None, done: str | None = None
) -> Response:
    """One run: status, what was checked and what could not be, its findings (kind,
    location, what differs), and the acknowledgement form of a failed run."""
    notice = "acknowledged" if done == "acknowledged" else None
    return _run_page(request, who, run_id, cursor, notice=notice)


@router.post("/{run_id}/acknowledge", response_class=HTMLResponse)
async def run_acknowledge(request: Request, who: Admin, run_id: RunId) -> Response:
    """``POST /v1/integrity/audits/{id}/acknowledge``'s service function with the note;
    audited. A refusal (not failed, already acknowledged, no note) beside the note."""
    form: Mapping[str, str] = await read_form(request, who.csrf_token)
    note = (form.get("note") or "").strip()
    actor = who.principal.pseudonym

    def work(session: Session) -> None:
        if not note:
            raise InvalidInputError(
                "a note saying what was found and done is required", field="note"
            )
        acknowledge(session, run_id, actor, note)
        audit.record(
            session,
            "audit_acknowledged",
            actor=actor,
            subject=f"audit-{run_id}",
            client=client_of(request),
            detail=note,
        )

    try:
        await run_in_threadpool(in_session, request, work)
    except ApiError as exc:
        if isinstance(exc, RunNotFoundError):
            raise
        return await run_in_threadpool(
            partial(
                _run_page,
                request,
                who,
                run_id,
                errors=FormErrors({"note": exc.detail}),
                note=note,
                status=exc.status,
            )
        )
    return redirect(f"/console/admin/audits/{run_id}?done=acknowledged")
