"""Web capture (网页取证): the new-capture form (``static/evidence.js`` posts it to
``POST /v1/captures``), a capture's page, and the status fragment htmx polls every 2 s
until the capture is done or failed (the finished fragment carries no trigger, so the
polling stops by itself)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from evidence_api.capture import service as captures
from evidence_api.capture.request import MAX_STEPS
from evidence_api.capture.schemas import CapturePublic
from evidence_api.console.evidence_facts import submitter_name
from evidence_api.console.evidence_pages import SUBMITTERS, when
from evidence_api.console.web import FormErrors, Viewer, render, runtime_of, viewer
from evidence_api.core.routing import page_router
from evidence_api.core.runtime import Runtime

router = page_router("/console")

CaptureId = Annotated[str, Path(pattern=r"^cap-[0-9a-f]{28}$")]
#: Statuses after which nothing changes (the fragment stops polling).
FINISHED = ("done", "failed")
#: What the steps field shows as an example (the API's step language, docs/capture.md).
STEPS_EXAMPLE = (
    '[{"action": "fill", "selector": "#q", "text": "保健品"},\n'
    ' {"action": "press", "key": "Enter"},\n'
    ' {"action": "wait", "network_idle": true},\n'
    ' {"action": "screenshot", "full_page": true}]'
)


@router.get("/captures/new", response_class=HTMLResponse)
async def capture_new(
    request: Request, who: Annotated[Viewer, Depends(viewer(*SUBMITTERS))]
) -> HTMLResponse:
    """新建网页取证: URL, mode, optional steps (JSON), the case and the entity."""
    return render(
        request,
        who,
        "evidence/capture_new.html",
        errors=FormErrors(),
        steps_example=STEPS_EXAMPLE,
        max_steps=MAX_STEPS,
        url=request.query_params.get("url", "")[:2048],
    )


def _capture(runtime: Runtime, capture_id: str) -> tuple[CapturePublic, str]:
    found = captures.get_capture(runtime.session, capture_id)
    return found, submitter_name(runtime, found.submitter)


async def _show(request: Request, who: Viewer, capture_id: str, template: str) -> HTMLResponse:
    """The capture in ``template``: the whole page or its status fragment."""
    found, submitter = await run_in_threadpool(_capture, runtime_of(request), capture_id)
    return render(
        request,
        who,
        template,
        cap=found,
        submitter=submitter,
        finished=found.status in FINISHED,
        when=when,
    )


@router.get("/captures/{capture_id}", response_class=HTMLResponse)
async def capture_page(
    request: Request,
    capture_id: CaptureId,
    who: Annotated[Viewer, Depends(viewer(*SUBMITTERS))],
) -> HTMLResponse:
    """取证任务: what was asked, and its live status (the fragment below)."""
    return await _show(request, who, capture_id, "evidence/capture.html")


@router.get("/captures/{capture_id}/status", response_class=HTMLResponse)
async def capture_status(
    request: Request,
    capture_id: CaptureId,
    who: Annotated[Viewer, Depends(viewer(*SUBMITTERS))],
) -> HTMLResponse:
    """The status fragment alone (htmx swaps it in place every 2 s while unfinished)."""
    return await _show(request, who, capture_id, "evidence/_capture_status.html")
