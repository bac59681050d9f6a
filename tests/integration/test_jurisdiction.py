"""Jurisdiction (管辖), on PostgreSQL: the role × unit × endpoint matrix.

The tree: 福建省 (fj) → 泉州市 (fj.qz) → 丰泽区 (fj.qz.fz) and 晋江市 (fj.qz.jj); 丰泽区
→ 东海所 (fj.qz.fz.dh). Every row under test belongs to 丰泽区, made by a 丰泽区 officer.
For every route that reads or acts on an entity, a case, a takedown order, a monitor or
an alert (found in the OpenAPI schema, so a new one is in the matrix by itself), each
role that may call it (officer, admin) is tried from each unit:

- 丰泽区 itself and 泉州市 above it: the normal answer;
- 晋江市 (a sibling) and 东海所 (below: the row is its parent's): 404, as for a row
  that does not exist;
- a list from those two units leaves the row out; from 丰泽区 and 泉州市 it has it.

docs/supervision.md §1.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from evidence_api.core.auth import create_token
from evidence_api.core.config import Settings
from evidence_api.core.models import ApiToken
from evidence_api.monitoring.alert_log import AlertDraft, ledger_of, open_alert
from evidence_api.monitoring.models import Monitor
from evidence_api.monitoring.stream import StreamGate
from evidence_api.units import service as units
from evidence_api.units.schemas import UnitCreate
from tests.support.api import (
    EVIDENCE_CLI,
    Stack,
    auth_header,
    create_token_cli,
    fresh_postgres_database,
    published_document,
    running_stack,
    submit,
    wait_for_bundle,
)
from tests.support.console import Person, field_error

pytestmark = pytest.mark.postgres

TREE = [
    UnitCreate(code="fj", name="福建省市场监督管理局", level="province"),
    UnitCreate(code="fj.qz", name="泉州市市场监督管理局", level="city", parent="fj"),
    UnitCreate(code="fj.qz.fz", name="泉州市丰泽区市场监督管理局", level="county", parent="fj.qz"),
    UnitCreate(code="fj.qz.jj", name="晋江市市场监督管理局", level="county", parent="fj.qz"),
    UnitCreate(
        code="fj.qz.fz.dh", name="丰泽区东海市场监督管理所", level="station", parent="fj.qz.fz"
    ),
]
OWNER = "fj.qz.fz"
#: caller unit -> whether a row of the owner unit is in its reach
REACH = {"fj.qz.fz": True, "fj.qz": True, "fj.qz.jj": False, "fj.qz.fz.dh": False}
ROLES = ("officer", "admin")
RESOURCES = ("/v1/entities", "/v1/cases", "/v1/takedowns", "/v1/monitors", "/v1/alerts")


#: The tags of the routes this matrix covers; a route another feature adds under these
#: paths (e.g. a case's 信息公示, tag "disclosure") is checked by that feature's tests.
TAGS = (
    "entities 网络交易经营者",
    "cases 案件",
    "takedowns 下架通知",
    "monitors 监测",
    "alerts 预警",
)


def _operations() -> list[tuple[str, str]]:
    schema = published_document()
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith(RESOURCES) and set(op.get("tags", ())) & set(TAGS)
    )


OPERATIONS = _operations()
#: the routes on one row (a path parameter names it)
ITEM = [(m, p) for m, p in OPERATIONS if "{" in p]
#: the lists (the stream is a list too, checked on its own below)
LISTS = [p for m, p in OPERATIONS if m == "GET" and "{" not in p and p != "/v1/alerts/stream"]


@dataclass
class World:
    stack: Stack
    evidence_id: str
    #: (role, unit code) -> bearer headers of a token of that role in that unit
    tokens: dict[tuple[str, str], dict[str, str]]

    def owner(self) -> dict[str, str]:
        return self.tokens[("officer", OWNER)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[World]:
    data = tmp_path_factory.mktemp("jurisdiction") / "data"
    with fresh_postgres_database(postgres_url) as url:
        settings = Settings(
            data_dir=data,
            database_url=url,
            seal_interval=0.1,
            capture_allow="127.0.0.1",
            capture_chromium=data.parent / "no-chromium",
        )
        with running_stack(settings) as stack:
            tokens = {}
            with stack.runtime.session() as session:
                units.seed(session, TREE)
                for role in ROLES:
                    for code in REACH:
                        _, plain = create_token(
                            session, role=role, name=f"{role} of {code}", unit=code
                        )
                        tokens[(role, code)] = auth_header(plain)
            # A stream stays open for minutes; here each one ends after half a second.
            stack.client.app.state.alert_streams = StreamGate(lifetime=0.5)  # type: ignore[attr-defined]
            created = submit(stack, {"page.html": b"<p>page</p>"}).json()
            wait_for_bundle(stack.client, created["evidence_id"], stack.auth("officer"))
            yield World(stack, created["evidence_id"], tokens)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


# --- rows of the owner unit, made through the API by its officer -----------------------


def new_entity(world: World) -> dict[str, Any]:
    body = {"platform": "example-mall", "shop_name": f"店铺 {uuid.uuid4().hex[:6]}"}
    return ok(world.stack.client.post("/v1/entities", json=body, headers=world.owner()), 201)


def new_case(world: World) -> dict[str, Any]:
    body = {"number": f"丰市监网案{uuid.uuid4().hex[:10]}", "title": "管辖测试"}
    return ok(world.stack.client.post("/v1/cases", json=body, headers=world.owner()), 201)


def new_order(world: World) -> dict[str, Any]:
    body = {
        "platform": "example-mall",
        "listing_urls": ["https://example-mall.example/item/1"],
        "legal_basis": "《电子商务法》第三十八条",
        "reason": "管辖测试",
        "evidence_ids": [world.evidence_id],
        "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
    }
    return ok(world.stack.client.post("/v1/takedowns", json=body, headers=world.owner()), 201)


def new_monitor(world: World, *, enabled: bool = False) -> dict[str, Any]:
    body = {
        "name": "管辖测试",
        "target": {"kind": "listing", "url": "http://127.0.0.1:9/jurisdiction"},
        "schedule": {"interval_seconds": 3600},
        "enabled": enabled,
    }
    return ok(world.stack.client.post("/v1/monitors", json=body, headers=world.owner()), 201)


def new_alert(world: World) -> str:
    """An open alert of a fresh monitor of the owner unit, opened as runs open them."""
    monitor = new_monitor(world)
    ledger = ledger_of(world.stack.runtime)
    with ledger.transaction() as session:
        seq = session.execute(select(Monitor.seq).where(Monitor.id == monitor["id"])).scalar_one()
        alert = open_alert(
            ledger,
            session,
            AlertDraft(
                rule="price_changed",
                reason="价格变动 管辖测试",
                recipient="token-1",
                monitor_seq=seq,
                monitor_id=monitor["id"],
                evidence_id=world.evidence_id,
            ),
        )
        alert_id = alert.id
    ledger.queued(1)
    return alert_id


def disputed_order(world: World) -> str:
    order = new_order(world)["order_id"]
    ok(
        world.stack.client.post(
            f"/v1/platform/takedowns/{order}/dispute",
            json={"reason": "not ours"},
            headers=world.stack.auth("platform"),
        )
    )
    return str(order)


def item_request(world: World, method: str, path: str) -> tuple[str, dict[str, Any] | None]:
    """A fresh row of the owner unit for the route, and a valid body for it."""
    body: dict[str, Any] | None = None
    if path.startswith("/v1/entities"):
        url = path.format(entity_id=new_entity(world)["id"])
        body = {"risk_class": "食品"} if method == "PATCH" else None
    elif path.startswith("/v1/cases"):
        url = path.format(case_id=new_case(world)["id"])
        body = {
            "/v1/cases/{case_id}": {"title": "改名"} if method == "PATCH" else None,
            "/v1/cases/{case_id}/transition": {"to": "立案"},
            "/v1/cases/{case_id}/evidence": {"evidence_ids": [world.evidence_id]},
        }.get(path)
    elif path.endswith("/ruling"):
        url = path.format(order_id=disputed_order(world))
        body = {"decision": "withdraw", "reason": "管辖测试"}
    elif path.startswith("/v1/takedowns"):
        url = path.format(order_id=new_order(world)["order_id"])
        body = {"unit": OWNER} if method == "PATCH" else None
    elif path.startswith("/v1/monitors"):
        url = path.format(monitor_id=new_monitor(world, enabled=path.endswith("/run"))["id"])
        body = {"name": "改名"} if method == "PATCH" else None
    else:
        url = path.format(alert_id=new_alert(world))
        body = {
            "/v1/alerts/{alert_id}/dismiss": {"reason": "管辖测试"},
            "/v1/alerts/{alert_id}/convert": {"title": "管辖测试"},
        }.get(path)
    return url, body


# --- the matrix --------------------------------------------------------------------------


def test_the_matrix_covers_every_route_of_the_owned_resources() -> None:
    # 2 entity, 5 case, 4 order, 5 monitor and 4 alert routes on one row at least.
    assert len(ITEM) >= 20, ITEM
    assert set(LISTS) >= set(RESOURCES), LISTS
    assert ("POST", "/v1/takedowns/{order_id}/ruling") in ITEM


@pytest.mark.parametrize("unit", list(REACH))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), ITEM, ids=[f"{m} {p}" for m, p in ITEM])
def test_item_routes_answer_inside_and_404_outside(
    world: World, method: str, path: str, role: str, unit: str
) -> None:
    url, body = item_request(world, method, path)
    response = world.stack.client.request(
        method, url, json=body, headers=world.tokens[(role, unit)]
    )
    if REACH[unit]:
        assert response.status_code in (200, 201, 202, 204), (unit, response.text)
    else:
        assert response.status_code == 404, (unit, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        # The same words as for a row that does not exist: nothing is disclosed.
        missing = url.replace(url.split("/")[3], _absent(path), 1)
        twin = world.stack.client.request(
            method, missing, json=body, headers=world.tokens[(role, OWNER)]
        )
        assert twin.status_code == 404, twin.text
        assert response.json()["title"] == twin.json()["title"]


def _absent(path: str) -> str:
    """An id of the path's kind that names no row."""
    if path.startswith(("/v1/entities", "/v1/cases")):
        return str(2**62)
    prefix = {"/v1/takedowns": "td", "/v1/monitors": "mon", "/v1/alerts": "alr"}
    kind = next(v for k, v in prefix.items() if path.startswith(k))
    return f"{kind}-{'0' * 28}"


