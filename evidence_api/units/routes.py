"""``/v1/units``: the organisation tree (五级贯通).

Admins add and change units; officers, admins and appraisers read the tree (an officer
picks the unit a case is assigned to). Platform tokens get 403: the tree is the
regulators' own. docs/supervision.md §1.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from evidence_api.core.auth import Principal
from evidence_api.core.deps import Reader, RuntimeDep, require
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses
from evidence_api.units import service
from evidence_api.units.schemas import UNIT_CODE, UnitCreate, UnitPage, UnitPublic, UnitUpdate

Admin = Annotated[Principal, Depends(require("admin"))]
Code = Annotated[str, Path(pattern=UNIT_CODE, max_length=64, description="unit code")]
READ = problem_responses(401, 403, 404, 422, 503)
WRITE = problem_responses(401, 403, 404, 409, 422, 503)

router = APIRouter(prefix="/v1/units", tags=["units 组织机构"], route_class=GuardedRoute)


@router.post(
    "",
    status_code=201,
    response_model=UnitPublic,
    responses=WRITE,
    summary="Add a unit to the organisation tree (新增单位)",
)
def create_unit(body: UnitCreate, runtime: RuntimeDep, _: Admin) -> UnitPublic:
    """Under ``parent`` (a unit code) or at the root. Levels nest province ⊃ city ⊃ county ⊃
    station one step at a time; a department (商务、公安、网信 …) may sit under any unit or at
    the root. 409: the code is in use; 422: unknown parent or a nesting the levels refuse.
    Admins."""
    with runtime.session() as session:
        return service.create_unit(session, body)


@router.get("", response_model=UnitPage, responses=READ, summary="List the tree (组织机构树)")
def list_units(
    runtime: RuntimeDep,
    _: Reader,
    under: Annotated[
        str | None,
        Query(pattern=UNIT_CODE, max_length=64, description="only this unit and those below it"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 200,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> UnitPage:
    """A flat list in tree order (by path: a unit before its children), each with its path and
    depth; ``next_cursor`` continues. Officers, admins and appraisers."""
    with runtime.session() as session:
        return service.list_units(session, under=under, limit=limit, cursor=cursor)


@router.get("/{code}", response_model=UnitPublic, responses=READ, summary="Read a unit")
def get_unit(code: Code, runtime: RuntimeDep, _: Reader) -> UnitPublic:
    """Its name, level, parent, path, depth and 行政区划代码."""
    with runtime.session() as session:
        return service.get_unit(session, code)


@router.patch(
    "/{code}", response_model=UnitPublic, responses=WRITE, summary="Change or move a unit"
)
def update_unit(code: Code, body: UnitUpdate, runtime: RuntimeDep, _: Admin) -> UnitPublic:
    """Name and 行政区划代码; ``parent`` moves the unit with everything below it (the subtree's
    paths rewritten in one transaction). 422: a move into its own subtree (a cycle), an unknown
    parent or a nesting the levels refuse. Admins."""
    with runtime.session() as session:
        return service.update_unit(session, code, body)
