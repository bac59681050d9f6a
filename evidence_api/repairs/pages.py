"""The public 信用修复 pages (Chinese, server-rendered, no script, no login), a tab of the
信息公示 pages: ``/public/credit-repair`` (the application form, posted as
``multipart/form-data`` to itself), the receipt page it answers with (the application id,
the access token shown this once, every attachment's receipt) and
``/public/credit-repair/status`` (the status lookup by id and access token, posted, so the
token never appears in a URL).

The form goes through the very functions of ``POST /v1/public/credit-repairs``
(:mod:`evidence_api.repairs.intake`): the same rate limit, bounds and checks; a refusal
shows the API's reason above the form (and the text typed, when the form was read).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from evidence_api.console.web import in_session, render, runtime_of
from evidence_api.core.errors import ApiError, InvalidInputError, PayloadTooLargeError
from evidence_api.core.routing import page_router
from evidence_api.disclosure.service import portal_page
from evidence_api.intake.public import receive_public
from evidence_api.registry.models import Platform
from evidence_api.repairs import intake, service, waiting
from evidence_api.repairs.schemas import MAX_STATEMENT, REPAIR_ID

router = page_router("/public")

TAB = "credit-repair"
#: Bytes of the status lookup form (an id and a token).
MAX_LOOKUP_BYTES = 2048
#: The 信用承诺书 the applicant accepts (shown beside the checkbox).
PLEDGE = (
    "本申请人承诺：所提交的材料真实、合法、有效；已经自觉履行行政处罚决定中规定的义务，"
    "已经主动消除危害后果和不良影响；如有虚假，自愿承担相应法律责任，并接受市场监督管理部门"
    "依法撤销信用修复决定、重新列入或恢复公示。"
)


def _page(
    request: Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    portal = portal_page(runtime_of(request).settings.verifier_mount)
    return render(
        request,
        None,
        template,
        status,
        lang="zh",
        headers=headers,
        tab=TAB,
        portal=portal,
        **context,
    )


def _platforms(request: Request) -> list[tuple[str, str]]:
    return list(
        in_session(
            request,
            lambda s: [
                (str(c), f"{n}（{c}）")
                for c, n in s.execute(
                    select(Platform.code, Platform.name).order_by(Platform.code).limit(200)
                ).all()
            ],
        )
    )


def _form(
    request: Request,
    status: int = 200,
    *,
    error: ApiError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    settings = runtime_of(request).settings
    return _page(
        request,
        "repairs/public_form.html",
        status,
        headers=None if error is None else error.headers,
        error=None if error is None else error.detail,
        error_field=None if error is None else error.field,
        values=values or {},
        platforms=_platforms(request),
        periods=list(waiting.periods().values()),
        pledge=PLEDGE,
        max_files=settings.public_max_attachments,
        max_mb=round(settings.public_max_attachment_bytes / 1048576, 1),
        max_statement=MAX_STATEMENT,
    )


@router.get("/credit-repair")
async def form(request: Request) -> HTMLResponse:
    return await run_in_threadpool(_form, request)


@router.post("/credit-repair")
async def apply(request: Request) -> HTMLResponse:
    """``POST /v1/public/credit-repairs``'s path; the receipt page, or the form with why."""
    runtime = runtime_of(request)
    values: dict[str, str] = {}
    try:
        key, received = await receive_public(request, runtime, intake.FIELDS)
        try:
            values = dict(received.fields)
            receipt = await run_in_threadpool(intake.record, runtime, key, received)
        finally:
            received.cleanup()
    except ApiError as exc:
        refusal = exc
        return await run_in_threadpool(
            lambda: _form(request, refusal.status, error=refusal, values=values)
        )
    return _page(request, "repairs/public_receipt.html", 201, r=receipt)


@router.get("/credit-repair/status")
async def status_form(request: Request) -> HTMLResponse:
    return _page(request, "repairs/public_status.html", found=None, error=None, repair_id="")


async def _lookup_fields(request: Request) -> dict[str, str]:
    """The lookup form's two fields, its body bounded to :data:`MAX_LOOKUP_BYTES`."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOOKUP_BYTES:
            raise PayloadTooLargeError(f"the lookup form exceeds {MAX_LOOKUP_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("the form is not UTF-8") from exc
    return {k: v.strip() for k, v in parse_qsl(text, max_num_fields=4)}


@router.post("/credit-repair/status")
async def status_lookup(request: Request) -> HTMLResponse:
    repair_id = ""
    try:
        fields = await _lookup_fields(request)
        repair_id = fields.get("repair_id", "")[:64]
        token = fields.get("access_token", "")[:128]
        if not re.fullmatch(REPAIR_ID, repair_id):
            raise InvalidInputError("申请编号格式应为 rp- 加 28 位十六进制字符", field="repair_id")
        found = await run_in_threadpool(
            in_session, request, lambda s: service.public_status(s, repair_id, token)
        )
    except ApiError as exc:
        detail = "未找到与该申请编号和查询码相符的申请。" if exc.status == 404 else exc.detail
        return _page(
            request,
            "repairs/public_status.html",
            exc.status,
            found=None,
            error=detail,
            repair_id=repair_id,
        )
    return _page(
        request, "repairs/public_status.html", found=found, error=None, repair_id=repair_id
    )
