"""信用分级 pages: an entity's grade explained (/console/entities/{id}/credit; officers and
admins, within their jurisdiction as ``GET /v1/entities/{id}/credit``) and the grading
policy's versions with the upload of a new one (/console/admin/credit-policy; admins).

Each page calls what the API calls (:mod:`evidence_api.credit.service`); a refused policy
shows the API's reason (the PolicyError message) above the form, the text kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from evidence_api.console.listing import page_url, when
from evidence_api.console.registry_pages import Officer
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    in_session,
    read_form,
    render,
    runtime_of,
    viewer,
)
from evidence_api.core.errors import ApiError, InvalidInputError
from evidence_api.core.routing import page_router
from evidence_api.credit import service
from evidence_api.credit.schemas import PolicyInstalled

router = page_router("/console")

Admin = Annotated[Viewer, Depends(viewer("admin"))]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Cursor = Annotated[str | None, Query(max_length=64)]
PAGE = 50


@router.get("/entities/{entity_id}/credit", response_class=HTMLResponse)
def entity_credit(
    request: Request, who: Officer, entity_id: EntityId, cursor: Cursor = None
) -> Response:
    """The grade badge, the explanation lines, the grade history and the records, each
    with its log entry id."""
    runtime = runtime_of(request)
    answer = in_session(
        request,
        lambda s: service.entity_credit(
            s,
            runtime.sign_receipt,
            who.principal,
            entity_id,
            at=datetime.now(UTC),
            limit=PAGE,
            cursor=cursor,
        ),
    )
    return render(
        request,
        who,
        "credit/entity.html",
        credit=answer,
        next_url=page_url(request, cursor=answer.records_next_cursor)
        if answer.records_next_cursor
        else None,
        when=when,
    )


def _policy_page(
    request: Request,
    who: Viewer,
    *,
    text: str | None = None,
    errors: FormErrors | None = None,
    installed: PolicyInstalled | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)

    def work(session: Session) -> tuple[list[Any], Any]:
        at = datetime.now(UTC)
        items = service.list_policies(session, runtime.sign_receipt, at)
        active = next((p for p in items if p.active), items[0])
        return items, service.get_policy(session, runtime.sign_receipt, active.version, at)

    items, active = in_session(request, work)
    if text is None:
        document = dict(active.document)
        document["version"] = max(p.version for p in items) + 1
        text = json.dumps(document, ensure_ascii=False, indent=2)
    return render(
        request,
        who,
        "credit/policies.html",
        status=status,
        items=items,
        active=active,
        active_text=json.dumps(active.document, ensure_ascii=False, indent=2),
        text=text,
        errors=errors or FormErrors(),
        installed=installed,
        when=when,
    )


@router.get("/admin/credit-policy", response_class=HTMLResponse)
def policies(request: Request, who: Admin) -> Response:
    """Every version (digest, entry, active), the active document, and the upload form
    prefilled with it one version up."""
    return _policy_page(request, who)


@router.post("/admin/credit-policy", response_class=HTMLResponse)
async def install(request: Request, who: Admin) -> Response:
    """``POST /v1/credit/policies``'s service functions with the pasted document."""
    form = await read_form(request, who.csrf_token)
    text = form.get("document", "")
    runtime = runtime_of(request)
    try:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise_invalid(f"policy: not JSON: {exc}")
        if not isinstance(document, dict):
            raise_invalid("policy: must be a JSON object")
        data = json.dumps(document, ensure_ascii=False).encode("utf-8")
        at = datetime.now(UTC)
        detail = await run_in_threadpool(
            in_session,
            request,
            lambda s: service.install(
                s, runtime.sign_receipt, data, actor=who.principal.pseudonym, at=at
            ),
        )
        runtime.queued(1)
        done: PolicyInstalled = await run_in_threadpool(
            in_session,
            request,
            lambda s: service.regrade_for_policy(s, runtime.sign_receipt, detail, at=at),
        )
        runtime.queued(done.regraded)
    except ApiError as exc:
        errors = FormErrors({"document": exc.detail})
        return await run_in_threadpool(
            _policy_page, request, who, text=text, errors=errors, status=exc.status
        )
    return await run_in_threadpool(_policy_page, request, who, installed=done)


def raise_invalid(detail: str) -> NoReturn:
    raise InvalidInputError(detail, field="document")
