"""Credit grading through the real service (docs/credit.md §6), on SQLite and PostgreSQL:
records → grade → change rows and ``credit_grade`` log entries; a fact recorded twice is
one record; the takedown and spot-check APIs write their records; a grade typed by hand
is refused; a policy upload is checked (422) and regrades; the regrade job after time
passes (explicit times, no sleeping) and run twice at once; jurisdiction."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from anchoring.schema import log_entry
from evidence_api.core.config import Settings
from evidence_api.credit import grading
from evidence_api.credit.models import CreditGrade, CreditGradeChange, CreditRecord
from evidence_api.credit.records import add_record
from evidence_api.registry.models import TradingEntity
from evidence_api.takedowns import service as takedowns
from evidence_api.takedowns.models import TakedownOrder
from tests.support.api import Stack, auth_header, fresh_postgres_database, running_stack, submit
from tests.support.console import Person, field_error, tag
from tests.support.spotchecks import TesterBlocks, seed_world, seeded_by
from verifier.canonical import canonical_json

POLICY_V1 = Path(__file__).resolve().parents[2] / "evidence_api/credit/data/policy-v1.json"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    data = tmp_path / "data"
    if request.param == "sqlite":
        with running_stack(Settings(data_dir=data, seal_interval=0.1)) as running:
            yield running
        return
    postgres_url = request.getfixturevalue("postgres_url")
    with (
        fresh_postgres_database(postgres_url) as url,
        running_stack(Settings(data_dir=data, database_url=url, seal_interval=0.1)) as running,
    ):
        yield running


def new_entity(stack: Stack, **extra: Any) -> int:
    body = {"platform": "example-mall", "shop_name": f"信用测试店{uuid.uuid4().hex[:6]}", **extra}
    made = stack.client.post("/v1/entities", json=body, headers=stack.auth("admin"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def record(stack: Stack, entity_id: int, kind: str, *, at: datetime, source: str = "") -> Any:
    with stack.runtime.session() as session:
        row = add_record(
            session,
            stack.runtime.sign_receipt,
            entity_id=entity_id,
            kind=kind,
            source=source or f"test:{uuid.uuid4().hex}",
            occurred_at=at,
            details={"test": True},
            actor="token-1",
            at=at,
        )
        return None if row is None else row.id


def credit(stack: Stack, entity_id: int, role: str = "officer") -> dict[str, Any]:
    answer = stack.client.get(f"/v1/entities/{entity_id}/credit", headers=stack.auth(role))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def entry(stack: Stack, entry_id: str) -> dict[str, Any]:
    with stack.runtime.engine.connect() as conn:
        text = conn.execute(
            select(log_entry.c.entry).where(log_entry.c.entry_id == entry_id)
        ).scalar_one()
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def changes(stack: Stack, entity_id: int) -> list[CreditGradeChange]:
    with stack.runtime.session() as session:
        rows = list(
            session.execute(
                select(CreditGradeChange)
                .where(CreditGradeChange.entity_id == entity_id)
                .order_by(CreditGradeChange.id)
            ).scalars()
        )
        session.expunge_all()
        return rows


def test_records_make_grade_changes_with_entries(stack: Stack) -> None:
    entity = new_entity(stack)
    now = datetime.now(UTC)
    assert credit(stack, entity)["graded"] is False
    first = record(stack, entity, "case_penalty", at=now - timedelta(days=2), source="case:t1")
    assert first is not None
    # the same fact again is one record, and no change
    assert record(stack, entity, "case_penalty", at=now, source="case:t1") is None
    second = record(stack, entity, "takedown_late", at=now - timedelta(days=1))
    record(stack, entity, "spotcheck_compliant", at=now)  # 72: still C, no change

    made = changes(stack, entity)
    assert [(c.from_grade, c.to_grade, c.cause) for c in made] == [
        (None, "B", "record"),
        ("B", "C", "record"),
    ]
    assert json.loads(made[0].record_refs) == [f"cr-{first}"]
    assert json.loads(made[1].record_refs) == [f"cr-{second}"]
    body = entry(stack, made[1].entry_id)
    assert body["kind"] == "credit_grade"
    assert body["body"]["from"] == "B" and body["body"]["to"] == "C"
    assert body["body"]["records"] == [f"cr-{second}"] and body["body"]["score"] == 70

    with stack.runtime.session() as session:
        assert session.get_one(TradingEntity, entity).risk_grade == "C"
        assert session.get_one(CreditGrade, entity).score == 72
        count = session.execute(
            select(func.count()).select_from(CreditRecord).where(CreditRecord.entity_id == entity)
        ).scalar_one()
    assert count == 3

    answer = credit(stack, entity)
    assert (answer["grade"], answer["score"], answer["graded"]) == ("C", 72, True)
    assert answer["policy_version"] == 1
    assert (
        answer["policy_sha256"]
        == hashlib.sha256(
            canonical_json(json.loads(POLICY_V1.read_text(encoding="utf-8")))
        ).hexdigest()
    )
    by_ref = {line["ref"]: line for line in answer["lines"] if line["kind"] == "case_penalty"}
    line = by_ref[f"cr-{first}"]
    assert (line["points"], line["source"]) == (-20, "case:t1")
    assert entry(stack, line["entry_id"])["kind"] == "credit_record"
    # the entry's bytes hash to its leaf hash, which the log proves included once sealed
    logged = stack.client.get(
        f"/v1/credit/entries/{line['entry_id']}", headers=stack.auth("appraiser")
    ).json()
    leaf = hashlib.sha256(b"\x00" + logged["leaf_data"].encode("utf-8")).hexdigest()
    assert leaf == logged["leaf_hash"] == line["leaf_hash"]
    assert logged["entry"]["body"]["kind"] == "case_penalty"
    stack.runtime.seal()
    proof = stack.client.get("/v1/log/proof/inclusion", params={"leaf_hash": leaf})
    assert proof.status_code == 200, proof.text
    assert stack.client.get(
        f"/v1/credit/entries/ev-{'0' * 28}", headers=stack.auth("officer")
    ).status_code in (404, 422)
    assert [h["to_grade"] for h in answer["history"]] == ["C", "B"]
    assert answer["history"][0]["entry_id"] == made[1].entry_id
    assert answer["records"][0]["ref"] == f"cr-{first + 2}"
    paged = stack.client.get(
        f"/v1/entities/{entity}/credit", params={"limit": 1}, headers=stack.auth("appraiser")
    ).json()
    assert len(paged["records"]) == 1 and paged["records_next_cursor"]
    assert (
        stack.client.get("/v1/entities/999999/credit", headers=stack.auth("officer")).status_code
        == 404
    )


def test_regrade_due_after_time_passes_once_in_two_processes(stack: Stack) -> None:
    entity = new_entity(stack)
    start = datetime.now(UTC) - timedelta(days=10)
    ref = record(stack, entity, "case_penalty", at=start)
    with stack.runtime.session() as session:
        row = session.get_one(CreditGrade, entity)
        assert row.grade == "B" and row.next_change_at == start + timedelta(days=365)
    assert grading.regrade_due(stack.runtime, now=start + timedelta(days=364)) == 0
    later = start + timedelta(days=366)
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(grading.regrade_due(stack.runtime, now=later))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(results) == 1, results
    made = changes(stack, entity)
    assert [(c.from_grade, c.to_grade, c.cause) for c in made][-1] == ("B", "A", "decay")
    assert json.loads(made[-1].record_refs) == [f"cr-{ref}"]
    with stack.runtime.session() as session:
        row = session.get_one(CreditGrade, entity)
        assert (row.grade, row.score) == ("A", 90)
        assert row.next_change_at == start + timedelta(days=730)
        assert session.get_one(TradingEntity, entity).risk_grade == "A"
    assert grading.regrade_due(stack.runtime, now=later) == 0


def test_a_grade_typed_by_hand_is_refused(stack: Stack) -> None:
    admin = stack.auth("admin")
    body = {"platform": "example-mall", "shop_name": "手填等级", "risk_grade": "A"}
    refused = stack.client.post("/v1/entities", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "risk_grade"
    assert "/credit" in refused.json()["detail"]
    entity = new_entity(stack)
    for value in ("D", None):
        patched = stack.client.patch(
            f"/v1/entities/{entity}", json={"risk_grade": value}, headers=admin
        )
        assert patched.status_code == 422 and patched.json()["field"] == "risk_grade"
    kept = stack.client.patch(f"/v1/entities/{entity}", json={"risk_class": "食品"}, headers=admin)
    assert kept.status_code == 200 and kept.json()["risk_class"] == "食品"
    assert kept.json()["risk_grade"] is None


def test_policy_upload_is_checked_and_regrades(stack: Stack) -> None:
    admin = stack.auth("admin")
    entity = new_entity(stack)
    record(stack, entity, "case_penalty", at=datetime.now(UTC))
    listed = stack.client.get("/v1/credit/policies", headers=stack.auth("appraiser")).json()
    assert [(p["version"], p["active"]) for p in listed["items"]] == [(1, True)]
    v1 = json.loads(POLICY_V1.read_text(encoding="utf-8"))
    for defect, doc in {
        "unknown-kind": v1 | {"version": 2, "points": v1["points"] | {"bribery": -5}},
        "float-points": v1 | {"version": 2, "points": v1["points"] | {"case_penalty": -2.5}},
        "no-grades": {k: v for k, v in v1.items() if k != "grades"} | {"version": 2},
        "rule-name-array": v1 | {"version": 2, "rules": [{"rule": [], "cap": "D"}]},
    }.items():
        refused = stack.client.post("/v1/credit/policies", json=doc, headers=admin)
        assert refused.status_code == 422, (defect, refused.text)
        assert refused.json()["detail"].startswith("policy: "), defect
    same = stack.client.post("/v1/credit/policies", json=v1, headers=admin)
    assert same.status_code == 409, same.text
    officer = stack.client.post(
        "/v1/credit/policies", json=v1 | {"version": 2}, headers=stack.auth("officer")
    )
    assert officer.status_code == 403

    harsher = v1 | {"version": 2, "points": v1["points"] | {"case_penalty": -40}}
    made = stack.client.post("/v1/credit/policies", json=harsher, headers=admin)
    assert made.status_code == 201, made.text
    answer = made.json()
    assert answer["version"] == 2 and answer["active"] and answer["regraded"] >= 1
    assert answer["sha256"] == hashlib.sha256(canonical_json(harsher)).hexdigest()
    assert entry(stack, answer["entry_id"])["body"]["sha256"] == answer["sha256"]
    last = changes(stack, entity)[-1]
    assert (last.from_grade, last.to_grade, last.cause, last.policy_version) == (
        "B",
        "C",
        "policy",
        2,
    )
    got = stack.client.get("/v1/credit/policies/2", headers=stack.auth("officer")).json()
    assert got["document"] == harsher and got["sha256"] == answer["sha256"]
    assert credit(stack, entity)["policy_version"] == 2
    assert stack.client.get("/v1/credit/policies/7", headers=admin).status_code == 404


def test_hooks_fire_from_the_takedown_and_spot_check_apis(stack: Stack) -> None:
    officer, platform = stack.auth("officer"), stack.auth("platform")
    entity = new_entity(stack)
    number = f"信用案{uuid.uuid4().hex[:8]}"
    case = stack.client.post(
        "/v1/cases", json={"number": number, "title": "t", "entity_id": entity}, headers=officer
    )
    assert case.status_code == 201, case.text
    evidence = submit(stack, {"page.html": b"<p>listing</p>"}).json()["evidence_id"]

    def order(**extra: Any) -> str:
        body = {
            "platform": "example-mall",
            "listing_urls": ["https://example-mall.example/item/9"],
            "legal_basis": "《电子商务法》第三十八条",
            "reason": "credit hooks",
            "evidence_ids": [evidence],
            "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            **extra,
        }
        made = stack.client.post("/v1/takedowns", json=body, headers=officer)
        assert made.status_code == 201, made.text
        return str(made.json()["order_id"])

    def complete(order_id: str) -> None:
        done = stack.client.post(
            f"/v1/platform/takedowns/{order_id}/complete",
            json={"note": "removed", "removed_at": datetime.now(UTC).isoformat()},
            headers=platform,
        )
        assert done.status_code == 200, done.text

    on_time, late, none = order(case_number=number), order(case_number=number), order()
    for order_id in (on_time, none):  # none: no case, so no entity and no record
        acked = stack.client.post(f"/v1/platform/takedowns/{order_id}/ack", headers=platform)
        assert acked.status_code == 200, acked.text
        complete(order_id)
    ledger = takedowns.ledger_of(stack.runtime)
    assert takedowns.scan_overdue(ledger, now=datetime.now(UTC) + timedelta(days=2)) >= 1
    complete(late)
    with stack.runtime.session() as session:
        seq = session.execute(
            select(TakedownOrder.seq).where(TakedownOrder.id == on_time)
        ).scalar_one()
        recorded = takedowns.record_check(
            ledger,
            session,
            seq,
            check=takedowns.REAPPEARED,
            url="https://example-mall.example/item/9",
            evidence_id=evidence,
            delay_seconds=3600,
            at=datetime.now(UTC),
            round_=1,
        )
        assert recorded.credit_entries >= 1

    world = seed_world(stack.runtime, stations=1, officers_per_station=1, entities=1)
    (drawn_entity,) = world.entities[world.stations[0]]
    blocks = TesterBlocks()
    admin = stack.auth("admin")
    with seeded_by(stack.runtime, blocks):
        plan = stack.client.post(
            "/v1/spot-checks",
            json={
                "title": "credit hooks",
                "items": ["wj-01-license"],
                "region": world.root,
                "officer_units": [world.root],
                "entity_count": 1,
                "officer_count": 1,
                "inspectors_per_entity": 1,
            },
            headers=admin,
        )
        assert plan.status_code == 201, plan.text
        blocks.mine_to(plan.json()["seed_height"])
        drawn = stack.client.post(f"/v1/spot-checks/{plan.json()['plan_id']}/draw", headers=admin)
        assert drawn.status_code == 200, drawn.text
        (assignment,) = drawn.json()["drawn"]
        result = stack.client.post(
            f"/v1/spot-checks/{plan.json()['plan_id']}/results",
            json={
                "entity": assignment["entity"],
                "outcome": "unqualified",
                "officer": assignment["officers"][0],
            },
            headers=admin,
        )
        assert result.status_code == 201, result.text

    def kinds(entity_id: int) -> dict[str, str]:
        with stack.runtime.session() as session:
            return {
                source: kind
                for kind, source in session.execute(
                    select(CreditRecord.kind, CreditRecord.source).where(
                        CreditRecord.entity_id == entity_id
                    )
                ).all()
            }

    assert kinds(entity) == {
        f"takedown:{on_time}": "takedown_on_time",
        f"takedown:{late}": "takedown_late",
        f"takedown:{on_time}/reappeared/1": "takedown_reappeared",
    }
    assert kinds(drawn_entity) == {
        f"spotcheck:{plan.json()['plan_id']}/ent-{drawn_entity}": "spotcheck_noncompliant"
    }
    answer = credit(stack, entity)
    assert (answer["grade"], answer["score"]) == ("B", 75)  # 100 + 0 − 10 − 15
    assert credit(stack, drawn_entity, "admin")["score"] == 90


def test_jurisdiction(stack: Stack) -> None:
    world = seed_world(stack.runtime, stations=2, officers_per_station=1, entities=2)
    mine, other = world.stations
    (entity,) = world.entities[mine]
    record(stack, entity, "complaint_verified", at=datetime.now(UTC))
    own = auth_header(world.officer_tokens[world.officers[mine][0]])
    foreign = auth_header(world.officer_tokens[world.officers[other][0]])
    url = f"/v1/entities/{entity}/credit"
    assert stack.client.get(url, headers=own).json()["score"] == 95
    refused = stack.client.get(url, headers=foreign)
    assert refused.status_code == 404, refused.text
    assert stack.client.get(url, headers=stack.auth("platform")).status_code == 403
    assert stack.client.get(url).status_code == 401


def test_console_pages(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    entity = new_entity(stack)
    ref = record(stack, entity, "case_penalty", at=datetime.now(UTC), source="case:console")
    officer = Person(stack, "officer", f"信用{tag()}")
    page = officer.get(f"/console/entities/{entity}/credit")
    assert page.status_code == 200, page.text
    assert "B 信用风险一般" in page.text and "行政处罚结案" in page.text
    assert f"cr-{ref}" in page.text and "case:console" in page.text
    answer = credit(stack, entity)
    assert answer["lines"][0]["entry_id"] in page.text
    assert answer["history"][0]["entry_id"] in page.text
    assert (
        f'href="/console/entities/{entity}/credit"'
        in officer.get(f"/console/entities/{entity}").text
    )
    assert officer.get("/console/admin/credit-policy").status_code == 403

    admin = Person(stack, "admin", f"规则{tag()}")
    shown = admin.get("/console/admin/credit-policy")
    assert shown.status_code == 200 and "泉州市网络交易经营者信用分级规则" in shown.text
    bad = admin.post("/console/admin/credit-policy", {"document": '{"version": 2}'})
    assert bad.status_code == 422 and "policy: " in field_error(bad.text, "document")
    assert admin.post("/console/admin/credit-policy", {"document": "not json"}).status_code == 422
    v1 = json.loads(POLICY_V1.read_text(encoding="utf-8"))
    harsher = v1 | {"version": 2, "points": v1["points"] | {"case_penalty": -40}}
    done = admin.post(
        "/console/admin/credit-policy", {"document": json.dumps(harsher, ensure_ascii=False)}
    )
    assert done.status_code == 200, done.text
    assert 'id="policy-installed"' in done.text
    assert credit(stack, entity)["grade"] == "C"
