"""Resolving a plan's pools when it is committed: the entities its filters select in
the caller's jurisdiction with their weights, the officers of its units, and the
recusals (回避) — pure helpers first, then the queries (docs/inspections.md §3-4).

Officers appear in the committed plan (and everything public after it) only as
per-plan references ``off-<n>``: the pool is put in a uniformly random order when the
plan is committed and ``off-<n>`` is the n-th officer of that order. The order (token
ids) is kept privately in the plan row, so refs link neither plans nor log entries."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import InvalidInputError
from evidence_api.core.jurisdiction import covers, scope
from evidence_api.core.models import ApiToken, OrgUnit
from evidence_api.registry.models import CaseFile, TradingEntity
from evidence_api.spotcheck.schemas import Conflict
from verifier.spotcheck import PoolEntity, PoolOfficer, Recusal

#: Largest pools a plan may hold (beyond: 422, narrow the filters).
MAX_ENTITY_POOL = 100_000
MAX_OFFICER_POOL = 10_000
#: The weight of a grade the plan's weights do not name.
DEFAULT_WEIGHT = 1

Reason = Literal["unit_case", "declared"]


def entity_ref(entity_id: int) -> str:
    return f"ent-{entity_id}"


def officer_ref(position: int) -> str:
    """The plan's reference of its ``position``-th officer (1-based): ``off-<n>``."""
    return f"off-{position}"


def token_pseudonym(token_id: int) -> str:
    """An officer's token pseudonym (log entries, requests): ``token-<id>``."""
    return f"token-{token_id}"


def ref_id(ref: str) -> int:
    """The number in ``ent-<id>``, ``token-<id>`` or ``off-<n>``."""
    return int(ref.rsplit("-", 1)[1])


def plan_ref(officer: str, tokens: Sequence[int]) -> str | None:
    """The plan's ref of ``officer`` given as ``off-<n>`` or ``token-<id>``, where
    ``tokens`` lists the token ids of the plan's officers in ref order; None when the
    officer is not in the plan's pool."""
    number = ref_id(officer)
    if officer.startswith("off-"):
        return officer_ref(number) if 1 <= number <= len(tokens) else None
    if officer.startswith("token-") and number in tokens:
        return officer_ref(tokens.index(number) + 1)
    return None


def weight_of(grade: str | None, weights: Mapping[str, int]) -> int:
    """The weight of credit grade ``grade`` (None: not graded, key ``none``)."""
    return weights.get(grade or "none", DEFAULT_WEIGHT)


@dataclass(frozen=True)
class Officer:
    """An officer of the pool: token id, unit id and unit code."""

    token_id: int
    unit_id: int
    unit: str


def plan_order(officers: Sequence[Officer], rng: random.Random) -> list[Officer]:
    """The pool in the plan's order, a uniformly random permutation drawn from ``rng``
    (the service passes :class:`random.SystemRandom`): the n-th is ``off-<n>``."""
    ordered = list(officers)
    rng.shuffle(ordered)
    return ordered


def recusals_of(
    officers: Sequence[Officer],
    unit_cases: Iterable[tuple[int, int]],
    conflicts: Iterable[Conflict],
    pool: set[int],
) -> list[Recusal]:
    """Every (officer, entity) pair never drawn together, ``officers`` in the plan's
    order: ``unit_case`` when the officer's unit had a case on the entity
    (``unit_cases``: (entity id, unit id) pairs within the window), ``declared`` for a
    declared conflict (``token-<id>``; a pair also recused for a unit case keeps
    ``unit_case``). Sorted by officer position n, then entity id; conflicts naming an
    entity outside ``pool`` or an officer outside the pool are refused (422)."""
    by_unit: dict[int, list[int]] = {}
    position: dict[int, int] = {}
    for n, officer in enumerate(officers, start=1):
        by_unit.setdefault(officer.unit_id, []).append(n)
        position[officer.token_id] = n
    pairs: dict[tuple[int, int], Reason] = {}
    for entity_id, unit_id in unit_cases:
        if entity_id in pool:
            for n in by_unit.get(unit_id, ()):
                pairs[(n, entity_id)] = "unit_case"
    for conflict in conflicts:
        at, entity_id = position.get(ref_id(conflict.officer)), ref_id(conflict.entity)
        if at is None:
            raise InvalidInputError(
                f"conflict names officer {conflict.officer}, not in the officer pool",
                field="conflicts",
            )
        if entity_id not in pool:
            raise InvalidInputError(
                f"conflict names entity {conflict.entity}, not in the entity pool",
                field="conflicts",
            )
        pairs.setdefault((at, entity_id), "declared")
    return [
        Recusal(officer=officer_ref(n), entity=entity_ref(e), reason=reason)
        for (n, e), reason in sorted(pairs.items())
    ]


