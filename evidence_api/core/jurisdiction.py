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

from typing import Any

from sqlalchemy import ColumnElement, column, select, table, true
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import NotFoundError

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
