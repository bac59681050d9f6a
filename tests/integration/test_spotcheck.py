"""双随机、一公开 through the real API on PostgreSQL with a real anvil: the acceptance
draw of 50 entities from 10,000 and 10 officers from 200, with credit-grade weights
and recusals (own unit's recent cases, declared conflicts); the seed block refused
before it is mined; the stored draw reproduced by ``evidence-verify spot-check`` from
public data only (the plan bytes the API serves, the block hash read from anvil
itself, the digest the log entry commits); a tampered plan refused; results and
publication as log entries; a committed plan never changes; officers named in the plan,
the draw, the log and the public view only by per-plan refs off-<n> (never their token
pseudonym), mapped back to tokens only for officers.

One stack (PostgreSQL, managed anvil, anchoring off so only the test mines blocks)
serves the module; the register is bulk-inserted once."""

from __future__ import annotations

import hashlib
import html
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from anchoring.schema import log_entry
from evidence_api.core.config import Settings
from evidence_api.registry.models import TradingEntity
from evidence_api.spotcheck import public
from evidence_api.spotcheck.models import SpotCheckPlan
from tests.support.anvil import rpc
from tests.support.api import VERIFY_CLI, Stack, auth_header, fresh_postgres_database, running_stack
from tests.support.console import Person
from tests.support.spotchecks import World, block_hash, mine_to, seed_world

pytestmark = pytest.mark.postgres

DELAY = 20
WEIGHTS = {"A": 1, "B": 2, "C": 4, "D": 8, "none": 2}


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("spotcheck") / "data"
    with fresh_postgres_database(postgres_url) as url:
        settings = Settings(
            data_dir=data,
            database_url=url,
            chain="anvil",
            seal_interval=0.1,
            run_anchorer=False,
            spotcheck_seed_delay=DELAY,
        )
        with running_stack(settings) as running:
            yield running


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    return seed_world(
        stack.runtime,
        stations=4,
        officers_per_station=50,
        entities=10_000,
        recent_cases=40,
        old_cases=20,
    )


@pytest.fixture(scope="module")
def chain_url(stack: Stack) -> str:
    assert stack.runtime.chain is not None and stack.runtime.chain.rpc_url is not None
    return stack.runtime.chain.rpc_url


def head(url: str) -> int:
    return int(str(rpc(url, "eth_blockNumber")), 16)


def entry_body(stack: Stack, entry_id: str) -> dict[str, Any]:
    with stack.runtime.session() as session:
        text = session.execute(
            select(log_entry.c.entry).where(log_entry.c.entry_id == entry_id)
        ).scalar_one()
    entry = json.loads(text)
    assert entry["kind"] == "spotcheck" and entry["id"] == entry_id
    body: dict[str, Any] = entry["body"]
    return body


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["detail"])


def token_refs(detail: dict[str, Any]) -> dict[str, str]:
    """token-<id> -> off-<n>, from the officers' view of a plan."""
    return {o["pseudonym"]: o["ref"] for o in detail["officers"]}


def plan_body(world: World, **more: Any) -> dict[str, Any]:
    return {
        "title": "2026年第四季度网络交易经营者亮照亮证“双随机”抽查",
        "items": ["wj-01-license", "wj-03-information"],
        "region": world.root,
        "officer_units": [world.root],
        "entity_count": 50,
        "officer_count": 10,
        "inspectors_per_entity": 2,
        "weights": WEIGHTS,
        "recusal_days": 365,
        **more,
    }


