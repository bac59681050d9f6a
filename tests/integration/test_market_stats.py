"""``GET /v1/stats/market`` and its CSV from a known set of entities, complaints,
mediations and spot-check results, on SQLite and on PostgreSQL: every figure equals the
one worked out by hand below; jurisdiction and ``unit`` keep to the caller's reach; bad
parameters are 4xx; the CSV parses back to the JSON.

Rows are written as the features write them (the fixed columns of ``trading_entity``,
``credit_grade``, ``complaint``, ``odr_case``, ``spot_check_plan`` and
``spot_check_result``) with chosen times, so durations, medians and period edges are
exact. The tree (tests/support/clues.py): a city with counties ``a`` and ``b``, and a
city ``outside`` it; the city's officer reaches a and b, not outside.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.complaints.models import Complaint
from evidence_api.core.models import OrgUnit
from evidence_api.credit.models import CreditGrade
from evidence_api.odr.models import OdrCase
from evidence_api.registry.models import TradingEntity
from evidence_api.spotcheck.models import SpotCheckPlan, SpotCheckResult
from evidence_api.stats.export import FORMULA_STARTS
from evidence_api.stats.schemas import COLUMNS
from evidence_api.stats.service import CST, two_years_before
from tests.integration.test_api_alerts import KINDS
from tests.support.api import Stack, example_platform_id, open_backend, running_stack
from tests.support.clues import ClueWorld, seed_clue_world
from tests.support.console import Person, field_error

PERIOD = "from=2026-01-01&to=2026-06-30"
#: A class a spreadsheet would run as a formula (CSV injection).
FORMULA_CLASS = '=HYPERLINK("http://evil.example")'


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture(params=KINDS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    with (
        open_backend(request, request.param, tmp_path / "data") as backend,
        running_stack(backend.settings) as running,
    ):
        yield running


def unit_ids(session: Session, world: ClueWorld) -> dict[str, int]:
    codes = {code: key for key, code in world.units.items()}
    rows = session.execute(select(OrgUnit.code, OrgUnit.id).where(OrgUnit.code.in_(codes)))
    return {codes[code]: int(i) for code, i in rows}


def seed_entities(session: Session, units: dict[str, int], today: date) -> None:
    """Five entities in the city's reach (three in a, two in b), one outside."""
    platform = example_platform_id(session)
    now = datetime.now(UTC)
    edge = two_years_before(today)
    rows: list[tuple[str, str, str | None, str | None, str | None, date | None]] = [
        # unit, shop, class, recorded grade, computed grade, operating since
        ("a", "一号店", "食品", "C", "A", edge - timedelta(days=400)),
        ("a", "二号店", "食品", "B", None, edge),  # exactly two years: counts
        ("a", "三号店", "化妆品", None, None, edge + timedelta(days=1)),  # a day short
        ("b", "四号店", None, "D", None, None),
        ("b", "五号店", FORMULA_CLASS, None, None, None),
        ("outside", "外市店", "食品", "A", "A", edge - timedelta(days=900)),
    ]
    for unit, shop, klass, recorded, computed, since in rows:
        entity = TradingEntity(
            platform_id=platform,
            shop_name=shop,
            shop_id=f"{shop}-{uuid.uuid4().hex[:8]}",
            risk_class=klass,
            risk_grade=recorded,
            operating_since=since,
            unit_id=units[unit],
            created_at=now,
            updated_at=now,
        )
        session.add(entity)
        session.flush()
        if computed is not None:
            session.add(
                CreditGrade(
                    entity_id=entity.id,
                    grade=computed,
                    score=95,
                    policy_version=1,
                    last_record_id=None,
                    computed_at=now,
                    next_change_at=None,
                )
            )


