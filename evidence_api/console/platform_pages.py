"""A platform user's pages: its own orders (acknowledge, complete, dispute, granted files)
and its webhook (URL and secret rotation).

Only the role ``platform`` opens them, and every look-up is the platform API's own
(:mod:`evidence_api.takedowns.platform`): another platform's order id is answered 404,
exactly like an id that does not exist. The list reads the officers' listing scoped to
the viewer's platform code (newest first, keyset pages); actions go through
:func:`evidence_api.takedowns.platform.act`, the webhook through the registry's
:func:`~evidence_api.registry.platforms.update_platform` and
:func:`~evidence_api.registry.platforms.rotate_secret`, each for the viewer's platform only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from evidence_api.console import listing
from evidence_api.console.forms import placed, refusal
from evidence_api.console.listing import MAX_CURSOR, iso, next_link, query_limit, query_text
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    read_form,
    redirect,
    render,
    runtime_of,
    viewer,
)
from evidence_api.core.auth import holders
from evidence_api.core.errors import ApiError, InvalidInputError, NotFoundError
from evidence_api.core.routing import page_router
from evidence_api.core.runtime import Runtime
from evidence_api.intake.routes import archive
from evidence_api.registry import platforms
from evidence_api.registry.schemas import PlatformPublic, PlatformUpdate, PlatformWithSecret
from evidence_api.takedowns import platform as service
from evidence_api.takedowns import views as takedowns_views
from evidence_api.takedowns import workflow as wf
from evidence_api.takedowns.routes import ledger
from evidence_api.takedowns.schemas import (
    ORDER_ID,
    CompleteBody,
    DisputeBody,
    PlatformTakedown,
    TakedownPage,
    TakedownPublic,
)

router = page_router("/console")

PlatformViewer = Annotated[Viewer, Depends(viewer("platform"))]
#: Orders on one page of the list.
PAGE = 25
#: UTC offsets offered beside a ``datetime-local`` input (value, label); +08:00 first.
OFFSETS: tuple[tuple[str, str], ...] = (
    ("+08:00", "UTC+08:00 北京时间"),
    ("+00:00", "UTC"),
    *(
        (f"{sign}{hours:02d}:00", f"UTC{sign}{hours:02d}:00")
        for sign, hours in [("-", h) for h in range(12, 0, -1)]
        + [("+", h) for h in range(1, 15) if h != 8]
    ),
    ("+05:30", "UTC+05:30"),
    ("+09:30", "UTC+09:30"),
)
OFFSET_VALUES = frozenset(value for value, _ in OFFSETS)
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
ORDER_RE = re.compile(ORDER_ID)


def when(moment: datetime | None) -> str:
    """A time as officers read it: ``2026-12-03 15:30:00 (UTC+8)``; naive means UTC."""
    return listing.when(moment, labelled=True)


# --- orders -------------------------------------------------------------------------------


def _flagged(order: TakedownPublic, now: datetime) -> bool:
    """Overdue: marked so, or open with its deadline passed (the scan will mark it)."""
    if order.status == wf.Status.OVERDUE.value:
        return True
    return wf.is_overdue(wf.Status(order.status), listing.utc(order.deadline), now)


def _list(
    runtime: Runtime, code: str | None, status: str | None, cursor: str | None, limit: int
) -> TakedownPage:
    if code is None:  # a platform user always has one; nothing to show otherwise
        return TakedownPage(items=[], next_cursor=None)
    with runtime.session() as session:
        page: TakedownPage = takedowns_views.list_orders(
            session, platform=code, status=status, case_number=None, limit=limit, cursor=cursor
        )
        return page


@router.get("/platform/orders", response_class=HTMLResponse)
def orders(request: Request, who: PlatformViewer) -> Response:
    """The platform's orders, newest first; filter by status."""
    errors = FormErrors()
    status = cursor = None
    try:
        status = query_text(request, "status", 16)
        cursor = query_text(request, "cursor", MAX_CURSOR)
        limit = query_limit(request, PAGE, takedowns_views.MAX_PAGE)
        page = _list(runtime_of(request), who.principal.platform, status, cursor, limit)
    except ApiError as exc:
        errors = placed(FormErrors.of(exc), {"status"})
        page = TakedownPage(items=[], next_cursor=None)
    now = datetime.now(UTC)
    return render(
        request,
        who,
        "platform/orders.html",
        status=422 if errors else 200,
        errors=errors,
        items=page.items,
        overdue={o.order_id for o in page.items if _flagged(o, now)},
        chosen=status or "",
        statuses=[s.value for s in wf.Status],
        next_url=next_link(request, page.next_cursor),
        first_page=cursor is not None,
        when=when,
        iso=iso,
    )