@pytest.fixture(scope="module")
def committed(stack: Stack, world: World, chain_url: str) -> dict[str, Any]:
    station = world.stations[0]
    conflicts = [
        {"officer": f"token-{world.officers[station][0]}", "entity": f"ent-{e}"}
        for e in world.entities[world.stations[1]][:2]
    ]
    before = head(chain_url)
    response = stack.client.post(
        "/v1/spot-checks",
        json=plan_body(world, conflicts=conflicts),
        headers=stack.auth("officer"),
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    answer["_head_before"] = before
    answer["_conflicts"] = conflicts
    return answer


def test_commitment_resolves_the_pools_and_fixes_a_future_seed_block(
    stack: Stack, world: World, committed: dict[str, Any], chain_url: str
) -> None:
    assert committed["status"] == "committed"
    assert committed["entity_pool"] == 10_000
    assert committed["officer_pool"] == 200
    assert committed["draw"] is None and committed["drawn"] == []
    assert committed["_head_before"] + DELAY <= committed["seed_height"]
    assert committed["seed_height"] <= head(chain_url) + DELAY
    assert head(chain_url) < committed["seed_height"]  # not mined at commitment

    raw = stack.client.get(committed["plan_url"], headers=stack.auth("officer"))
    assert raw.status_code == 200
    plan = json.loads(raw.content)
    assert hashlib.sha256(raw.content).hexdigest() == committed["plan_sha256"]
    assert raw.headers["X-Content-SHA256"] == committed["plan_sha256"]

    # every entity weighted by its credit grade
    weights = {p["ref"]: p["weight"] for p in plan["entities"]}
    assert len(weights) == 10_000 and set(weights.values()) == set(WEIGHTS.values())
    # officers: per-plan refs off-1..off-200 with their unit code, never a name or token
    units = {o["unit"] for o in plan["officers"]}
    assert units == set(world.stations)
    assert [o["ref"] for o in plan["officers"]] == [f"off-{n}" for n in range(1, 201)]
    assert all(set(o) == {"ref", "unit"} for o in plan["officers"])
    assert "token-" not in raw.text
    # officers see whom each ref stands for; the plan row keeps it (in ref order)
    refs = token_refs(committed)
    unit_of = {f"token-{t}": code for code, ids in world.officers.items() for t in ids}
    assert set(refs) == set(unit_of) and len(set(refs.values())) == 200
    assert [o["ref"] for o in committed["officers"]] == [o["ref"] for o in plan["officers"]]
    assert all(unit_of[o["pseudonym"]] == o["unit"] for o in committed["officers"])
    assert all(o["holder"].startswith("sc " + o["unit"]) for o in committed["officers"])
    with stack.runtime.session() as session:
        private = session.execute(
            select(SpotCheckPlan.officer_tokens).where(SpotCheckPlan.id == committed["plan_id"])
        ).scalar_one()
    order = [f"token-{t}" for t in json.loads(private)]
    assert [refs[t] for t in order] == [f"off-{n}" for n in range(1, 201)]
    assert order != sorted(order, key=lambda t: int(t[6:]))  # a random order, not by id

    # recusals, computed here from the seeded cases and conflicts
    expected = {
        (refs[f"token-{t}"], f"ent-{e}", "unit_case")
        for e, code in world.recent_cases
        for t in world.officers[code]
    }
    expected |= {(refs[c["officer"]], c["entity"], "declared") for c in committed["_conflicts"]}
    got = {(r["officer"], r["entity"], r["reason"]) for r in plan["recusals"]}
    assert got == expected
    assert committed["recusals"] == len(expected) == 40 * 50 + 2
    old = {f"ent-{e}" for e, _ in world.old_cases}
    assert not old & {r["entity"] for r in plan["recusals"]}

    body = entry_body(stack, committed["entries"]["committed"])
    assert "token-" not in json.dumps(body)
    assert body == {
        "plan_id": committed["plan_id"],
        "step": "committed",
        "plan_sha256": committed["plan_sha256"],
        "chain_id": plan["chain_id"],
        "seed_height": committed["seed_height"],
        "algorithm": "evidence-draw/v1",
        "entity_pool": 10_000,
        "officer_pool": 200,
        "recusals": len(expected),
    }


def test_a_committed_plan_never_changes(stack: Stack, committed: dict[str, Any]) -> None:
    url = f"/v1/spot-checks/{committed['plan_id']}"
    for method in ("PATCH", "PUT"):
        response = stack.client.request(
            method, url, json={"entity_count": 49}, headers=stack.auth("officer")
        )
        detail = problem(response, 409)
        assert detail == (
            f"the plan was committed at entry {committed['entries']['committed']} "
            f"(plan_sha256 {committed['plan_sha256']}) and cannot change"
        )
    response = stack.client.patch(url, json={}, headers={})
    assert response.status_code == 401  # authenticated before anything else
    again = stack.client.get(url, headers=stack.auth("officer")).json()
    assert again["plan_sha256"] == committed["plan_sha256"]


def test_the_draw_is_refused_before_the_seed_block_then_reproduced_from_public_data(
    stack: Stack, world: World, committed: dict[str, Any], chain_url: str, tmp_path: Path
) -> None:
    url = f"/v1/spot-checks/{committed['plan_id']}/draw"
    height = committed["seed_height"]
    now = head(chain_url)
    response = stack.client.post(url, headers=stack.auth("officer"))
    assert problem(response, 409) == (
        f"seed block {height} not yet mined (chain head is {now}); the draw can be made after it"
    )
    assert int(response.headers["Retry-After"]) >= 1

    mine_to(chain_url, height)
    drawn = stack.client.post(url, headers=stack.auth("officer"))
    assert drawn.status_code == 200, drawn.text
    result = drawn.json()
    draw = result["draw"]
    assert result["status"] == "drawn"
    assert len(draw["entities"]) == 50 == len(set(draw["entities"]))
    assert len(draw["officers"]) == 10 == len(set(draw["officers"]))
    assert all(o.startswith("off-") for o in draw["officers"])
    assert "token-" not in json.dumps(draw) + json.dumps(result["drawn"])
    seed = block_hash(chain_url, height)
    assert draw["seed"] == result["seed_block_hash"] == seed
    assert draw["plan_sha256"] == committed["plan_sha256"]

    plan = stack.client.get(committed["plan_url"], headers=stack.auth("officer")).json()
    recused = {(r["officer"], r["entity"]) for r in plan["recusals"]}
    for a in draw["assignments"]:
        assert len(a["officers"]) == 2 and set(a["officers"]) <= set(draw["officers"])
        assert not {(o, a["entity"]) for o in a["officers"]} & recused
    # weights tell: grade D (8) is drawn far more often than grade A (1)
    weight = {p["ref"]: p["weight"] for p in plan["entities"]}
    heavy = sum(1 for e in draw["entities"] if weight[e] == 8)
    light = sum(1 for e in draw["entities"] if weight[e] == 1)
    assert heavy > light

    # the same answer again, and the log entry
    again = stack.client.post(url, headers=stack.auth("admin")).json()
    assert again["draw"] == draw and again["entries"] == result["entries"]
    stored = json.dumps(draw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    body = entry_body(stack, result["entries"]["drawn"])
    assert body == {
        "plan_id": committed["plan_id"],
        "step": "drawn",
        "plan_sha256": committed["plan_sha256"],
        "seed_height": height,
        "seed_block_hash": seed,
        "result_sha256": hashlib.sha256(stored.encode()).hexdigest(),
    }

    # public data only: the plan bytes, the block hash from the node, the committed digest
    plan_file = tmp_path / "plan.json"
    plan_file.write_bytes(
        stack.client.get(committed["plan_url"], headers=stack.auth("officer")).content
    )
    committed_digest = entry_body(stack, committed["entries"]["committed"])["plan_sha256"]
    draw_file = tmp_path / "draw.json"
    draw_file.write_text(json.dumps(draw))
    run = subprocess.run(
        [
            str(VERIFY_CLI), "spot-check", str(plan_file), "--draw", str(draw_file),
            "--block-hash", seed, "--plan-sha256", committed_digest, "--json",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["outcome"] == "verified"
    assert report["checks"]["plan"]["status"] == "verified"
    assert report["checks"]["draw"]["status"] == "verified"
    assert report["draw"] == draw

    # a tampered plan (one entity's weight raised) is refused with its reason
    tampered = json.loads(plan_file.read_bytes())
    tampered["entities"][0]["weight"] += 1
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    run = subprocess.run(
        [
            str(VERIFY_CLI), "spot-check", str(bad),
            "--block-hash", seed, "--plan-sha256", committed_digest, "--json",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["checks"]["plan"]["status"] == "failed"
    assert "the plan differs from the one committed" in report["checks"]["plan"]["detail"]
    assert committed_digest in report["checks"]["plan"]["detail"]


def test_results_are_entries_by_assigned_officers_then_published(
    stack: Stack, world: World, committed: dict[str, Any], chain_url: str
) -> None:
    plan_id = committed["plan_id"]
    mine_to(chain_url, committed["seed_height"])
    drawn = stack.client.post(f"/v1/spot-checks/{plan_id}/draw", headers=stack.auth("officer"))
    detail = drawn.json()
    first, second = detail["drawn"][0], detail["drawn"][1]
    url = f"/v1/spot-checks/{plan_id}/results"
    officer = stack.auth("officer")
    outsider = next(o for o in detail["draw"]["officers"] if o not in first["officers"])
    pseudonym = {o["ref"]: o["pseudonym"] for o in detail["officers"]}
    for someone in (outsider, pseudonym[outsider], "token-999999", "off-201"):
        wrong = {"entity": first["entity"], "outcome": "qualified", "officer": someone}
        assert problem(stack.client.post(url, json=wrong, headers=officer), 422) == (
            f"{someone} is not assigned to {first['entity']}"
        )
    undrawn = next(
        f"ent-{e}"
        for e in world.entities[world.stations[0]]
        if f"ent-{e}" not in detail["draw"]["entities"]
    )
    body = {"entity": undrawn, "outcome": "qualified", "officer": first["officers"][0]}
    assert problem(stack.client.post(url, json=body, headers=officer), 422) == (
        f"{undrawn} was not drawn in this plan"
    )
    body = {"entity": first["entity"], "outcome": "bogus", "officer": first["officers"][0]}
    problem(stack.client.post(url, json=body, headers=officer), 422)

    note = "未在首页显著位置公示营业执照信息，已责令限期整改"
    good = {  # named by the officer's own token: recorded as the plan's ref
        "entity": first["entity"],
        "outcome": "rectify",
        "note": note,
        "officer": pseudonym[first["officers"][1]],
    }
    made = stack.client.post(url, json=good, headers=officer)
    assert made.status_code == 201, made.text
    (result,) = made.json()["results"]
    assert result["outcome"] == "rectify" and result["outcome_label"].startswith("责令整改")
    assert result["unit_name"] is not None
    assert entry_body(stack, result["entry_id"]) == {
        "plan_id": plan_id,
        "step": "result",
        "entity": first["entity"],
        "outcome": "rectify",
        "officer": first["officers"][1],
        "note_sha256": hashlib.sha256(note.encode()).hexdigest(),
    }
    assert problem(stack.client.post(url, json=good, headers=officer), 409) == (
        f"the result for {first['entity']} was recorded at entry {result['entry_id']}"
    )
    ok = {"entity": second["entity"], "outcome": "qualified", "officer": second["officers"][0]}
    assert stack.client.post(url, json=ok, headers=officer).status_code == 201

    # not yet public: the disclosure helper does not see it
    with stack.runtime.session() as session:
        assert public.published_plan(session, plan_id) is None
    published = stack.client.post(f"/v1/spot-checks/{plan_id}/publish", headers=officer)
    assert published.status_code == 200 and published.json()["public"] is True
    publish_entry = published.json()["entries"]["published"]
    assert entry_body(stack, publish_entry)["step"] == "published"
    with stack.runtime.session() as session:
        view = public.published_plan(session, plan_id)
        name = view["drawn"][0]["name"] if view else None
        found, total = public.published_plans(session, query=name, offset=0, limit=10)
        missing, none = public.published_plans(session, query="没有这家店", offset=0, limit=10)
    assert view is not None and name is not None
    assert [p["plan_id"] for p in found] == [plan_id] and total == 1
    assert missing == [] and none == 0
    assert {r["entity"] for r in view["results"]} == {first["entity"], second["entity"]}
    text = json.dumps(view, ensure_ascii=False)
    assert note not in text  # the note's text is never public
    assert "sc " not in text  # nor an officer token's name
    assert "token-" not in text  # nor a token pseudonym: only off-<n>
    assert {r["unit"] for r in view["results"]} <= set(world.stations)
    assert view["entries"]["committed"] == committed["entries"]["committed"]


def test_the_same_officers_get_other_refs_in_another_plan(stack: Stack, world: World) -> None:
    station = world.stations[1]
    body = plan_body(world, region=station, officer_units=[station], entity_count=2)
    made = [
        stack.client.post("/v1/spot-checks", json=body, headers=stack.auth("admin"))
        for _ in range(2)
    ]
    assert [m.status_code for m in made] == [201, 201], made[0].text
    first, second = (token_refs(m.json()) for m in made)
    assert set(first) == set(second) == {f"token-{t}" for t in world.officers[station]}
    assert sorted(first.values()) == sorted(second.values())
    assert first != second  # 50 officers: the same order twice has odds 1 in 50!


def test_refusals_name_what_is_wrong(stack: Stack, world: World) -> None:
    officer = stack.auth("officer")
    # grade A now: the seeded As, and any entity a result here gave a credit record
    # (grades are computed: a spotcheck_compliant record makes an entity A)
    ids = [e for entities in world.entities.values() for e in entities]
    with stack.runtime.session() as session:
        graded_a = session.execute(
            select(func.count())
            .select_from(TradingEntity)
            .where(TradingEntity.id.in_(ids), TradingEntity.risk_grade == "A")
        ).scalar_one()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"items": ["no-such-item"]}, "no inspection item 'no-such-item'"),
        ({"officer_units": ["no.such.unit"]}, "no unit 'no.such.unit'"),
        ({"region": "no.such.unit"}, "no unit 'no.such.unit'"),
        (
            {"entity_count": 10_000, "risk_grades": ["A"]},
            f"the plan cannot be drawn: entity_count 10000 exceeds the pool of {graded_a} entities",
        ),
        (
            {"conflicts": [{"officer": "token-999999", "entity": "ent-1"}]},
            "conflict names officer token-999999, not in the officer pool",
        ),
    ]
    for change, detail in cases:
        response = stack.client.post(
            "/v1/spot-checks", json=plan_body(world, **change), headers=officer
        )
        assert problem(response, 422) == detail
    for bad in ({"entity_count": 0}, {"weights": {"E": 1}}, {"title": "x" * 300}, {"x": 1}):
        response = stack.client.post(
            "/v1/spot-checks", json=plan_body(world, **bad), headers=officer
        )
        problem(response, 422)
    assert stack.client.post("/v1/spot-checks", content=b"{", headers=officer).status_code in (
        400,
        422,
    )
    assert stack.client.get("/v1/spot-checks/sc-nope", headers=officer).status_code == 422
    missing = "/v1/spot-checks/sc-" + "0" * 28
    assert problem(stack.client.get(missing, headers=officer), 404) == (
        "no spot-check plan sc-" + "0" * 28
    )
    assert stack.client.post("/v1/spot-checks", json=plan_body(world)).status_code == 401


def test_plans_are_seen_within_jurisdiction_only(
    stack: Stack, world: World, committed: dict[str, Any], chain_url: str
) -> None:
    station = world.stations[2]
    token = world.officer_tokens[world.officers[station][0]]
    mine = stack.client.get("/v1/spot-checks", headers=auth_header(token))
    assert mine.status_code == 200
    assert committed["plan_id"] not in {p["plan_id"] for p in mine.json()["plans"]}
    other = stack.client.get(f"/v1/spot-checks/{committed['plan_id']}", headers=auth_header(token))
    assert other.status_code == 404
    # the station's own plan: entities of its own unit only
    body = plan_body(world, region=None, officer_units=[station], entity_count=5, officer_count=4)
    made = stack.client.post("/v1/spot-checks", json=body, headers=auth_header(token))
    assert made.status_code == 201, made.text
    assert made.json()["entity_pool"] == len(world.entities[station])
    listed = stack.client.get("/v1/spot-checks", headers=auth_header(token)).json()
    assert made.json()["plan_id"] in {p["plan_id"] for p in listed["plans"]}
    # drawn by the station's own officer (the plan row locked within its jurisdiction)
    mine_to(chain_url, made.json()["seed_height"])
    drawn = stack.client.post(
        f"/v1/spot-checks/{made.json()['plan_id']}/draw", headers=auth_header(token)
    )
    assert drawn.status_code == 200, drawn.text
    own = set(world.entities[station])
    assert {int(e.removeprefix("ent-")) for e in drawn.json()["draw"]["entities"]} <= own


def test_inspection_items_read_by_officers_written_by_admins(stack: Stack) -> None:
    listed = stack.client.get("/v1/inspection-items", headers=stack.auth("officer"))
    assert listed.status_code == 200
    items = {i["code"]: i for i in listed.json()["items"]}
    assert len(items) >= 12
    assert "《中华人民共和国电子商务法》第十五条" in items["wj-01-license"]["legal_basis"]
    assert items["wj-08-online-food"]["entity_classes"] == ["食品", "保健食品"]
    body = {
        "code": "wj-99-test",
        "name": "测试事项",
        "legal_basis": "《网络交易监督管理办法》",
        "department": "市场监督管理部门",
        "entity_classes": ["服装"],
    }
    officer = stack.client.post("/v1/inspection-items", json=body, headers=stack.auth("officer"))
    assert officer.status_code == 403
    made = stack.client.post("/v1/inspection-items", json=body, headers=stack.auth("admin"))
    assert made.status_code == 201 and made.json() == body
    again = stack.client.post("/v1/inspection-items", json=body, headers=stack.auth("admin"))
    assert problem(again, 409) == "inspection item 'wj-99-test' exists"
    bad = stack.client.post(
        "/v1/inspection-items", json={**body, "code": "Bad Code"}, headers=stack.auth("admin")
    )
    problem(bad, 422)


def test_console_lists_creates_draws_and_records(
    stack: Stack, world: World, committed: dict[str, Any], chain_url: str
) -> None:
    officer = Person(stack, "officer", "抽查测试员")
    listed = officer.get("/console/spot-checks")
    assert listed.status_code == 200
    assert committed["plan_id"] in listed.text and "双随机抽查" in listed.text

    form = officer.get("/console/spot-checks/new")
    assert form.status_code == 200
    assert 'value="wj-01-license"' in form.text and "亮照亮证" in form.text
    station = world.stations[3]
    data = {
        "title": "控制台抽查计划",
        "items": ["wj-01-license", "wj-07-returns"],
        "region": station,
        "risk_grades": ["A", "B", "C", "D", "none"],
        "weight_A": "1",
        "weight_B": "2",
        "weight_C": "4",
        "weight_D": "8",
        "weight_none": "2",
        "officer_units": station,
        "entity_count": "0",
        "officer_count": "2",
        "inspectors_per_entity": "2",
        "recusal_days": "365",
        "conflicts": "",
    }
    refused = officer.post("/console/spot-checks/new", data)
    assert refused.status_code == 422
    assert "entity_count" in refused.text and "控制台抽查计划" in refused.text

    made = officer.post("/console/spot-checks/new", {**data, "entity_count": "3"})
    assert made.status_code == 303, made.text[:500]
    url = made.headers["location"].split("?")[0]
    plan_id = url.rsplit("/", 1)[1]
    page = officer.get(url)
    assert page.status_code == 200
    assert "计划已写入日志" in officer.get(made.headers["location"]).text
    assert plan_id in page.text and 'id="draw-form"' in page.text
    assert str(len(world.entities[station])) in page.text

    early = officer.post(f"{url}/draw", {})
    assert early.status_code == 409
    assert "not yet mined" in early.text

    with stack.runtime.session() as session:
        seed_height = session.execute(
            select(SpotCheckPlan.seed_height).where(SpotCheckPlan.id == plan_id)
        ).scalar_one()
    mine_to(chain_url, seed_height)
    drawn = officer.post(f"{url}/draw", {})
    assert drawn.status_code == 303
    page = officer.get(url)
    rows = page.text.count('data-testid="drawn-row"')
    assert rows == 3
    detail = stack.client.get(f"/v1/spot-checks/{plan_id}", headers=stack.auth("admin")).json()
    # officers see who each drawn ref stands for (the public page shows the ref alone)
    holders = {o["ref"]: o["holder"] or o["pseudonym"] for o in detail["officers"]}
    for ref in detail["drawn"][0]["officers"]:
        assert f"{html.escape(holders[ref])}（{ref}）" in page.text
    first = detail["drawn"][0]
    recorded = officer.post(
        f"{url}/results",
        {"entity": first["entity"], "outcome": "unqualified", "officer": first["officers"][0]},
    )
    assert recorded.status_code == 303, recorded.text[:500]
    page = officer.get(url)
    assert "不合格" in page.text
    published = officer.post(f"{url}/publish", {})
    assert published.status_code == 303
    with stack.runtime.session() as session:
        assert public.published_plan(session, plan_id) is not None