def complaint(
    session: Session,
    unit: int,
    category: str,
    received: datetime,
    status: str,
    hours: float | None = None,
) -> str:
    """A complaint received at ``received``, resolved ``hours`` later (None: not resolved)."""
    key = uuid.uuid4().hex
    session.add(
        Complaint(
            id=f"cp-{key[:28]}",
            kind="complaint",
            category=category,
            status=status,
            substantiated=None,
            unit_id=unit,
            text="商品与描述不符",
            text_sha256=key * 2,
            complainant_key=key * 2,
            flagged=False,
            flag_reasons="[]",
            entry_id=f"cp-{key[:28]}",
            received_at=received,
            resolved_at=None if hours is None else received + timedelta(hours=hours),
        )
    )
    session.flush()
    return f"cp-{key[:28]}"


def mediation(session: Session, complaint_id: str, opened: datetime, status: str) -> None:
    key = uuid.uuid4().hex[:28]
    session.add(
        OdrCase(
            id=f"odr-{key}",
            complaint_id=complaint_id,
            status=status,
            deadline=opened + timedelta(days=15),
            outcome=None,
            opened_by="token-1",
            opened_at=opened,
            closed_at=None if status == "open" else opened + timedelta(days=3),
            entry_id=f"odr-{key}",
        )
    )


def seed_complaints(session: Session, units: dict[str, int]) -> None:
    """Complaints and mediations; the figures they give are worked out in the tests."""
    a, b, outside = units["a"], units["b"], units["outside"]
    c1 = complaint(session, a, "quality", utc(2026, 3, 1, 2), "resolved", 2)
    c2 = complaint(session, a, "quality", utc(2026, 3, 2, 2), "resolved", 4)
    c3 = complaint(session, a, "quality", utc(2026, 3, 3, 2), "resolved", 9)
    c4 = complaint(session, a, "quality", utc(2026, 3, 4, 2), "odr")
    complaint(session, a, "pricing", utc(2026, 3, 5, 2), "rejected")  # finished, not open
    c6 = complaint(session, a, "pricing", utc(2026, 3, 6, 2), "resolved", 1.5)
    c7 = complaint(session, b, "pricing", utc(2026, 3, 7, 2), "resolved", 0.5)
    c8 = complaint(session, outside, "quality", utc(2026, 3, 8, 2), "resolved", 100)
    # the period's edges, Beijing time: 2026-01-01 00:00 and 2026-06-30 23:59:59 count,
    # 2026-07-01 00:00 does not
    complaint(session, a, "online_fraud", utc(2025, 12, 31, 16), "clue")
    complaint(session, a, "online_fraud", utc(2026, 6, 30, 15, 59, 59), "received")
    complaint(session, a, "online_fraud", utc(2026, 6, 30, 16), "received")
    opened = utc(2026, 3, 10)
    mediation(session, c1, opened, "agreed")
    mediation(session, c2, opened, "agreed")
    mediation(session, c3, opened, "failed")
    mediation(session, c4, opened, "open")
    mediation(session, c7, opened, "failed")
    mediation(session, c8, opened, "agreed")  # outside the city's reach
    mediation(session, c6, utc(2025, 12, 1), "agreed")  # before the period


def plan(session: Session, unit: int) -> int:
    key = uuid.uuid4().hex[:28]
    row = SpotCheckPlan(
        id=f"sc-{key}",
        title="2026年网络交易经营者双随机抽查",
        request="{}",
        unit_id=unit,
        created_by="token-1",
        status="drawn",
        plan_json="{}",
        plan_sha256="0" * 64,
        chain_id=31337,
        seed_height=1,
        entity_pool=10,
        officer_pool=2,
        recusals=0,
        officer_tokens="[]",
        commit_entry_id=f"sc-{key}",
        public=False,
        created_at=utc(2026, 3, 1),
    )
    session.add(row)
    session.flush()
    return int(row.seq)