# --- queries ----------------------------------------------------------------------------


def _unit(session: Session, code: str, field: str, principal: Principal | None) -> OrgUnit:
    unit = session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one_or_none()
    if unit is None or (principal is not None and not covers(principal, unit.path)):
        raise InvalidInputError(f"no unit {code!r}", field=field)
    return unit


def _below(path: str) -> ColumnElement[bool]:
    return OrgUnit.path.startswith(path, autoescape=True)


def entity_filter(
    session: Session,
    principal: Principal,
    *,
    region: str | None,
    risk_classes: list[str],
    risk_grades: list[str],
) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``trading_entity`` for the plan's filters, in jurisdiction."""
    where: list[ColumnElement[bool]] = [scope(principal, TradingEntity.unit_id)]
    if region is not None:
        if region.isdigit():
            units = select(OrgUnit.id).where(OrgUnit.region_code.startswith(region))
        else:
            unit = _unit(session, region, "region", principal)
            units = select(OrgUnit.id).where(_below(unit.path))
        where.append(TradingEntity.unit_id.in_(units))
    if risk_classes:
        where.append(TradingEntity.risk_class.in_(risk_classes))
    if risk_grades:
        graded = [g for g in risk_grades if g != "none"]
        options: list[ColumnElement[bool]] = [TradingEntity.risk_grade.in_(graded)]
        if "none" in risk_grades:
            options.append(TradingEntity.risk_grade.is_(None))
        where.append(or_(*options))
    return where


def entity_pool(
    session: Session, where: list[ColumnElement[bool]], weights: Mapping[str, int]
) -> list[PoolEntity]:
    """The entities ``where`` selects, by id, each weighted by its credit grade."""
    rows = session.execute(
        select(TradingEntity.id, TradingEntity.risk_grade)
        .where(*where)
        .order_by(TradingEntity.id)
        .limit(MAX_ENTITY_POOL + 1)
    ).all()
    if len(rows) > MAX_ENTITY_POOL:
        raise InvalidInputError(
            f"the filters select more than {MAX_ENTITY_POOL} entities: narrow them",
            field="region",
        )
    return [
        PoolEntity(ref=entity_ref(int(i)), weight=weight_of(grade, weights)) for i, grade in rows
    ]


def officer_pool(session: Session, unit_codes: list[str], now: datetime) -> list[Officer]:
    """Officers (role officer, token neither revoked nor expired) of ``unit_codes`` and
    the units below them, by token id; 422 naming an unknown unit."""
    paths = [_unit(session, code, "officer_units", None).path for code in unit_codes]
    rows = session.execute(
        select(ApiToken.id, ApiToken.unit_id, OrgUnit.code)
        .join(OrgUnit, OrgUnit.id == ApiToken.unit_id)
        .where(
            ApiToken.role == "officer",
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            or_(*[_below(p) for p in paths]),
        )
        .order_by(ApiToken.id)
        .limit(MAX_OFFICER_POOL + 1)
    ).all()
    if len(rows) > MAX_OFFICER_POOL:
        raise InvalidInputError(
            f"the units hold more than {MAX_OFFICER_POOL} officers", field="officer_units"
        )
    return [Officer(int(t), int(u), str(c)) for t, u, c in rows if u is not None]


def pool_officers(officers: Sequence[Officer]) -> list[PoolOfficer]:
    """The plan's officers (``officers`` in the plan's order): ``off-<n>`` and unit."""
    return [PoolOfficer(ref=officer_ref(n), unit=o.unit) for n, o in enumerate(officers, 1)]


def unit_cases(
    session: Session, officers: list[Officer], where: list[ColumnElement[bool]], since: datetime
) -> set[tuple[int, int]]:
    """(entity id, unit id) of cases opened since ``since`` by an officer's unit on an
    entity the filters select."""
    units = sorted({o.unit_id for o in officers})
    if not units:
        return set()
    rows = session.execute(
        select(CaseFile.entity_id, CaseFile.unit_id)
        .join(TradingEntity, TradingEntity.id == CaseFile.entity_id)
        .where(and_(CaseFile.unit_id.in_(units), CaseFile.created_at >= since), *where)
        .distinct()
    ).all()
    return {(int(e), int(u)) for e, u in rows if e is not None and u is not None}


def window_start(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