def _order(runtime: Runtime, who: Viewer, order_id: str) -> tuple[PlatformTakedown, dict[str, str]]:
    if not ORDER_RE.fullmatch(order_id):
        raise NotFoundError(f"no takedown order {order_id!r}")
    found = service.platform_order(archive(runtime), who.principal, order_id)
    with runtime.session() as session:
        names = holders(session, {found.issued_by, *(e.actor for e in found.history)})
    return found, names


def _order_page(
    request: Request,
    who: Viewer,
    order_id: str,
    *,
    status: int = 200,
    failed: str = "",
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    done: str = "",
) -> Response:
    found, names = _order(runtime_of(request), who, order_id)
    return render(
        request,
        who,
        "platform/order.html",
        status=status,
        order=found,
        names=names,
        overdue=_flagged(found, datetime.now(UTC)),
        failed=failed,
        errors=errors or FormErrors(),
        values=values or {},
        done=done,
        offsets=OFFSETS,
        when=when,
        iso=iso,
    )


@router.get("/platform/orders/{order_id}", response_class=HTMLResponse)
def order(request: Request, order_id: str, who: PlatformViewer) -> Response:
    """One order: listings, legal basis, deadline, cited evidence (files when granted),
    history, and the forms the order's state allows."""
    done = request.query_params.get("done", "")
    return _order_page(request, who, order_id, done=done if done in ACTIONS else "")


def removal_time(local: str, offset: str) -> str:
    """A ``datetime-local`` value and a UTC offset as RFC 3339 (the API's ``removed_at``);
    422 naming ``removed_at`` for what the input cannot have sent."""
    local = local.strip()
    if not local:
        raise InvalidInputError("removed_at: the removal time is required", field="removed_at")
    if not LOCAL_TIME.fullmatch(local):
        raise InvalidInputError(
            f"removed_at: {local!r} is not a date and time (YYYY-MM-DDTHH:MM)", field="removed_at"
        )
    if offset not in OFFSET_VALUES:
        raise InvalidInputError(f"removed_tz: unknown UTC offset {offset!r}", field="removed_tz")
    seconds = "" if local.count(":") == 2 else ":00"
    return f"{local}{seconds}{offset}"


def _act(runtime: Runtime, who: Viewer, order_id: str, action: str, form: dict[str, str]) -> None:
    """Check the form as the API checks its body, then act (the platform service)."""
    principal = who.principal
    if action == "ack":
        note = form.get("ack_note", "").strip() or None
        if note is not None and len(note) > 4096:
            raise InvalidInputError("note: at most 4096 characters", field="note")
        service.act(ledger(runtime), principal, order_id, wf.Action.ACK, note=note)
    elif action == "complete":
        body = CompleteBody.model_validate(
            {
                "note": form.get("note", "").strip(),
                "removed_at": removal_time(form.get("removed_at", ""), form.get("removed_tz", "")),
            }
        )
        service.act(
            ledger(runtime),
            principal,
            order_id,
            wf.Action.COMPLETE,
            note=body.note,
            removed_at=body.removed_at,
        )
    else:
        dispute = DisputeBody.model_validate({"reason": form.get("reason", "").strip()})
        service.act(ledger(runtime), principal, order_id, wf.Action.DISPUTE, note=dispute.reason)


#: The forms of an order's page; the ack form's note is ``ack_note`` on the page.
ACTIONS = ("ack", "complete", "dispute")
FIELDS: dict[str, dict[str, str]] = {"ack": {"note": "ack_note"}, "complete": {}, "dispute": {}}
#: The fields each form shows (an error naming another goes above the form).
SHOWN = {
    "ack": frozenset({"ack_note"}),
    "complete": frozenset({"note", "removed_at", "removed_tz"}),
    "dispute": frozenset({"reason"}),
}