def seed_spotchecks(session: Session, units: dict[str, int]) -> None:
    mine, theirs = plan(session, units["a"]), plan(session, units["outside"])
    results = [
        (mine, "qualified", utc(2026, 3, 10, 2)),
        (mine, "unqualified", utc(2026, 3, 10, 3)),
        (mine, "rectify", utc(2026, 3, 10, 4)),
        (mine, "not_found", utc(2026, 3, 10, 5)),
        (mine, "qualified", utc(2026, 4, 5, 2)),
        (mine, "no_issue", utc(2026, 4, 5, 3)),
        (mine, "closed", utc(2026, 3, 31, 16, 30)),  # 2026-04-01 00:30 in Beijing: April
        (theirs, "unqualified", utc(2026, 3, 10, 2)),
    ]
    for n, (seq, outcome, at) in enumerate(results):
        session.add(
            SpotCheckResult(
                plan_seq=seq,
                entity_ref=f"ent-{n + 1}",
                outcome=outcome,
                note=None,
                officer="off-1",
                evidence_ids="[]",
                entry_id=f"sc-entry-{uuid.uuid4().hex}",
                recorded_by="token-1",
                recorded_at=at,
            )
        )


def seed(stack: Stack) -> tuple[ClueWorld, date]:
    today = datetime.now(CST).date()
    with stack.runtime.session() as session:
        world = seed_clue_world(session)
        units = unit_ids(session, world)
        seed_entities(session, units, today)
        seed_complaints(session, units)
        seed_spotchecks(session, units)
    return world, today


