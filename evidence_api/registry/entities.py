"""Online trading entities (网络交易经营者): one shop on one platform.

The risk grade (``risk_grade``) is read-only here: it is the credit grade computed from
the entity's credit records (:mod:`evidence_api.credit.grading` writes it; docs/credit.md
§6), and a create or update body naming it is refused (422).

The 统一社会信用代码 is checked with :mod:`evidence_api.registry.uscc` on create
and on update alike, after trimming and upper-casing (codes are often typed from
a photo of the licence); a bad one is a 422 saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.jurisdiction import (
    label,
    owner_unit,
    reachable,
    scope,
    unit_in_reach,
    units_under,
)
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.registry.models import Platform, TradingEntity
from evidence_api.registry.platforms import platform_by_code
from evidence_api.registry.schemas import (
    RISK_GRADES,
    EntityCreate,
    EntityPage,
    EntityPublic,
    EntityUpdate,
    UsccPublic,
)
from evidence_api.registry.uscc import UsccError, parse_uscc

MAX_PAGE = 200


def normalise_uscc(raw: str | None) -> str | None:
    """The checked, upper-cased code; 422 (field ``uscc``) with the standard's reason."""
    if raw is None:
        return None
    code = raw.strip().upper()
    try:
        parse_uscc(code)
    except UsccError as exc:
        raise InvalidInputError(
            f"uscc: not a valid 统一社会信用代码 (GB 32100-2015): {exc.reason}", field="uscc"
        ) from exc
    return code


def _uscc_public(code: str | None) -> UsccPublic | None:
    if code is None:
        return None
    info = parse_uscc(code)
    return UsccPublic(
        code=code,
        authority=f"{info.authority} {info.authority_label}",
        organisation_type=f"{info.organisation_type} {info.organisation_type_label}",
        division=info.division,
    )