@pytest.fixture(scope="module")
def owned(world: World) -> dict[str, str]:
    """One row of each kind of the owner unit: list path -> its id (as the list shows it)."""
    return {
        "/v1/entities": str(new_entity(world)["id"]),
        "/v1/cases": str(new_case(world)["id"]),
        "/v1/takedowns": str(new_order(world)["order_id"]),
        "/v1/monitors": str(new_monitor(world)["id"]),
        "/v1/alerts": new_alert(world),
    }


def _ids(items: list[dict[str, Any]]) -> set[str]:
    return {str(i.get("id", i.get("order_id"))) for i in items}


@pytest.mark.parametrize("unit", list(REACH))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", LISTS)
def test_lists_keep_only_rows_in_reach(
    world: World, owned: dict[str, str], path: str, role: str, unit: str
) -> None:
    headers = world.tokens[(role, unit)]
    listed = ok(world.stack.client.get(path, params={"limit": 200}, headers=headers))
    if path not in owned:  # e.g. /v1/stats/...: not a list of rows
        return
    assert (owned[path] in _ids(listed["items"])) is REACH[unit], (unit, path)
    for item in listed["items"]:  # every row shown is in the caller's reach
        code = item.get("unit")
        assert code is not None and code.startswith(unit), (unit, item)
    # Without a unit (the tokens made before units existed): everything.
    everything = ok(
        world.stack.client.get(path, params={"limit": 200}, headers=world.stack.auth(role))
    )
    assert owned[path] in _ids(everything["items"])


