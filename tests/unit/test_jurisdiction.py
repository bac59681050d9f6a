"""Jurisdiction and the organisation tree, on an in-memory SQLite database: who reaches
which row (:mod:`evidence_api.core.jurisdiction`) and the tree's rules
(:mod:`evidence_api.units.service`). docs/supervision.md §1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.jurisdiction import (
    covers,
    guard,
    in_jurisdiction,
    owner_unit,
    require_jurisdiction,
    scope,
    unit_in_reach,
    units_under,
)
from evidence_api.core.models import OrgUnit
from evidence_api.units import service
from evidence_api.units.schemas import UnitCreate, UnitUpdate


def who(path: str | None, unit_id: int | None = None) -> Principal:
    return Principal(1, "t", "officer", None, unit_id, path)


@pytest.mark.parametrize(
    ("mine", "row", "reached"),
    [
        (None, None, True),  # no unit: everything, the top included
        (None, "/1/2/", True),
        ("/1/", "/1/", True),  # its own unit
        ("/1/", "/1/2/3/", True),  # below
        ("/1/2/", "/1/", False),  # above
        ("/1/2/", "/1/3/", False),  # a sibling
        ("/1/2/", None, False),  # the top: unit-less principals only
        ("/1/2/", "/1/22/", False),  # a prefix of digits is not a prefix of the path
    ],
)
def test_covers(mine: str | None, row: str | None, reached: bool) -> None:
    assert covers(who(mine), row) is reached


TREE = [
    UnitCreate(code="fj", name="福建省市场监督管理局", level="province"),
    UnitCreate(code="fj.qz", name="泉州市市场监督管理局", level="city", parent="fj"),
    UnitCreate(code="fj.qz.fz", name="丰泽区市场监督管理局", level="county", parent="fj.qz"),
    UnitCreate(code="fj.qz.jj", name="晋江市市场监督管理局", level="county", parent="fj.qz"),
    UnitCreate(code="fj.qz.fz.dh", name="东海所", level="station", parent="fj.qz.fz"),
    UnitCreate(code="fj.qz.cac", name="泉州市委网信办", level="department", parent="fj.qz"),
]


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    OrgUnit.metadata.create_all(engine, tables=[OrgUnit.__table__])  # type: ignore[list-item]
    with Session(engine) as s:
        service.seed(s, TREE)
        yield s


def unit(session: Session, code: str) -> OrgUnit:
    return service.unit_by_code(session, code)


def principal_of(session: Session, code: str) -> Principal:
    row = unit(session, code)
    return who(row.path, row.id)


def test_paths_chain_the_ids_from_the_root(session: Session) -> None:
    fj, qz, fz = unit(session, "fj"), unit(session, "fj.qz"), unit(session, "fj.qz.fz")
    assert fj.path == f"/{fj.id}/"
    assert fz.path == f"/{fj.id}/{qz.id}/{fz.id}/"
    assert service.get_unit(session, "fj.qz.fz").depth == 3
    assert service.get_unit(session, "fj.qz.fz").parent == "fj.qz"


def test_scope_keeps_the_rows_in_reach(session: Session) -> None:
    rows = Table(
        "owned", MetaData(), Column("id", Integer, primary_key=True), Column("unit_id", Integer)
    )
    rows.create(session.connection())
    ids = {code: unit(session, code).id for code in ("fj", "fj.qz.fz", "fj.qz.jj", "fj.qz.fz.dh")}
    session.execute(
        insert(rows), [{"id": i, "unit_id": u} for i, u in enumerate([*ids.values(), None])]
    )

    def seen(principal: Principal) -> set[int | None]:
        found = session.execute(select(rows.c.unit_id).where(scope(principal, rows.c.unit_id)))
        return set(found.scalars())

    assert seen(principal_of(session, "fj.qz.fz")) == {ids["fj.qz.fz"], ids["fj.qz.fz.dh"]}
    assert seen(principal_of(session, "fj.qz.jj")) == {ids["fj.qz.jj"]}
    assert seen(who(None)) == {*ids.values(), None}
    under = set(session.execute(units_under("fj.qz.fz")).scalars())
    assert under == {ids["fj.qz.fz"], ids["fj.qz.fz.dh"]}
    assert set(session.execute(units_under("nothing")).scalars()) == set()


def test_require_and_guard_answer_404_outside(session: Session) -> None:
    fz, jj = principal_of(session, "fj.qz.fz"), principal_of(session, "fj.qz.jj")
    station = unit(session, "fj.qz.fz.dh").id
    assert in_jurisdiction(session, fz, station)
    assert not in_jurisdiction(session, jj, station)
    require_jurisdiction(session, fz, station, "no case 1")
    with pytest.raises(NotFoundError, match="no case 1"):
        require_jurisdiction(session, jj, station, "no case 1")
    with pytest.raises(NotFoundError, match="no unit 'x'"):
        guard(session, jj, OrgUnit.id, OrgUnit.code, "fj.qz.fz.dh", "no unit 'x'")
    guard(session, jj, OrgUnit.id, OrgUnit.code, "absent", "never raised")  # the caller's 404


def test_owner_unit_defaults_to_the_creators_and_names_only_units_in_reach(
    session: Session,
) -> None:
    fz = principal_of(session, "fj.qz.fz")
    assert owner_unit(session, fz, None) == fz.unit_id
    assert owner_unit(session, fz, "fj.qz.fz.dh") == unit(session, "fj.qz.fz.dh").id
    for code in ("fj.qz.jj", "fj.qz", "absent"):
        with pytest.raises(InvalidInputError) as caught:
            unit_in_reach(session, fz, code)
        assert caught.value.detail == f"unit: no unit {code!r} in your jurisdiction"
    assert owner_unit(session, who(None), None) is None


@pytest.mark.parametrize(
    ("parent", "level", "allowed"),
    [
        (None, "province", True),
        (None, "city", True),  # a deployment may start at a city
        (None, "department", True),
        ("province", "city", True),
        ("province", "county", False),  # one step at a time
        ("city", "county", True),
        ("county", "station", True),
        ("station", "station", False),
        ("county", "city", False),
        ("station", "department", True),
        ("department", "department", True),
        ("department", "station", False),
    ],
)
def test_may_nest(parent: str | None, level: str, allowed: bool) -> None:
    assert service.may_nest(parent, level) is allowed


def test_create_refuses_bad_nesting_unknown_parent_and_a_code_in_use(session: Session) -> None:
    with pytest.raises(InvalidInputError, match="a city may not sit under a county"):
        service.create_unit(
            session, UnitCreate(code="x", name="x", level="city", parent="fj.qz.fz")
        )
    with pytest.raises(InvalidInputError, match="parent: no unit 'nope'"):
        service.create_unit(session, UnitCreate(code="x", name="x", level="city", parent="nope"))
    with pytest.raises(ConflictError, match="unit code 'fj' is in use"):
        service.create_unit(session, UnitCreate(code="fj", name="x", level="department"))


def test_a_move_rewrites_the_subtree_and_refuses_a_cycle(session: Session) -> None:
    with pytest.raises(InvalidInputError, match="a cycle"):
        service.update_unit(session, "fj.qz", UnitUpdate(parent="fj.qz.fz.dh"))
    with pytest.raises(InvalidInputError, match="a cycle"):
        service.update_unit(session, "fj.qz.fz", UnitUpdate(parent="fj.qz.fz"))
    with pytest.raises(InvalidInputError, match=r"a station may not sit under a department"):
        service.update_unit(session, "fj.qz.fz.dh", UnitUpdate(parent="fj.qz.cac"))
    # 东海所 moves from 丰泽区 to 晋江市; then 晋江市's subtree moves under the province
    moved = service.update_unit(session, "fj.qz.fz.dh", UnitUpdate(parent="fj.qz.jj"))
    assert moved.path == unit(session, "fj.qz.jj").path + f"{unit(session, 'fj.qz.fz.dh').id}/"
    assert moved.parent == "fj.qz.jj"
    dept = service.update_unit(session, "fj.qz.cac", UnitUpdate(parent=None, name="网信办"))
    assert (dept.path, dept.parent, dept.name) == (
        f"/{unit(session, 'fj.qz.cac').id}/",
        None,
        "网信办",
    )
    listed = service.list_units(session, under="fj.qz.jj", limit=10, cursor=None)
    assert [u.code for u in listed.items] == ["fj.qz.jj", "fj.qz.fz.dh"]


def test_the_list_is_in_tree_order_and_pages(session: Session) -> None:
    first = service.list_units(session, under=None, limit=2, cursor=None)
    assert [u.code for u in first.items] == ["fj", "fj.qz"]
    assert first.next_cursor is not None
    rest = service.list_units(session, under=None, limit=50, cursor=first.next_cursor)
    codes = [u.code for u in rest.items]
    assert set(codes) == {"fj.qz.fz", "fj.qz.jj", "fj.qz.fz.dh", "fj.qz.cac"}
    assert codes.index("fj.qz.fz") < codes.index("fj.qz.fz.dh")  # a unit before its children
    assert rest.next_cursor is None


def test_the_quanzhou_seed_is_a_valid_tree(session: Session) -> None:
    seeded = service.quanzhou()
    codes = [u.code for u in seeded]
    assert len(codes) == len(set(codes))
    assert {
        "fj",
        "fj.qz",
        "fj.qz.fz",
        "fj.qz.jj",
        "fj.qz.commerce",
        "fj.qz.police",
        "fj.qz.cac",
    } <= set(codes)
    engine = create_engine("sqlite://")
    OrgUnit.metadata.create_all(engine, tables=[OrgUnit.__table__])  # type: ignore[list-item]
    with Session(engine) as fresh:
        assert service.seed(fresh, seeded) == codes
        assert service.seed(fresh, seeded) == []  # twice: nothing more
        counties = [
            u
            for u in service.list_units(fresh, under="fj.qz", limit=100, cursor=None).items
            if u.level == "county"
        ]
        assert len(counties) == 11


def test_a_made_up_cursor_is_refused(session: Session) -> None:
    from evidence_api.core.pagination import encode_cursor  # noqa: PLC0415

    for value in (10**6, 2**40):
        with pytest.raises(InvalidInputError, match="cursor is not one this API issued"):
            service.list_units(session, under=None, limit=5, cursor=encode_cursor(value))