def public(row: TradingEntity, platform_code: str) -> EntityPublic:
    return EntityPublic(
        id=row.id,
        platform=platform_code,
        shop_name=row.shop_name,
        shop_id=row.shop_id,
        shop_url=row.shop_url,
        uscc=_uscc_public(row.uscc),
        risk_grade=row.risk_grade,
        risk_grade_label=RISK_GRADES.get(row.risk_grade) if row.risk_grade else None,
        risk_class=row.risk_class,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _duplicate(platform: str, shop_id: str | None) -> ConflictError:
    return ConflictError(
        f"platform {platform!r} already has an entity with shop_id {shop_id!r}", field="shop_id"
    )


def entity_by_id(
    session: Session,
    entity_id: int,
    *,
    field: str | None = None,
    principal: Principal | None = None,
) -> TradingEntity:
    """Entity ``entity_id``: 404, or 422 naming ``field`` when a request body cited it.
    With ``principal``, an entity outside its jurisdiction answers as a missing one."""
    # an id beyond 64 bits names no row (and SQLite cannot even bind it)
    row = session.get(TradingEntity, entity_id) if 0 < entity_id < 2**63 else None
    if row is not None and not reachable(session, principal, row.unit_id):
        row = None
    if row is None:
        if field is not None:
            raise InvalidInputError(f"{field}: no trading entity {entity_id}", field=field)
        raise NotFoundError(f"no trading entity {entity_id}")
    return row


def _code_of(session: Session, row: TradingEntity) -> str:
    code: str = session.execute(
        select(Platform.code).where(Platform.id == row.platform_id)
    ).scalar_one()
    return code


def _labelled(session: Session, row: TradingEntity, item: EntityPublic) -> EntityPublic:
    label(session, [(item, row.unit_id)])
    return item


def create_entity(
    session: Session, body: EntityCreate, principal: Principal | None = None
) -> EntityPublic:
    """A new entity of the creator's unit, or of ``body.unit`` (in the creator's reach)."""
    uscc = normalise_uscc(body.uscc)
    unit_id = None if principal is None else owner_unit(session, principal, body.unit)
    now = datetime.now(UTC)
    try:
        platform = platform_by_code(session, body.platform, field="platform")
        row = TradingEntity(
            platform_id=platform.id,
            shop_name=body.shop_name,
            shop_id=body.shop_id,
            shop_url=body.shop_url,
            uscc=uscc,
            risk_class=body.risk_class,
            unit_id=unit_id,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return _labelled(session, row, public(row, platform.code))
    except IntegrityError as exc:
        raise _duplicate(body.platform, body.shop_id) from exc


NOT_NULL = ("platform", "shop_name")


def update_entity(
    session: Session, entity_id: int, body: EntityUpdate, principal: Principal | None = None
) -> EntityPublic:
    """Change the named fields, checked as on creation; ``null`` clears optional ones.
    ``unit`` assigns the entity to a unit in the caller's reach (docs/supervision.md §1)."""
    given = body.model_fields_set
    for name in (*NOT_NULL, "unit"):
        if name in given and getattr(body, name) is None:
            raise InvalidInputError(f"{name}: may not be null", field=name)
    uscc = normalise_uscc(body.uscc) if "uscc" in given else None
    where: tuple[str | None, str | None] = (body.platform, body.shop_id)  # for a 409
    try:
        row = entity_by_id(session, entity_id, principal=principal)
        if body.unit is not None and principal is not None:
            row.unit_id = unit_in_reach(session, principal, body.unit)
        shop_id = body.shop_id if "shop_id" in given else row.shop_id
        where = (body.platform or _code_of(session, row), shop_id)
        if body.platform is not None:
            row.platform_id = platform_by_code(session, body.platform, field="platform").id
        if body.shop_name is not None:
            row.shop_name = body.shop_name
        if "uscc" in given:
            row.uscc = uscc
        # risk_grade is never set here: it mirrors the computed credit grade
        # (evidence_api.credit.grading); the request models refuse it
        for name in ("shop_id", "shop_url", "risk_class"):
            if name in given:
                setattr(row, name, getattr(body, name))
        row.updated_at = datetime.now(UTC)
        session.flush()
        return _labelled(session, row, public(row, _code_of(session, row)))
    except IntegrityError as exc:
        raise _duplicate(where[0] or "(unknown)", where[1]) from exc


def get_entity(
    session: Session, entity_id: int, principal: Principal | None = None
) -> EntityPublic:
    row = entity_by_id(session, entity_id, principal=principal)
    return _labelled(session, row, public(row, _code_of(session, row)))


@dataclass(frozen=True)
class EntityFilter:
    platform: str | None = None
    uscc: str | None = None
    risk_grade: str | None = None
    #: Part of the shop name, case-insensitive.
    q: str | None = None
    #: A unit's code: its rows and those of the units below it.
    unit: str | None = None


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[TradingEntity, str], flt: EntityFilter) -> Select[TradingEntity, str]:
    if flt.platform is not None:
        query = query.where(Platform.code == flt.platform)
    if flt.uscc is not None:
        query = query.where(TradingEntity.uscc == flt.uscc.strip().upper())
    if flt.risk_grade is not None:
        query = query.where(TradingEntity.risk_grade == flt.risk_grade)
    if flt.q is not None:
        pattern = f"%{_like_escaped(flt.q.lower())}%"
        query = query.where(func.lower(TradingEntity.shop_name).like(pattern, escape="\\"))
    return query


def list_entities(
    session: Session,
    flt: EntityFilter,
    *,
    limit: int,
    cursor: str | None,
    principal: Principal | None = None,
) -> EntityPage:
    """Newest first; ``cursor`` continues after the last item of the previous page. With
    ``principal``, only the entities in its jurisdiction."""
    query = keyset(
        select(TradingEntity, Platform.code).join(
            Platform, Platform.id == TradingEntity.platform_id
        ),
        TradingEntity.id,
        limit=limit,
        cursor=cursor,
    )
    query = _filtered(query, flt)
    if principal is not None:
        query = query.where(scope(principal, TradingEntity.unit_id))
    if flt.unit is not None:
        query = query.where(TradingEntity.unit_id.in_(units_under(flt.unit)))
    rows = list(session.execute(query).all())
    items = [public(row, code) for row, code in rows[:limit]]
    label(session, [(item, row.unit_id) for item, (row, _) in zip(items, rows, strict=False)])
    next_cursor = cursor_after(rows, limit, lambda r: r[0].id)
    return EntityPage(items=items, next_cursor=next_cursor)