def market(stack: Stack, headers: dict[str, str], query: str = PERIOD) -> dict[str, Any]:
    got = stack.client.get(f"/v1/stats/market?{query}", headers=headers)
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def by_key(body: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    figures = {(f["indicator"], f["dimension"]): f for f in body["figures"]}
    assert len(figures) == len(body["figures"]), "one figure per indicator and dimension"
    return figures


def values(body: dict[str, Any], indicator: str) -> list[tuple[str | None, Any]]:
    return [(f["dimension"], f["value"]) for f in body["figures"] if f["indicator"] == indicator]


def test_figures_from_a_known_set(stack: Stack) -> None:
    world, today = seed(stack)
    body = market(stack, world.officer("city"))
    assert body["as_of"] == today.isoformat()
    assert (body["period_from"], body["period_to"]) == ("2026-01-01", "2026-06-30")
    assert body["unit"] is None
    got = by_key(body)
    snapshot, period = today.isoformat(), "2026-01-01/2026-06-30"

    # entities: a snapshot of the five in the city's reach
    assert got[("entities", None)]["value"] == 5
    assert values(body, "entities_by_class") == [
        ("食品", 2),
        (FORMULA_CLASS, 1),  # ties by name ('=' sorts before 化)
        ("化妆品", 1),
        (None, 1),
    ]
    assert got[("entities_by_class", None)]["dimension_label"] == "未分类 unclassified"
    # the computed grade wins over the one recorded on the entity (一号店: A, not C)
    assert values(body, "entities_by_grade") == [
        ("A", 1),
        ("B", 1),
        ("C", 0),
        ("D", 1),
        (None, 2),
    ]
    assert got[("entities_by_grade", "A")]["dimension_label"] == "A 信用风险低 low risk"
    assert got[("entities_by_grade", None)]["dimension_label"] == "未评级 ungraded"
    share = got[("operating_2y_share", None)]
    assert (share["value"], share["numerator"], share["denominator"]) == (0.6667, 2, 3)
    assert share["period"] == snapshot
    assert share["indicator_label"].startswith("持续经营两年以上主体占比")
    assert got[("operating_since_unknown", None)]["value"] == 2

    # complaints received 2026-01-01..06-30 (Beijing) in a and b
    assert values(body, "complaints") == [
        (None, 9),
        ("quality", 4),
        ("pricing", 3),
        ("online_fraud", 2),
    ]
    assert values(body, "complaints_open") == [
        (None, 3),  # quality's odr one and fraud's two; the rejected one is finished
        ("quality", 1),
        ("pricing", 0),
        ("online_fraud", 2),
    ]
    assert values(body, "complaint_resolution_median_hours") == [
        (None, 2.0),  # of 0.5, 1.5, 2, 4, 9
        ("quality", 4.0),  # of 2, 4, 9
        ("pricing", 1.0),  # of 0.5 and 1.5
        ("online_fraud", None),
    ]
    mean = [
        (f["dimension"], f["value"], f["numerator"], f["denominator"])
        for f in body["figures"]
        if f["indicator"] == "complaint_resolution_mean_hours"
    ]
    assert mean == [
        (None, 3.4, 17.0, 5),
        ("quality", 5.0, 15.0, 3),
        ("pricing", 1.0, 2.0, 2),
        ("online_fraud", None, None, 0),
    ]
    assert got[("complaints", None)]["period"] == period

    # mediations opened in the period whose complaint is in reach
    assert values(body, "odr_cases") == [
        (None, 5),
        ("open", 1),
        ("agreed", 2),
        ("failed", 2),
    ]
    rate = got[("odr_success_rate", None)]
    assert (rate["value"], rate["numerator"], rate["denominator"]) == (0.5, 2, 4)

    # spot-check results of a's plan; outside's plan does not count
    assert values(body, "spotcheck_results") == [
        (None, 7),
        ("qualified", 2),
        ("unqualified", 1),
        ("rectify", 1),
        ("no_issue", 1),
        ("not_found", 1),
        ("closed", 1),
    ]
    bad = [
        (f["dimension"], f["value"], f["numerator"], f["denominator"], f["period"])
        for f in body["figures"]
        if f["indicator"] == "spotcheck_noncompliance_rate"
    ]
    assert bad == [
        (None, 0.2857, 2, 7, period),
        ("2026-03", 0.5, 2, 4, "2026-03-01/2026-03-31"),
        ("2026-04", 0.0, 0, 3, "2026-04-01/2026-04-30"),
    ]
    assert got[("spotcheck_noncompliance_rate", "2026-03")]["dimension_label"].startswith(
        "2026年3月"
    )


def test_period_edges_and_months_clipped_to_it(stack: Stack) -> None:
    world, _ = seed(stack)
    officer = world.officer("city")
    narrow = by_key(market(stack, officer, "from=2026-03-05&to=2026-04-10"))
    assert narrow[("spotcheck_noncompliance_rate", "2026-03")]["period"] == (
        "2026-03-05/2026-03-31"
    )
    assert narrow[("spotcheck_noncompliance_rate", "2026-04")]["period"] == (
        "2026-04-01/2026-04-10"
    )
    assert narrow[("complaints", None)]["value"] == 3  # 03-05, 03-06, 03-07
    # from the beginning to 2026-06-30: the edge one of 07-01 00:00 still left out
    open_start = market(stack, officer, "to=2026-06-30")
    assert open_start["period_from"] is None
    assert by_key(open_start)[("complaints", None)]["period"] == "../2026-06-30"
    assert by_key(open_start)[("complaints", None)]["value"] == 9
    assert by_key(open_start)[("odr_cases", None)]["value"] == 6  # + the one of 2025-12-01
    # the default end is today: the complaint of 2026-07-01 00:00 (Beijing) counts then
    assert by_key(market(stack, officer, ""))[("complaints", None)]["value"] == 10
    one_day = by_key(market(stack, officer, "from=2026-01-01&to=2026-01-01"))
    assert one_day[("complaints", "online_fraud")]["value"] == 1  # 2025-12-31 16:00 UTC


def test_jurisdiction_and_unit(stack: Stack) -> None:
    world, _ = seed(stack)
    # a county officer: only a's rows
    county = by_key(market(stack, world.officer("a")))
    assert county[("entities", None)]["value"] == 3
    assert county[("complaints", None)]["value"] == 8
    assert county[("odr_cases", "failed")]["value"] == 1
    assert county[("spotcheck_results", None)]["value"] == 7
    # the city officer keeping to b
    only_b = market(stack, world.officer("city"), f"{PERIOD}&unit={world.units['b']}")
    assert only_b["unit"] == world.units["b"]
    assert only_b["unit_name"] == "晋江市市场监督管理局"
    b = by_key(only_b)
    assert (b[("entities", None)]["value"], b[("complaints", None)]["value"]) == (2, 1)
    assert b[("odr_success_rate", None)]["value"] == 0.0
    assert b[("spotcheck_results", None)]["value"] == 0
    assert b[("spotcheck_noncompliance_rate", None)]["value"] is None  # a share of nothing
    assert b[("operating_2y_share", None)]["value"] is None
    # an admin (no unit) sees every unit: the outside city's rows too, and the world's
    # unit-less entity
    admin = by_key(market(stack, stack.auth("admin")))
    assert admin[("entities", None)]["value"] == 7
    assert admin[("complaints", "quality")]["value"] == 5
    assert admin[("spotcheck_results", "unqualified")]["value"] == 2
    # a unit outside the caller's reach, and one that does not exist, answer alike
    for code in (world.units["outside"], "no-such-unit"):
        got = stack.client.get(f"/v1/stats/market?unit={code}", headers=world.officer("a"))
        assert got.status_code == 422, got.text
        assert "no unit" in got.json()["detail"] and "unit" in json.dumps(got.json())
    got = stack.client.get(
        f"/v1/stats/market?unit={world.units['city']}", headers=world.officer("a")
    )
    assert got.status_code == 422, got.text


def parse_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith("\ufeff".encode()), "a byte-order mark for spreadsheets"
    text = data.decode("utf-8")[1:]
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


def undefused(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def test_the_csv_parses_back_to_the_json(stack: Stack) -> None:
    world, today = seed(stack)
    officer = world.officer("city")
    body = market(stack, officer)
    got = stack.client.get(f"/v1/stats/market.csv?{PERIOD}", headers=officer)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert "charset=utf-8" in got.headers["content-type"]
    assert got.headers["content-disposition"] == (
        f'attachment; filename="market-stats-all-{today.isoformat()}.csv"'
    )
    rows = parse_csv(got.content)
    assert len(rows) == len(body["figures"])
    for row, figure in zip(rows, body["figures"], strict=True):
        for column in COLUMNS:
            cell, expected = row[column], figure[column]
            if column in ("value", "numerator", "denominator"):
                assert (json.loads(cell) if cell else None) == expected, (column, figure)
                assert cell == ("" if expected is None else json.dumps(expected)), column
            else:
                assert undefused(cell) == ("" if expected is None else expected), (column, row)
    # the formula-looking class is written as text, not as a formula
    raw = [r["dimension"] for r in rows if r["indicator"] == "entities_by_class"]
    assert "'" + FORMULA_CLASS in raw and FORMULA_CLASS not in raw
    assert not any(cell.startswith(FORMULA_STARTS) for row in rows for cell in row.values()), (
        "no cell starts a formula"
    )
    # with a unit, the file says so
    b = world.units["b"]
    named = stack.client.get(f"/v1/stats/market.csv?unit={b}", headers=officer)
    assert named.status_code == 200, named.text
    assert f"market-stats-{b}-" in named.headers["content-disposition"]
    assert parse_csv(named.content)[0] == {
        "indicator": "entities",
        "indicator_label": "经营主体总数 entities",
        "dimension": "",
        "dimension_label": "全部 all",
        "value": "2",
        "numerator": "",
        "denominator": "",
        "period": today.isoformat(),
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-07-01&to=2026-06-30", "from"),
        ("from=2026-02-30", "from"),
        ("to=tomorrow", "to"),
        ("from=1969-12-31", "from"),
        ("to=3000-01-01", "to"),
        ("unit=Bad%20Code", "unit"),
        ("unit=" + "u" * 65, "unit"),
        ("unit=no-such-unit", "unit"),
    ],
    ids=[
        "reversed",
        "no-such-day",
        "not-a-day",
        "before-1970",
        "after-2999",
        "bad-unit-code",
        "long-unit-code",
        "unknown-unit",
    ],
)
def test_bad_parameters_are_422_naming_the_field(stack: Stack, query: str, field: str) -> None:
    for path in ("/v1/stats/market", "/v1/stats/market.csv"):
        got = stack.client.get(f"{path}?{query}", headers=stack.auth("officer"))
        assert got.status_code == 422, (path, got.text)
        assert got.headers["content-type"].startswith("application/problem+json")
        assert field in json.dumps(got.json()), got.text


def test_roles_and_an_empty_database(stack: Stack) -> None:
    for path in ("/v1/stats/market", "/v1/stats/market.csv"):
        for role, status in (("admin", 200), ("officer", 200), ("appraiser", 403)):
            got = stack.client.get(path, headers=stack.auth(role))
            assert got.status_code == status, (path, role, got.text)
        assert stack.client.get(path, headers=stack.auth("platform")).status_code == 403
        assert stack.client.get(path).status_code == 401
    empty = by_key(market(stack, stack.auth("admin"), ""))
    assert empty[("entities", None)]["value"] == 0
    assert empty[("operating_2y_share", None)]["value"] is None
    assert empty[("complaint_resolution_median_hours", None)]["value"] is None
    assert empty[("odr_success_rate", None)]["denominator"] == 0
    assert [k for k in empty if k[0] == "spotcheck_noncompliance_rate"] == [
        ("spotcheck_noncompliance_rate", None)
    ]


def test_the_console_page_shows_the_figures_and_links_the_csv(stack: Stack) -> None:
    world, today = seed(stack)
    person = Person(stack, "officer", "泉州市局统计员", unit=world.units["city"])
    page = person.get(f"/console/stats?{PERIOD}")
    assert page.status_code == 200, page.text[:2000]
    assert "示范区指标" in page.text and "经营主体分级分类" in page.text
    assert not re.findall(r">\s*stats\.[a-z_.]+\s*<", page.text), "untranslated keys"
    cells = dict(
        re.findall(
            r'data-indicator="([a-z_0-9]+)" data-dimension="">.*?data-testid="value">([^<]*)<',
            page.text,
            flags=re.S,
        )
    )
    assert cells["entities"] == "5"
    assert cells["operating_2y_share"] == "66.67%"
    assert cells["odr_success_rate"] == "50.00%"
    assert cells["spotcheck_noncompliance_rate"] == "28.57%"
    assert cells["complaint_resolution_median_hours"] == "2.0"
    link = re.search(r'id="stats-csv" href="([^"]+)"', page.text)
    assert link is not None
    url = html.unescape(link.group(1))
    assert url == "/v1/stats/market.csv?from=2026-01-01&to=2026-06-30"
    # the link works with the console session (no token): the same figures
    download = person.get(url)
    assert download.status_code == 200, download.text
    rows = parse_csv(download.content)
    assert [r["value"] for r in rows if r["indicator"] == "entities"] == ["5"]
    # a unit, then refusals shown beside their field
    only_b = person.get(f"/console/stats?unit={world.units['b']}")
    assert only_b.status_code == 200 and "晋江市市场监督管理局" in only_b.text
    assert f"/v1/stats/market.csv?unit={world.units['b']}" in html.unescape(only_b.text)
    bad = person.get("/console/stats?from=2026-13-01")
    assert bad.status_code == 422 and field_error(bad.text, "from") == "from: a day as YYYY-MM-DD"
    reversed_ = person.get("/console/stats?from=2026-07-01&to=2026-06-30")
    assert reversed_.status_code == 422
    assert "after to" in field_error(reversed_.text, "from")
    outside = person.get(f"/console/stats?unit={world.units['outside']}")
    assert outside.status_code == 422 and "no unit" in field_error(outside.text, "unit")
    platform = Person(stack, "platform", "平台用户")
    assert platform.get("/console/stats").status_code == 403
    assert today.isoformat() in page.text
