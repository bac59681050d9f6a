"""The organisation tree (五级贯通): units, their levels and paths, and who is in which.

A unit's ``path`` is the chain of ids from its root, ``/1/4/9/``; its jurisdiction is
every unit whose path starts with its own (:mod:`evidence_api.core.jurisdiction`).
Levels nest province ⊃ city ⊃ county ⊃ station, one step at a time; a department
(联席会议成员单位: 商务、公安、网信 …) may sit under any unit or at the root, and has
only departments below it (docs/supervision.md §1).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Query
from sqlalchemy import String, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.models import ApiToken, OrgUnit, User
from evidence_api.core.pagination import decode_cursor, encode_cursor
from evidence_api.units.schemas import (
    LEVELS,
    UNIT_CODE,
    UnitCreate,
    UnitPage,
    UnitPublic,
    UnitUpdate,
)

MAX_PAGE = 500
#: The largest unit id (org_unit.id is a 32-bit integer).
MAX_ID = 2**31 - 1
#: The nesting of the administrative levels; a department is outside it.
RANKS = {"province": 0, "city": 1, "county": 2, "station": 3}
#: The deepest path a unit may have (org_unit.path is 512 characters).
MAX_DEPTH = 16
#: The length of org_unit.path.
PATH_LENGTH = 512


def may_nest(parent_level: str | None, level: str) -> bool:
    """Whether a unit of ``level`` may sit under a unit of ``parent_level`` (None: a root).

    Any level may be a root (a deployment may start at a city); below a unit of the
    administrative chain comes the next level down or a department; below a department,
    departments only."""
    if parent_level is None or level == "department":
        return parent_level is None or parent_level in RANKS or parent_level == "department"
    if parent_level == "department":
        return False
    return RANKS[level] == RANKS[parent_level] + 1


def depth(path: str) -> int:
    """1 for a root's ``/1/``, one more per level below."""
    return path.count("/") - 1


def unit_by_code(session: Session, code: str, *, field: str | None = None) -> OrgUnit:
    """Unit ``code``: 404, or 422 naming ``field`` when a request body cited it."""
    row = session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one_or_none()
    if row is None:
        if field is not None:
            raise InvalidInputError(f"{field}: no unit {code!r}", field=field)
        raise NotFoundError(f"no unit {code!r}")
    return row


def public(row: OrgUnit, parent: str | None) -> UnitPublic:
    return UnitPublic(
        code=row.code,
        name=row.name,
        level=row.level,
        level_label=LEVELS[row.level],
        parent=parent,
        path=row.path,
        depth=depth(row.path),
        region_code=row.region_code,
        created_at=row.created_at,
    )


def _parent_code(session: Session, row: OrgUnit) -> str | None:
    if row.parent_id is None:
        return None
    return session.get_one(OrgUnit, row.parent_id).code


def _check_nesting(parent: OrgUnit | None, level: str, field: str) -> None:
    if not may_nest(None if parent is None else parent.level, level):
        where = "at the root" if parent is None else f"under a {parent.level} ({parent.code})"
        raise InvalidInputError(f"{field}: a {level} may not sit {where}", field=field)
    if parent is not None and depth(parent.path) >= MAX_DEPTH:
        raise InvalidInputError(f"{field}: the tree may be {MAX_DEPTH} levels deep", field=field)


def create_unit(session: Session, body: UnitCreate) -> UnitPublic:
    """A new unit under ``body.parent`` (or a root); 409 for a code in use."""
    parent = None if body.parent is None else unit_by_code(session, body.parent, field="parent")
    _check_nesting(parent, body.level, "parent" if parent is not None else "level")
    if session.execute(select(OrgUnit.id).where(OrgUnit.code == body.code)).first():
        raise ConflictError(f"unit code {body.code!r} is in use", field="code")
    row = OrgUnit(
        code=body.code,
        name=body.name,
        level=body.level,
        parent_id=None if parent is None else parent.id,
        path="/",  # its own id is known after the insert
        region_code=body.region_code,
        created_at=datetime.now(UTC),
    )
    try:
        session.add(row)
        session.flush()
    except IntegrityError as exc:  # the same code inserted concurrently
        raise ConflictError(f"unit code {body.code!r} is in use", field="code") from exc
    row.path = f"{parent.path if parent is not None else '/'}{row.id}/"
    session.flush()
    return public(row, body.parent)


def get_unit(session: Session, code: str) -> UnitPublic:
    row = unit_by_code(session, code)
    return public(row, _parent_code(session, row))


def update_unit(session: Session, code: str, body: UnitUpdate) -> UnitPublic:
    """Change name and region code; a new ``parent`` moves the unit with its subtree (every
    path below rewritten in the caller's transaction). 422 for a move into its own
    subtree (a cycle) or one the levels do not allow."""
    given = body.model_fields_set
    if "name" in given and body.name is None:
        raise InvalidInputError("name: may not be null", field="name")
    row = unit_by_code(session, code)
    if body.name is not None:
        row.name = body.name
    if "region_code" in given:
        row.region_code = body.region_code
    if "parent" in given:
        _move(session, row, body.parent)
    session.flush()
    return public(row, _parent_code(session, row))


