"""在线调解 pages: mediations for officers and admins (/console/odr: the list with overdue
ones marked, a mediation's parties, offers and timeline, the mediator's forms) and the
platform's side (/console/platform/odr: its own mediations, its offers and answers).

Each page calls what the API calls (:mod:`evidence_api.odr.service`) with the viewer's
principal; forms are validated by the API's request models, so a refusal shows the API's
reason above the form it concerns. Amounts are typed in 元 (two decimals at most) and
sent as 分.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from evidence_api.console.forms import validated
from evidence_api.console.listing import page_url, when
from evidence_api.console.platform_pages import PlatformViewer
from evidence_api.console.registry_pages import Officer
from evidence_api.console.web import (
    FormErrors,
    Viewer,
    in_session,
    read_form,
    redirect,
    render,
    runtime_of,
)
from evidence_api.core.errors import ApiError, InvalidInputError
from evidence_api.core.routing import page_router
from evidence_api.odr import service
from evidence_api.odr import workflow as wf
from evidence_api.odr.schemas import (
    ODR_ID,
    AnswerBody,
    ExtendBody,
    FailBody,
    MediatorOffer,
    NoteBody,
    OdrPage,
    PlatformOffer,
    RespondBody,
)

router = page_router("/console")

OdrId = Annotated[str, Path(pattern=ODR_ID)]
Cursor = Annotated[str | None, Query(max_length=64)]
PAGE = 50
#: The mediator's forms, by the last part of their URL.
MEDIATOR_FORMS = ("offers", "answer", "notes", "extend", "fail")
PLATFORM_FORMS = ("offers", "respond")


def yuan_to_fen(text: str | None, field: str = "amount") -> int:
    """An amount typed in 元 (``199``, ``199.5``, ``199.50``) as 分; 422 naming ``field``."""
    value = (text or "0").strip().replace(",", "") or "0"
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise InvalidInputError(f"{field}: an amount in 元, e.g. 199.00", field=field) from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInputError(f"{field}: at most two decimals, not negative", field=field)
    fen = int(amount * 100)
    if fen > wf.MAX_AMOUNT_FEN:
        raise InvalidInputError(f"{field}: at most ¥{wf.MAX_AMOUNT_FEN // 100}", field=field)
    return fen


def _number(text: str | None) -> int | str | None:
    """A typed number: an int when it is digits (else as typed, for the model to refuse)."""
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 12 else text


def _given(form: dict[str, str], *names: str, prefix: str = "") -> dict[str, Any]:
    """The named fields (form field ``prefix`` + name: each form's own, so no two fields of
    a page share an id), trimmed, the empty ones left out (the model's default applies)."""
    return {n: v for n in names if (v := (form.get(prefix + n) or "").strip())}


def _labels() -> dict[str, Any]:
    return {
        "parties": wf.PARTY_LABELS,
        "remedies": [(r.value, label) for r, label in wf.REMEDY_LABELS.items()],
        "when": when,
        "yuan": lambda fen: "—" if fen is None else f"¥{fen / 100:,.2f}",
    }


def _list_page(
    request: Request,
    who: Viewer,
    found: OdrPage,
    base: str,
    *,
    status_filter: str = "",
    overdue: str = "",
    statuses: list[tuple[str, str]] | None = None,
) -> Response:
    """A page of mediations (``found``), each linked below ``base``; the filters only on
    the officers' list."""
    return render(
        request,
        who,
        "odr/list.html",
        cases=found.items,
        status_filter=status_filter,
        overdue=overdue,
        statuses=statuses or [],
        next_url=page_url(request, cursor=found.next_cursor) if found.next_cursor else None,
        base=base,
        **_labels(),
    )


# --- officers -----------------------------------------------------------------------------


@router.get("/odr", response_class=HTMLResponse)
def odr_list(
    request: Request,
    who: Officer,
    status: Annotated[str | None, Query(max_length=16)] = None,
    overdue: Annotated[str | None, Query(pattern=r"^(true|false)?$")] = None,
    cursor: Cursor = None,
) -> Response:
    """The mediations in the viewer's reach, newest first; overdue ones marked."""
    wanted = None if not overdue else overdue == "true"
    found = in_session(
        request,
        lambda s: service.list_cases(
            s,
            who.principal,
            status=status or None,
            overdue=wanted,
            limit=PAGE,
            cursor=cursor,
        ),
    )
    return _list_page(
        request,
        who,
        found,
        "/console/odr",
        status_filter=status or "",
        overdue=overdue or "",
        statuses=[(s.value, label) for s, label in wf.STATUS_LABELS.items()],
    )


def _detail_page(
    request: Request,
    who: Viewer,
    odr_id: str,
    *,
    platform: bool = False,
    errors: FormErrors | None = None,
    form: str | None = None,
    status: int = 200,
) -> Response:
    detail = in_session(
        request, lambda s: service.detail(s, service.load(s, who.principal, odr_id))
    )
    return render(
        request,
        who,
        "odr/detail.html",
        status=status,
        case=detail,
        platform=platform,
        base="/console/platform/odr" if platform else "/console/odr",
        errors=errors or FormErrors(),
        form=form,
        saved=request.query_params.get("saved"),
        open_offers=[o for o in detail.offers if o.state == wf.OfferState.OPEN.value],
        **_labels(),
    )


async def _act(
    request: Request,
    who: Viewer,
    odr_id: str,
    kind: str,
    build: Callable[[dict[str, str], str, str], service.Action],
    *,
    platform: bool = False,
) -> Response:
    """The form ``kind`` built into an action by ``build`` and taken through the API's
    service function; a refusal shows the detail page again with its reason above that
    form."""
    form = await read_form(request, who.csrf_token)
    try:
        action = build(form, kind, who.principal.pseudonym)
        await run_in_threadpool(
            service.act, service.ledger_of(runtime_of(request)), who.principal, odr_id, action
        )
    except ApiError as exc:
        return await run_in_threadpool(
            _detail_page,
            request,
            who,
            odr_id,
            platform=platform,
            errors=FormErrors({"": exc.detail}),
            form=kind,
            status=exc.status,
        )
    base = "/console/platform/odr" if platform else "/console/odr"
    return redirect(f"{base}/{odr_id}?saved={kind}")


@router.get("/odr/{odr_id}", response_class=HTMLResponse)
def odr_detail(request: Request, who: Officer, odr_id: OdrId) -> Response:
    return _detail_page(request, who, odr_id)


def _offer_action(
    form: dict[str, str], model: type[MediatorOffer] | type[PlatformOffer], actor: str
) -> service.Action:
    """The offer form (the mediator's or the platform's: ``model``) as the API's body, then
    as an action; the amount typed in 元."""
    data = _given(form, "who", "remedy", "text")
    data["amount_fen"] = yuan_to_fen(form.get("amount"))
    if (counter := _number(form.get("counter_to"))) is not None:
        data["counter_to"] = counter
    offer = validated(model, data)
    return service.offer_action(offer.who, actor, offer)


def _mediator_action(form: dict[str, str], kind: str, actor: str) -> service.Action:
    """The mediator's form ``kind`` as the API's body, then as an action."""
    body: BaseModel
    if kind == "offers":
        return _offer_action(form, MediatorOffer, actor)
    if kind == "answer":
        data = _given(form, "who", "reason", prefix="a_")
        body = validated(AnswerBody, data | {"offer": _number(form.get("a_offer"))})
        assert isinstance(body, AnswerBody)
        if form.get("a_decision") == "reject":
            if body.reason is None:
                raise InvalidInputError("reason: required to reject", field="reason")
            return service.Action(
                wf.Kind.REJECT, wf.Party(body.who), actor, offer=body.offer, text=body.reason
            )
        return service.Action(wf.Kind.ACCEPT, wf.Party(body.who), actor, offer=body.offer)
    if kind == "notes":
        note = validated(NoteBody, _given(form, "text", prefix="note_"))
        return service.Action(wf.Kind.NOTE, wf.Party.MEDIATOR, actor, text=note.text)
    if kind == "extend":
        data = _given(form, "reason", prefix="ext_") | {"days": _number(form.get("days"))}
        extend = validated(ExtendBody, data)
        return service.Action(
            wf.Kind.EXTEND, wf.Party.MEDIATOR, actor, days=extend.days, text=extend.reason
        )
    fail = validated(FailBody, _given(form, "who", "reason", prefix="fail_"))
    reason = wf.FAIL_ENDED if fail.who == "mediator" else wf.FAIL_REFUSED
    return service.Action(
        wf.Kind.FAILED, wf.Party(fail.who), actor, text=fail.reason, reason=reason
    )


@router.post("/odr/{odr_id}/{kind}", response_class=HTMLResponse)
async def odr_act(
    request: Request,
    who: Officer,
    odr_id: OdrId,
    kind: Annotated[str, Path(pattern=r"^(offers|answer|notes|extend|fail)$")],
) -> Response:
    """The mediator's steps, through the API's service function."""
    return await _act(request, who, odr_id, kind, _mediator_action)


# --- the platform -------------------------------------------------------------------------


@router.get("/platform/odr", response_class=HTMLResponse)
def platform_odr_list(request: Request, who: PlatformViewer, cursor: Cursor = None) -> Response:
    """The viewer's platform's mediations, newest first."""
    found = in_session(
        request, lambda s: service.list_cases(s, who.principal, limit=PAGE, cursor=cursor)
    )
    return _list_page(request, who, found, "/console/platform/odr")


@router.get("/platform/odr/{odr_id}", response_class=HTMLResponse)
def platform_odr_detail(request: Request, who: PlatformViewer, odr_id: OdrId) -> Response:
    return _detail_page(request, who, odr_id, platform=True)


def _platform_action(form: dict[str, str], kind: str, actor: str) -> service.Action:
    if kind == "offers":
        return _offer_action(form, PlatformOffer, actor)
    data = _given(form, "action", "reason", "who", prefix="r_")
    data["offer"] = _number(form.get("r_offer"))
    body = validated(RespondBody, {k: v for k, v in data.items() if v is not None})
    return service.respond_action(wf.Party(body.who or "merchant"), actor, body)


@router.post("/platform/odr/{odr_id}/{kind}", response_class=HTMLResponse)
async def platform_odr_act(
    request: Request,
    who: PlatformViewer,
    odr_id: OdrId,
    kind: Annotated[str, Path(pattern=r"^(offers|respond)$")],
) -> Response:
    """The platform's offer or answer, through the API's service function."""
    return await _act(request, who, odr_id, kind, _platform_action, platform=True)
