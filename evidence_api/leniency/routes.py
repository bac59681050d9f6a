"""``/v1/leniency-items``: the 免罚清单 (轻违不罚 / 容错减罚, docs/leniency.md).

Officers and admins read the list (an officer closing a case picks an item) and dry-run
an item's conditions against a case; admins add, change and retire items (never delete:
closed cases cite them). Closing a case with an outcome is ``POST
/v1/cases/{id}/transition`` (evidence_api.registry).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from evidence_api.core.auth import Principal
from evidence_api.core.deps import RuntimeDep, Submitter, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.leniency import service
from evidence_api.leniency.schemas import (
    ITEM_CODE,
    ItemCreate,
    ItemList,
    ItemPublic,
    ItemUpdate,
    LeniencyCheck,
)
from evidence_api.registry import cases

router = APIRouter(
    prefix="/v1/leniency-items", tags=["leniency 免罚清单"], route_class=GuardedRoute
)

Admin = Annotated[Principal, Depends(require("admin"))]
Code = Annotated[
    str, Path(pattern=ITEM_CODE, max_length=32, description="item code, e.g. qz-ec-01")
]
EvidenceIds = Annotated[
    list[Annotated[str, Query(pattern=r"^ev-[0-9a-f]{28}$")]] | None,
    Query(max_length=20, description="evidence the statements rest on (repeat the parameter)"),
]


@router.get(
    "",
    response_model=ItemList,
    responses=problem_responses(401, 403, 422, 503),
    summary="The 免罚清单 (轻违不罚 / 容错减罚 items)",
)
def list_items(
    runtime: RuntimeDep,
    _: Submitter,
    active: Annotated[
        bool | None, Query(description="true: only items in force; false: only retired ones")
    ] = None,
) -> ItemList:
    """Every item by code: the violation, the legal basis, the outcome it allows (不予处罚 or
    减轻处罚) and its conditions (首次违法 within a window, 及时改正, 危害后果轻微). The built-in
    example list is loaded at first use. Officers and admins."""
    with runtime.session() as session:
        seeded = service.ensure_items(session, runtime.sign_receipt)
        answer = service.list_items(session, active=active)
    runtime.queued(seeded)
    return answer


@router.post(
    "",
    status_code=201,
    response_model=ItemPublic,
    responses=problem_responses(401, 403, 409, 422, 503),
    summary="Add an item to the 免罚清单",
)
def create_item(body: ItemCreate, runtime: RuntimeDep, principal: Admin) -> ItemPublic:
    """One item with its conditions (at least one); 409 if the code exists, retired or not.
    A ``leniency_item`` log entry states the whole item. Admins."""
    with runtime.session() as session:
        seeded = service.ensure_items(session, runtime.sign_receipt)
        answer = service.create_item(session, runtime.sign_receipt, principal, body)
    runtime.queued(seeded + 1)
    return answer


@router.get(
    "/{code}",
    response_model=ItemPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="Read one item of the 免罚清单",
)
def get_item(code: Code, runtime: RuntimeDep, _: Submitter) -> ItemPublic:
    """The item, retired or not; 404 for an unknown code. Officers and admins."""
    with runtime.session() as session:
        seeded = service.ensure_items(session, runtime.sign_receipt)
        answer = service.get_item(session, code)
    runtime.queued(seeded)
    return answer


@router.patch(
    "/{code}",
    response_model=ItemPublic,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="Change or retire an item of the 免罚清单",
)
def update_item(code: Code, body: ItemUpdate, runtime: RuntimeDep, principal: Admin) -> ItemPublic:
    """Only the fields named change; ``active: false`` retires the item (no new closing may
    cite it; closed cases keep citing it), ``true`` restores it. Items are never deleted.
    Each change raises ``version`` and is a ``leniency_item`` log entry; a body that changes
    nothing writes none. Admins."""
    with runtime.session() as session:
        seeded = service.ensure_items(session, runtime.sign_receipt)
        answer, written = service.update_item(session, runtime.sign_receipt, principal, code, body)
    runtime.queued(seeded + written)
    return answer


@router.get(
    "/{code}/check",
    response_model=LeniencyCheck,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="Dry-run an item's conditions against a case",
)
def check_item(
    code: Code,
    runtime: RuntimeDep,
    principal: Submitter,
    case_id: Annotated[int, Query(ge=1, le=2**63 - 1, description="the case to be closed")],
    corrected_in_time: Annotated[bool | None, Query(description="及时改正, as stated")] = None,
    minor_harm: Annotated[bool | None, Query(description="危害后果轻微, as stated")] = None,
    evidence_ids: EvidenceIds = None,
) -> LeniencyCheck:
    """Each condition of the item checked against the case now, as closing it with the
    item's outcome would check them (what was checked, what was found); changes nothing.
    404 for an unknown item or a case outside the caller's jurisdiction. Officers and
    admins."""
    facts = service.ClosingFacts(
        corrected_in_time=corrected_in_time,
        minor_harm=minor_harm,
        evidence_ids=tuple(dict.fromkeys(evidence_ids or [])),
    )
    with runtime.session() as session:
        seeded = service.ensure_items(session, runtime.sign_receipt)
        answer = cases.leniency_check(session, principal, case_id, code, facts)
    runtime.queued(seeded)
    return answer