@router.post("/platform/orders/{order_id}/{action}", response_class=HTMLResponse)
async def act(request: Request, order_id: str, action: str, who: PlatformViewer) -> Response:
    """Acknowledge, complete or dispute; on a refusal the page again with the reason next
    to the field (or above the form when it concerns none, e.g. 409 for the state)."""
    if action not in ACTIONS:
        raise NotFoundError(f"no action {action!r} on a takedown order (ack, complete, dispute)")
    form = await read_form(request, who.csrf_token)
    runtime = runtime_of(request)
    try:
        if not ORDER_RE.fullmatch(order_id):
            raise NotFoundError(f"no takedown order {order_id!r}")
        await run_in_threadpool(_act, runtime, who, order_id, action, form)
    except NotFoundError:
        raise
    except (ValidationError, ApiError) as exc:
        errors, status = refusal(exc, FIELDS[action], SHOWN[action])
        return await run_in_threadpool(
            _order_page,
            request,
            who,
            order_id,
            status=status,
            failed=action,
            errors=errors,
            values=form,
        )
    return redirect(f"/console/platform/orders/{order_id}?done={action}")


# --- webhook ------------------------------------------------------------------------------


def _platform(runtime: Runtime, who: Viewer) -> PlatformPublic:
    code = who.principal.platform
    if code is None:
        raise NotFoundError("this account is bound to no platform")
    with runtime.session() as session:
        return platforms.get_platform(session, code)


def _webhook_page(
    request: Request,
    who: Viewer,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    secret: str | None = None,
    done: str = "",
) -> Response:
    found = _platform(runtime_of(request), who)
    return render(
        request,
        who,
        "platform/webhook.html",
        status=status,
        platform=found,
        errors=errors or FormErrors(),
        values=values,
        secret=secret,
        done=done,
        when=when,
        iso=iso,
    )


@router.get("/platform/webhook", response_class=HTMLResponse)
def webhook(request: Request, who: PlatformViewer) -> Response:
    """The platform's webhook: where deliveries go, whether they are on, the secret's state."""
    done = "saved" if request.query_params.get("done") == "saved" else ""
    return _webhook_page(request, who, done=done)


def _save_webhook(runtime: Runtime, who: Viewer, form: dict[str, str]) -> None:
    url = form.get("webhook_url", "").strip()
    body = PlatformUpdate.model_validate(
        {"webhook_url": url or None, "webhook_enabled": form.get("webhook_enabled") == "on"}
    )
    code = _platform(runtime, who).code
    with runtime.session() as session:
        platforms.update_platform(session, runtime.settings, code, body)


WEBHOOK_FIELDS = frozenset({"webhook_url", "webhook_enabled"})


@router.post("/platform/webhook", response_class=HTMLResponse)
async def save_webhook(request: Request, who: PlatformViewer) -> Response:
    """Change the webhook URL and switch deliveries on or off (the registry's checks)."""
    form = await read_form(request, who.csrf_token)
    try:
        await run_in_threadpool(_save_webhook, runtime_of(request), who, form)
    except NotFoundError:
        raise
    except (ValidationError, ApiError) as exc:
        errors, _ = refusal(exc, None, WEBHOOK_FIELDS)  # any refusal answers 422 here
    else:
        return redirect("/console/platform/webhook?done=saved")
    return await run_in_threadpool(
        _webhook_page, request, who, status=422, errors=errors, values=form
    )


def _rotate(runtime: Runtime, who: Viewer) -> PlatformWithSecret:
    code = _platform(runtime, who).code
    with runtime.session() as session:
        return platforms.rotate_secret(session, runtime.settings, code)


@router.post("/platform/webhook/secret", response_class=HTMLResponse)
async def rotate_secret(request: Request, who: PlatformViewer) -> Response:
    """A new secret, shown in this answer only (the old one stops signing at once)."""
    await read_form(request, who.csrf_token)
    rotated = await run_in_threadpool(_rotate, runtime_of(request), who)
    return await run_in_threadpool(
        _webhook_page, request, who, secret=rotated.webhook_secret, done="rotated"
    )