@pytest.mark.parametrize("unit", list(REACH))
def test_the_alert_stream_carries_only_alerts_in_reach(world: World, unit: str) -> None:
    alert_id = new_alert(world)
    response = world.stack.client.get(
        "/v1/alerts/stream", params={"after": 0}, headers=world.tokens[("officer", unit)]
    )
    assert response.status_code == 200, response.text
    assert (alert_id in response.text) is REACH[unit], unit


# --- ownership and assignment ----------------------------------------------------------


def test_rows_belong_to_the_creators_unit_and_show_it(world: World) -> None:
    entity = new_entity(world)
    assert (entity["unit"], entity["unit_name"]) == (OWNER, "泉州市丰泽区市场监督管理局")
    order = new_order(world)
    assert order["unit"] == OWNER
    monitor = new_monitor(world)
    assert monitor["unit"] == OWNER
    alert = ok(world.stack.client.get(f"/v1/alerts/{new_alert(world)}", headers=world.owner()))
    assert alert["unit"] == OWNER  # its monitor's
    # A row made without a unit (a unit-less token) belongs to the top: no unit sees it.
    top = ok(
        world.stack.client.post(
            "/v1/cases",
            json={"number": uuid.uuid4().hex, "title": "top"},
            headers=world.stack.auth("officer"),
        ),
        201,
    )
    assert top["unit"] is None
    for unit in REACH:
        got = world.stack.client.get(
            f"/v1/cases/{top['id']}", headers=world.tokens[("officer", unit)]
        )
        assert got.status_code == 404, unit