def _move(session: Session, row: OrgUnit, parent_code: str | None) -> None:
    parent = None if parent_code is None else unit_by_code(session, parent_code, field="parent")
    if parent is not None and parent.path.startswith(row.path):
        raise InvalidInputError(
            f"parent: {parent.code!r} is {row.code!r} or below it (a cycle)", field="parent"
        )
    _check_nesting(parent, row.level, "parent")
    old = row.path
    new = f"{parent.path if parent is not None else '/'}{row.id}/"
    if new == old:
        return
    longest = session.execute(
        select(func.max(func.length(OrgUnit.path))).where(
            OrgUnit.path.startswith(old, autoescape=True)
        )
    ).scalar_one()
    if int(longest or len(old)) - len(old) + len(new) > PATH_LENGTH:
        raise InvalidInputError("parent: the moved subtree would be too deep", field="parent")
    session.flush()
    session.execute(
        update(OrgUnit)
        .where(OrgUnit.path.startswith(old, autoescape=True))
        .values(path=literal(new, String).concat(func.substr(OrgUnit.path, len(old) + 1)))
        .execution_options(synchronize_session=False)
    )
    row.parent_id = None if parent is None else parent.id
    session.flush()
    session.refresh(row)


def list_units(session: Session, *, under: str | None, limit: int, cursor: str | None) -> UnitPage:
    """Every unit (or unit ``under`` and its subtree) in tree order: by path, so a unit
    comes before its children and a subtree stays together; ``cursor`` continues."""
    query = select(OrgUnit).order_by(OrgUnit.path).limit(limit + 1)
    if under is not None:
        top = unit_by_code(session, under, field="under")
        query = query.where(OrgUnit.path.startswith(top.path, autoescape=True))
    if cursor:
        after = decode_cursor(cursor)
        last = session.get(OrgUnit, after) if after <= MAX_ID else None
        if last is None:
            raise InvalidInputError("cursor is not one this API issued", field="cursor")
        query = query.where(OrgUnit.path > last.path)
    rows = list(session.execute(query).scalars())
    page = rows[:limit]
    wanted = {r.parent_id for r in page if r.parent_id is not None}
    parents: dict[int, str] = {
        int(i): str(c)
        for i, c in session.execute(select(OrgUnit.id, OrgUnit.code).where(OrgUnit.id.in_(wanted)))
    }
    items = [public(r, parents.get(r.parent_id) if r.parent_id else None) for r in page]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return UnitPage(items=items, next_cursor=next_cursor)


def assign_token(session: Session, token_id: int, code: str | None) -> ApiToken:
    """Put token ``token_id`` (and the console user it is the identity of) in unit
    ``code`` (None: no unit, the whole tree). The free-text ``unit`` label follows."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"no token {token_id}")
    unit = None if code is None else unit_by_code(session, code, field="unit")
    _assign(session, token, unit)
    return token


def assign_user(session: Session, username: str, code: str | None) -> User:
    """Put console user ``username`` (and its identity token) in unit ``code``."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    unit = None if code is None else unit_by_code(session, code, field="unit")
    _assign(session, session.get_one(ApiToken, user.token_id), unit)
    return user


def _assign(session: Session, token: ApiToken, unit: OrgUnit | None) -> None:
    token.unit_id = None if unit is None else unit.id
    token.unit = None if unit is None else unit.name
    user = session.execute(select(User).where(User.token_id == token.id)).scalar_one_or_none()
    if user is not None:  # kept equal to the token, like the other mirrored fields
        user.unit_id, user.unit = token.unit_id, token.unit
    session.flush()


#: The 泉州 tree loaded by ``evidence units seed-quanzhou``.
QUANZHOU = Path(__file__).with_name("quanzhou.json")


def seed(session: Session, units: list[UnitCreate]) -> list[str]:
    """Add each unit (parents before children) whose code is not in use yet; the codes
    added. A unit already there is left as it is, so seeding twice adds nothing."""
    added = []
    for body in units:
        if session.execute(select(OrgUnit.id).where(OrgUnit.code == body.code)).first():
            continue
        create_unit(session, body)
        added.append(body.code)
    return added


def quanzhou() -> list[UnitCreate]:
    """The 泉州 tree of :data:`QUANZHOU`, checked like a request body."""
    data = json.loads(QUANZHOU.read_text(encoding="utf-8"))
    return [UnitCreate.model_validate(item) for item in data["units"]]


#: A console list's ``?unit=`` filter (empty: any unit in reach).
UnitQuery = Annotated[str | None, Query(max_length=64, pattern=r"^(|" + UNIT_CODE[1:-1] + ")$")]


def units_within(session: Session, principal: Principal) -> list[UnitPublic]:
    """The units in ``principal``'s jurisdiction (every unit for one without a unit), in
    tree order: the choices of a console list's unit filter."""
    query = select(OrgUnit).order_by(OrgUnit.path).limit(MAX_PAGE)
    if principal.unit_path is not None:
        query = query.where(OrgUnit.path.startswith(principal.unit_path, autoescape=True))
    return [public(r, None) for r in session.execute(query).scalars()]
