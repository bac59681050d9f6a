"""Jurisdiction (管辖): who may see and act on what, by the organisation tree.

Each unit has a ``path``, the ids from the root (``/1/4/9/``). A principal with a unit
acts on what belongs to its unit and every unit below it; one without a unit
(administrators, appraisers, tokens made before units existed) on everything. A row
with no unit belongs to the top: only principals without a unit reach it.

Outside one's jurisdiction a resource does not exist: callers raise
:class:`~evidence_api.core.errors.NotFoundError` (404), never 403, so its existence
is not disclosed (docs/supervision.md §1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, column, select, table, true
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.core.models import OrgUnit

#: The organisation tree, read by name (its model lives in :mod:`evidence_api.core.models`).
_UNIT = table("org_unit", column("id"), column("path"))


def covers(principal: Principal, path: str | None) -> bool:
    """Whether a row of the unit at ``path`` (None: the top) is in ``principal``'s reach."""
    if principal.unit_path is None:
        return True
    return path is not None and path.startswith(principal.unit_path)


def unit_path(session: Session, unit_id: int | None) -> str | None:
    """The tree path of unit ``unit_id`` (None for None or an unknown id)."""
    if unit_id is None:
        return None
    value = session.execute(select(_UNIT.c.path).where(_UNIT.c.id == unit_id)).scalar()
    return None if value is None else str(value)


def in_jurisdiction(session: Session, principal: Principal, unit_id: int | None) -> bool:
    """Whether a row belonging to unit ``unit_id`` is in ``principal``'s reach."""
    if principal.unit_path is None:
        return True
    return covers(principal, unit_path(session, unit_id))


def reachable(session: Session, principal: Principal | None, unit_id: int | None) -> bool:
    """:func:`in_jurisdiction`, with no principal (an internal caller) reaching everything."""
    return principal is None or in_jurisdiction(session, principal, unit_id)


def require_jurisdiction(
    session: Session, principal: Principal, unit_id: int | None, what: str
) -> None:
    """Raise ``NotFoundError(what)`` unless the row of unit ``unit_id`` is in reach."""
    if not in_jurisdiction(session, principal, unit_id):
        raise NotFoundError(what)


def scope(principal: Principal, unit_column: Any) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows whose ``unit_column`` is in ``principal``'s reach
    (one sub-select on ``org_unit`` by path prefix; TRUE for a principal without a unit)."""
    if principal.unit_path is None:
        return true()
    below = select(_UNIT.c.id).where(_UNIT.c.path.startswith(principal.unit_path, autoescape=True))
    clause: ColumnElement[bool] = unit_column.in_(below)
    return clause


def guard(
    session: Session,
    principal: Principal,
    unit_column: Any,
    key_column: Any,
    key: object,
    what: str,
) -> None:
    """Raise ``NotFoundError(what)`` when the row whose ``key_column`` is ``key`` exists
    but lies outside ``principal``'s reach. A missing row passes: the caller's own
    lookup answers its 404 with the same words, so the two cannot be told apart."""
    if principal.unit_path is None:
        return
    found = session.execute(select(unit_column).where(key_column == key)).first()
    if found is not None:
        require_jurisdiction(session, principal, found[0], what)


def unit_in_reach(session: Session, principal: Principal, code: str, field: str = "unit") -> int:
    """The id of unit ``code`` when it is in ``principal``'s reach; 422 naming ``field``
    otherwise (an unknown code and one outside the reach answer alike)."""
    found = session.execute(select(OrgUnit.id, OrgUnit.path).where(OrgUnit.code == code)).first()
    if found is None or not covers(principal, found[1]):
        raise InvalidInputError(f"{field}: no unit {code!r} in your jurisdiction", field=field)
    return int(found[0])


def owner_unit(
    session: Session, principal: Principal, code: str | None, field: str = "unit"
) -> int | None:
    """The unit a new row belongs to: unit ``code`` when named (in ``principal``'s reach),
    else the creator's own unit (None for a creator without one: the top)."""
    if code is None:
        return principal.unit_id
    return unit_in_reach(session, principal, code, field)


def labels(session: Session, unit_ids: Iterable[int | None]) -> dict[int, tuple[str, str]]:
    """``{unit id: (code, name)}`` of the given units (None and unknown ids left out)."""
    wanted = {i for i in unit_ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(OrgUnit.id, OrgUnit.code, OrgUnit.name).where(OrgUnit.id.in_(wanted))
    ).all()
    return {int(i): (str(c), str(n)) for i, c, n in rows}


class _Labelled(Protocol):
    unit: str | None
    unit_name: str | None


def label(session: Session, pairs: Sequence[tuple[_Labelled, int | None]]) -> None:
    """Fill ``unit`` (code) and ``unit_name`` of each answer from its row's unit id."""
    known = labels(session, [unit_id for _, unit_id in pairs])
    for item, unit_id in pairs:
        item.unit, item.unit_name = known.get(unit_id, (None, None)) if unit_id else (None, None)


def units_under(code: str) -> Select[int]:
    """The ids of unit ``code`` and every unit below it (none for an unknown code): a
    listing's ``?unit=`` filter, applied together with :func:`scope`."""
    top = select(OrgUnit.path).where(OrgUnit.code == code).scalar_subquery()
    return select(OrgUnit.id).where(OrgUnit.path.startswith(top))