def test_a_unit_named_at_creation_must_be_in_reach(world: World) -> None:
    client, owner = world.stack.client, world.owner()
    body = {"number": uuid.uuid4().hex, "title": "下派", "unit": "fj.qz.fz.dh"}
    below = ok(client.post("/v1/cases", json=body, headers=owner), 201)
    assert below["unit"] == "fj.qz.fz.dh"
    for code in ("fj.qz.jj", "fj.qz", "no.such.unit"):
        body = {"number": uuid.uuid4().hex, "title": "越权", "unit": code}
        refused = client.post("/v1/cases", json=body, headers=owner)
        assert refused.status_code == 422, (code, refused.text)
        assert refused.json()["detail"] == f"unit: no unit {code!r} in your jurisdiction"


def test_a_superior_unit_assigns_work_down(world: World) -> None:
    client = world.stack.client
    case = new_case(world)
    url = f"/v1/cases/{case['id']}"
    city = world.tokens[("officer", "fj.qz")]
    # 丰泽区 may not hand its case to 晋江市 (outside its reach) ...
    refused = client.patch(url, json={"unit": "fj.qz.jj"}, headers=world.owner())
    assert refused.status_code == 422, refused.text
    # ... 泉州市 may: the case then is 晋江市's, and no longer 丰泽区's.
    moved = ok(client.patch(url, json={"unit": "fj.qz.jj"}, headers=city))
    assert (moved["unit"], moved["unit_name"]) == ("fj.qz.jj", "晋江市市场监督管理局")
    assert client.get(url, headers=world.owner()).status_code == 404
    assert ok(client.get(url, headers=world.tokens[("officer", "fj.qz.jj")]))["id"] == case["id"]
    events = ok(client.get(f"{url}/events", headers=city))["items"]
    assert any("unit=fj.qz.jj" in (e["note"] or "") for e in events)
    # An entity and a monitor move the same way.
    entity = new_entity(world)
    moved = ok(
        client.patch(
            f"/v1/entities/{entity['id']}", json={"unit": "fj.qz.fz.dh"}, headers=world.owner()
        )
    )
    assert moved["unit"] == "fj.qz.fz.dh"
    monitor = new_monitor(world)
    moved = ok(
        client.patch(f"/v1/monitors/{monitor['id']}", json={"unit": "fj.qz.jj"}, headers=city)
    )
    assert moved["unit"] == "fj.qz.jj"
    order = new_order(world)["order_id"]
    refused = client.patch(f"/v1/takedowns/{order}", json={"unit": "fj.qz"}, headers=world.owner())
    assert refused.status_code == 422, refused.text  # not upwards
    moved = ok(client.patch(f"/v1/takedowns/{order}", json={"unit": "fj.qz.jj"}, headers=city))
    assert moved["unit"] == "fj.qz.jj"
    assert client.get(f"/v1/takedowns/{order}", headers=world.owner()).status_code == 404


# --- the units API -------------------------------------------------------------------


def test_units_api_tree_rules_and_moves(world: World) -> None:
    client, admin = world.stack.client, world.stack.auth("admin")
    tag = uuid.uuid4().hex[:6]
    made = ok(
        client.post(
            "/v1/units",
            json={"code": f"t{tag}", "name": "测试省局", "level": "province"},
            headers=admin,
        ),
        201,
    )
    assert made["depth"] == 1 and made["parent"] is None
    city = ok(
        client.post(
            "/v1/units",
            json={"code": f"t{tag}.c", "name": "测试市局", "level": "city", "parent": f"t{tag}"},
            headers=admin,
        ),
        201,
    )
    assert city["path"] == f"{made['path']}{city['path'].split('/')[-2]}/"
    station = ok(
        client.post(
            "/v1/units",
            json={"code": f"t{tag}.s", "name": "测试所", "level": "station", "parent": "fj.qz.jj"},
            headers=admin,
        ),
        201,
    )
    # a city under a county, a station under a city: refused (422); a code in use: 409
    bad = client.post(
        "/v1/units",
        json={"code": f"t{tag}.x", "name": "x", "level": "city", "parent": "fj.qz.fz"},
        headers=admin,
    )
    assert bad.status_code == 422, bad.text
    dup = client.post(
        "/v1/units", json={"code": "fj", "name": "x", "level": "department"}, headers=admin
    )
    assert dup.status_code == 409, dup.text
    # officers read the tree, may not change it
    officer = world.owner()
    listed = ok(client.get("/v1/units", params={"under": "fj.qz"}, headers=officer))
    codes = [u["code"] for u in listed["items"]]
    assert codes[0] == "fj.qz" and {"fj.qz.fz", "fj.qz.jj", "fj.qz.fz.dh"} <= set(codes)
    assert "fj" not in codes
    assert client.patch("/v1/units/fj", json={"name": "x"}, headers=officer).status_code == 403
    # a move into its own subtree is a cycle: 422; a move elsewhere rewrites the subtree
    cycle = client.patch("/v1/units/fj.qz", json={"parent": "fj.qz.fz"}, headers=admin)
    assert cycle.status_code == 422, cycle.text
    moved = ok(client.patch(f"/v1/units/t{tag}.s", json={"parent": "fj.qz.fz"}, headers=admin))
    assert moved["path"].startswith(ok(client.get("/v1/units/fj.qz.fz", headers=admin))["path"])
    assert moved["path"] != station["path"]


# --- the console -------------------------------------------------------------------------


def test_console_lists_and_pages_keep_to_the_viewers_unit(world: World) -> None:
    """An officer of 丰泽区 does not see 晋江市's case on the board and gets 404 on its page."""
    jj = Person(world.stack, "officer", "晋江警官", unit="fj.qz.jj")
    fz = Person(world.stack, "officer", "丰泽警官", unit="fj.qz.fz")
    number = f"晋市监网案{uuid.uuid4().hex[:8]}"
    made = jj.post("/console/cases/new", {"number": number, "title": "晋江案件"})
    assert made.status_code == 303, made.text[:500]
    case_url = made.headers["location"].split("?")[0]
    page = jj.get(case_url)
    assert page.status_code == 200 and number in page.text
    assert '<dd data-testid="unit">晋江市市场监督管理局</dd>' in page.text
    assert number in jj.get("/console/cases").text
    board = fz.get("/console/cases")
    assert board.status_code == 200
    assert number not in board.text
    assert fz.get(case_url).status_code == 404
    # 泉州市 above both sees it, with its unit shown
    city = Person(world.stack, "officer", "泉州警官", unit="fj.qz")
    board = city.get("/console/cases").text
    assert number in board and "晋江市市场监督管理局" in board


def test_alerts_carry_their_unit_in_the_list_its_filter_and_the_stream(world: World) -> None:
    """``?unit=`` narrows ``GET /v1/alerts`` and the console's alert list to a unit's
    subtree; the console shows each alert's 所属单位, and the stream's payload names the
    unit, so that a row the page's script inserts shows it too."""
    alert_id = new_alert(world)
    name = "泉州市丰泽区市场监督管理局"
    client, city = world.stack.client, world.tokens[("officer", "fj.qz")]

    def listed(unit: str) -> bool:
        params: dict[str, str | int] = {"limit": 200, "unit": unit}
        return alert_id in _ids(ok(client.get("/v1/alerts", params=params, headers=city))["items"])

    assert listed(OWNER) and listed("fj.qz")
    assert not listed("fj.qz.jj") and not listed("fj.qz.fz.dh") and not listed("no.such.unit")
    assert client.get("/v1/alerts", params={"unit": "FJ"}, headers=city).status_code == 422
    streamed = client.get("/v1/alerts/stream", params={"after": 0}, headers=city)
    event = next(line for line in streamed.text.splitlines() if alert_id in line)
    assert f'"unit":"{OWNER}","unit_name":"{name}"' in event

    officer = Person(world.stack, "officer", "泉州预警", unit="fj.qz")
    page = officer.get("/console/alerts")
    assert page.status_code == 200 and 'data-live="1"' in page.text
    row = page.text.split(f'data-alert-id="{alert_id}"')[1].split("</tr>")[0]
    assert f'<td data-testid="unit">{name}</td>' in row
    assert '<option value="fj.qz.jj">' in page.text  # the filter lists the units in reach
    assert '<option value="fj">' not in page.text  # and not the one above
    assert 'data-unit-top="（全局）"' in page.text
    mine = officer.get(f"/console/alerts?unit={OWNER}")
    assert alert_id in mine.text and 'data-live="1"' not in mine.text
    assert alert_id not in officer.get("/console/alerts?unit=fj.qz.jj").text
    bad = officer.get("/console/alerts?unit=FJ!")
    assert bad.status_code == 422 and "is not a unit code" in bad.text


def test_console_create_forms_pick_a_unit_in_reach(world: World) -> None:
    """The new entity, case and monitor forms offer the units in the viewer's reach (所属单位,
    blank: the creator's own); the one chosen owns the row; one outside is refused beside
    the field, nothing made."""
    city = Person(world.stack, "officer", "泉州建档", unit="fj.qz")
    jj = "晋江市市场监督管理局"
    shop = f"店铺 {uuid.uuid4().hex[:6]}"
    monitor = {
        "name": f"监测 {uuid.uuid4().hex[:6]}",
        "kind": "listing",
        "url": "http://127.0.0.1:9/unit-picker",
        "schedule_mode": "interval",
        "interval_value": "2",
        "interval_unit": "hours",
        "archive": "on_alert",
    }
    forms = {
        "/console/entities/new": {"platform": "example-mall", "shop_name": shop},
        "/console/cases/new": {"number": f"泉市监网案{uuid.uuid4().hex[:8]}", "title": "下派"},
        "/console/monitors/new": monitor,
    }
    for url, form in forms.items():
        page = city.get(url)
        assert page.status_code == 200, url
        assert '<option value="">（默认：本人所属单位）</option>' in page.text
        assert '<option value="fj.qz.jj">' in page.text and '<option value="fj">' not in page.text
        refused = city.post(url, {**form, "unit": "fj"})
        assert refused.status_code == 422, (url, refused.text[:300])
        assert field_error(refused.text, "unit") == "unit: no unit 'fj' in your jurisdiction"
        assert '<option value="fj.qz.jj">' in refused.text  # the form again, with its choices
        made = city.post(url, {**form, "unit": "fj.qz.jj"})
        assert made.status_code == 303, (url, made.text[:300])
        shown = city.get(made.headers["location"]).text
        assert jj in shown, url
    # blank: the creator's own unit, as through the API
    blank = city.post("/console/cases/new", {"number": uuid.uuid4().hex[:12], "title": "本级"})
    assert blank.status_code == 303
    assert "泉州市市场监督管理局" in city.get(blank.headers["location"]).text
    listed = ok(
        world.stack.client.get(
            "/v1/entities", params={"q": shop}, headers=world.tokens[("officer", "fj.qz.jj")]
        )
    )
    assert [e["unit"] for e in listed["items"]] == ["fj.qz.jj"]


def test_console_admin_units_page_shows_the_tree_and_adds_a_unit(world: World) -> None:
    admin = Person(world.stack, "admin", "管理员")
    page = admin.get("/console/admin/units")
    assert page.status_code == 200
    assert "泉州市丰泽区市场监督管理局" in page.text and 'data-code="fj.qz.fz.dh"' in page.text
    code = f"fj.qz.fz.t{uuid.uuid4().hex[:6]}"
    form = {"code": code, "name": "丰泽区测试所", "level": "station", "parent": "fj.qz.fz"}
    added = admin.post("/console/admin/units", form)
    assert added.status_code == 303, added.text[:500]
    assert code in admin.get(added.headers["location"]).text
    assert ok(world.stack.client.get(f"/v1/units/{code}", headers=world.owner()))["parent"] == (
        "fj.qz.fz"
    )
    # a station under a city is refused beside the form, nothing added
    bad = admin.post("/console/admin/units", {**form, "code": f"{code}x", "parent": "fj.qz"})
    assert bad.status_code == 422
    assert "a station may not sit under a city" in bad.text
    officer = Person(world.stack, "officer", "丰泽警官", unit=OWNER)
    assert officer.get("/console/admin/units").status_code in (403, 404)


# --- the CLI ------------------------------------------------------------------------------


def _units_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EVIDENCE_CLI), "units", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_units_cli_seeds_lists_and_assigns(tmp_path: Path, postgres_url: str) -> None:
    with fresh_postgres_database(postgres_url) as url:
        env = {"EVIDENCE_DATA_DIR": str(tmp_path / "data"), "EVIDENCE_DATABASE_URL": url}
        refused = _units_cli(env, "list")
        assert refused.returncode == 2 and "no deployment" in refused.stderr
        made = create_token_cli(env, "officer", "张三", None, "--init")
        assert made.returncode == 0, made.stderr
        seeded = _units_cli(env, "seed-quanzhou")
        assert seeded.returncode == 0, seeded.stderr
        assert "fj.qz.fz" in seeded.stdout.split() and "22 units added" in seeded.stderr
        again = _units_cli(env, "seed-quanzhou")
        assert again.returncode == 0 and again.stdout == "", again.stderr
        tree = _units_cli(env, "tree", "--under", "fj.qz.fz").stdout.splitlines()
        assert tree[0] == "泉州市丰泽区市场监督管理局 (fj.qz.fz, 县级（市、区）)"
        assert all(line.startswith("  ") for line in tree[1:]) and len(tree) == 3
        listed = [line.split("\t") for line in _units_cli(env, "list").stdout.splitlines()]
        assert listed[0][:3] == ["fj", "province", "-"]
        bad = _units_cli(env, "add", "fj.qz.x", "某市", "--level", "city", "--parent", "fj.qz")
        assert bad.returncode == 2
        assert bad.stderr.strip() == "error: parent: a city may not sit under a city (fj.qz)"
        added = _units_cli(
            env, "add", "fj.qz.fz.x", "某所", "--level", "station", "--parent", "fj.qz.fz"
        )
        assert added.returncode == 0 and added.stdout.startswith("fj.qz.fz.x\tstation\tfj.qz.fz\t")
        # a token made with a unit code acts in that unit; assign moves it
        officer = create_token_cli(env, "officer", "李四", None, "--unit", "fj.qz.fz")
        assert officer.returncode == 0, officer.stderr
        moved = _units_cli(env, "assign", "fj.qz.jj", "--token", "2")
        assert moved.returncode == 0, moved.stderr
        both = _units_cli(env, "assign", "fj.qz.jj")
        assert both.returncode == 2 and "--token ID and --user NAME" in both.stderr
        huge = _units_cli(env, "assign", "fj.qz.jj", "--token", "99999999999")
        assert huge.returncode == 2 and "Traceback" not in huge.stderr
        assert huge.stderr == "error: --token: 99999999999 is not a token id (1..2147483647)\n"
        engine = create_engine(url)
        try:
            with Session(engine) as session:
                row = session.get_one(ApiToken, 2)
                assert row.unit == "晋江市市场监督管理局"
                assert row.unit_id == units.unit_by_code(session, "fj.qz.jj").id
        finally:
            engine.dispose()


def test_monitoring_statistics_count_only_what_is_in_reach(world: World) -> None:
    new_alert(world)

    def alerts(headers: dict[str, str]) -> int:
        found = ok(world.stack.client.get("/v1/stats/monitoring", headers=headers))
        return sum(r["count"] for r in found["alerts"]["by_rule"])

    mine = alerts(world.owner())
    assert mine >= 1
    assert alerts(world.tokens[("officer", "fj.qz")]) >= mine
    assert alerts(world.tokens[("officer", "fj.qz.fz.dh")]) == 0
    assert alerts(world.stack.auth("officer")) >= mine
