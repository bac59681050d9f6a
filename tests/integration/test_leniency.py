"""轻违不罚 / 容错减罚 on PostgreSQL: the 免罚清单 and closing a case with an outcome.

One module-scoped stack (a fresh PostgreSQL database, local storage, the sealer every
0.1 s). Each test makes its own entities and cases, so the order of the tests does not
matter. What is asserted: a first offence closes as 不予处罚 with its reasoning, its
``case_outcome`` log entry and its credit record; a second offence of the same entity is
refused naming the earlier case (and a case of another unit without its number); the
penalty path; a retired item is refused; bad inputs are precise 4xx; jurisdiction; two
first offences of one entity closing at once let exactly one through.
"""

from __future__ import annotations

import html
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from anchoring.schema import log_entry
from evidence_api.core.auth import authenticate, create_token
from evidence_api.core.config import Settings
from evidence_api.credit.models import CreditRecord
from evidence_api.leniency.conditions import day
from evidence_api.registry import cases as registry_cases
from evidence_api.registry.schemas import CaseTransition
from tests.support.api import Stack, auth_header, fresh_postgres_database, running_stack, submit
from tests.support.console import Person, field_error
from tests.support.leniency import (
    ITEM,
    close,
    handled_case,
    item_body,
    lenient_close,
    new_entity,
    new_item,
)

pytestmark = pytest.mark.postgres


@dataclass
class World:
    stack: Stack
    #: officers of two sibling units, and the units' codes
    officer_x: dict[str, str]
    officer_y: dict[str, str]
    unit_x: str
    unit_y: str


@pytest.fixture(scope="module")
def world(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("leniency") / "data"
    with fresh_postgres_database(postgres_url) as url:
        settings = Settings(
            database_url=url, data_dir=data, seal_interval=0.1, run_supervisor=False
        )
        with running_stack(settings) as stack:
            admin = stack.auth("admin")
            units = []
            for name in ("丰泽", "鲤城"):
                code = f"t.{uuid.uuid4().hex[:8]}"
                made = stack.client.post(
                    "/v1/units",
                    json={"code": code, "name": f"泉州市{name}区市场监督管理局", "level": "county"},
                    headers=admin,
                )
                assert made.status_code == 201, made.text
                units.append(code)
            tokens = []
            with stack.runtime.session() as session:
                for code in units:
                    _, token = create_token(session, role="officer", name=f"执法 {code}", unit=code)
                    tokens.append(auth_header(token))
            yield World(stack, tokens[0], tokens[1], units[0], units[1])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def entries(stack: Stack, kind: str) -> list[dict[str, Any]]:
    """The bodies (with id) of the ``kind`` log entries, oldest first."""
    with stack.runtime.session() as session:
        rows = session.execute(
            select(log_entry.c.entry).where(log_entry.c.kind == kind).order_by(log_entry.c.seq)
        ).scalars()
        found = []
        for text in rows:
            entry = json.loads(text)
            found.append({"id": entry["id"], **entry["body"]})
        return found


def credit_records(stack: Stack, case_id: int) -> list[CreditRecord]:
    with stack.runtime.session() as session:
        rows = session.execute(
            select(CreditRecord).where(CreditRecord.source == f"case:{case_id}")
        ).scalars()
        found = list(rows)
        session.expunge_all()
        return found


def evidence(stack: Stack) -> str:
    made = submit(stack, {"corrected.html": f"<p>已改正 {uuid.uuid4()}</p>".encode()})
    assert made.status_code == 201, made.text
    return str(made.json()["evidence_id"])


# --- the list -------------------------------------------------------------------------------


def test_the_seeded_list_each_item_a_log_entry(world: World) -> None:
    stack = world.stack
    items = ok(stack.client.get("/v1/leniency-items", headers=world.officer_x))["items"]
    codes = [i["code"] for i in items if i["code"].startswith("qz-ec-")]
    assert codes == [f"qz-ec-{n:02d}" for n in range(1, 11)]
    first = next(i for i in items if i["code"] == ITEM)
    assert first["outcome"] == "no_penalty" and first["outcome_label"] == "不予处罚"
    assert first["conditions"]["first_offence"] == {"window_days": 730, "scope": "any_case"}
    assert first["conditions"]["labels"] == [
        "首次违法（730 日内，任何违法案件）",
        "及时改正",
        "危害后果轻微",
    ]
    assert "第三十三条" in first["legal_basis"] and first["active"] is True
    seeded = [e for e in entries(stack, "leniency_item") if e["action"] == "seeded"]
    assert sorted(e["item"]["code"] for e in seeded) == codes
    assert {e["id"] for e in seeded} >= {first["entry_id"]}
    reduced = ok(stack.client.get("/v1/leniency-items/qz-ec-08", headers=world.officer_x))
    assert reduced["outcome_label"] == "减轻处罚"
    assert problem(stack.client.get("/v1/leniency-items/qz-ec-99", headers=world.officer_x), 404)


# --- closing --------------------------------------------------------------------------------


def test_a_first_offence_closes_without_penalty_with_reasoning_entry_and_credit_record(
    world: World,
) -> None:
    stack, officer = world.stack, world.officer_x
    entity = new_entity(stack, officer)
    case = handled_case(stack, officer, entity)
    proof = evidence(stack)
    closed = ok(lenient_close(stack, officer, case["id"], evidence_ids=[proof], note="已改正"))
    assert closed["status"]["code"] == "closed"
    assert closed["outcome"] == {"code": "no_penalty", "label": "不予处罚"}
    assert closed["leniency_item"] == ITEM and closed["closed_at"] is not None
    reasoning = ok(stack.client.get(f"/v1/cases/{case['id']}", headers=officer))[
        "outcome_reasoning"
    ]
    assert reasoning["format"] == "leniency-reasoning/v1"
    assert (reasoning["leniency_item"], reasoning["item_version"]) == (ITEM, 1)
    assert [(c["condition"], c["label"], c["passed"]) for c in reasoning["conditions"]] == [
        ("first_offence", "首次违法", True),
        ("corrected_in_time", "及时改正", True),
        ("minor_harm", "危害后果轻微", True),
    ]
    assert reasoning["conditions"][0]["found"] == "无，属首次违法"
    assert f"经营主体 #{entity}" in reasoning["conditions"][0]["checked"]
    assert proof in reasoning["conditions"][1]["found"]
    assert reasoning["facts"] == {
        "corrected_in_time": True,
        "minor_harm": True,
        "evidence_ids": [proof],
    }
    events = ok(stack.client.get(f"/v1/cases/{case['id']}/events", headers=officer))["items"]
    assert [(e["kind"], e["note"]) for e in events[-2:]] == [
        ("transition", "已改正"),
        ("outcome", "不予处罚：qz-ec-01 网店未亮照亮证首次被发现及时改正"),
    ]
    (logged,) = [e for e in entries(stack, "case_outcome") if e["case_id"] == case["id"]]
    assert logged["outcome"] == "no_penalty" and logged["leniency_item"] == ITEM
    assert logged["entity_id"] == entity and logged["number"] == case["number"]
    assert [c["passed"] for c in logged["conditions"]] == [True, True, True]
    assert len(logged["reasoning_sha256"]) == 64
    (record,) = credit_records(stack, case["id"])
    assert (record.entity_id, record.kind) == (entity, "case_no_penalty")
    assert json.loads(record.details) == {
        "number": case["number"],
        "outcome": "no_penalty",
        "leniency_item": ITEM,
    }


def test_a_second_offence_is_refused_naming_the_earlier_case(world: World) -> None:
    stack, officer = world.stack, world.officer_x
    entity = new_entity(stack, officer)
    first = handled_case(stack, officer, entity)
    closed = ok(lenient_close(stack, officer, first["id"]))
    second = handled_case(stack, officer, entity)
    refused = problem(lenient_close(stack, officer, second["id"]), 422)
    assert refused["field"] == "leniency_item"
    when = day(datetime.fromisoformat(closed["closed_at"]))
    assert f"非首次违法：案件 {first['number']} 于 {when} 以不予处罚结案" in refused["detail"]
    assert "first_offence (首次违法)" in refused["detail"]
    assert "corrected_in_time" not in refused["detail"]  # only the failed ones are named
    after = ok(stack.client.get(f"/v1/cases/{second['id']}", headers=officer))
    assert after["status"]["code"] == "handling" and after["outcome"] is None
    assert credit_records(stack, second["id"]) == []
    assert not [e for e in entries(stack, "case_outcome") if e["case_id"] == second["id"]]
    # the penalty path: no item, a case_penalty record
    punished = ok(close(stack, officer, second["id"], outcome="penalty"))
    assert punished["outcome"] == {"code": "penalty", "label": "行政处罚"}
    assert punished["leniency_item"] is None
    assert punished["outcome_reasoning"]["conditions"] == []
    (record,) = credit_records(stack, second["id"])
    assert record.kind == "case_penalty"
    # a third case: the dry run names both, newest first, and changes nothing
    third = handled_case(stack, officer, entity)
    check = ok(
        stack.client.get(
            f"/v1/leniency-items/{ITEM}/check",
            params={"case_id": third["id"], "corrected_in_time": "true", "minor_harm": "true"},
            headers=officer,
        )
    )
    assert check["allowed"] is False
    found = check["conditions"][0]["found"]
    assert found.index(second["number"]) < found.index(first["number"])
    assert "以行政处罚结案" in found
    assert [c["passed"] for c in check["conditions"][1:]] == [True, True]


def test_same_item_scope_counts_only_cases_citing_the_item(world: World) -> None:
    stack, officer = world.stack, world.officer_x
    item = new_item(stack)  # first offence within 365 days, same item; corrected in time
    entity = new_entity(stack, officer)
    earlier = handled_case(stack, officer, entity)
    ok(close(stack, officer, earlier["id"], outcome="penalty"))
    case = handled_case(stack, officer, entity)
    body = {"outcome": "no_penalty", "leniency_item": item["code"], "corrected_in_time": True}
    ok(close(stack, officer, case["id"], **body))
    again = handled_case(stack, officer, entity)
    refused = problem(close(stack, officer, again["id"], **body), 422)
    assert case["number"] in refused["detail"] and earlier["number"] not in refused["detail"]


def test_conditions_not_stated_or_not_met_are_each_named(world: World) -> None:
    stack, officer = world.stack, world.officer_x
    case = handled_case(stack, officer, new_entity(stack, officer))
    refused = problem(
        close(
            stack,
            officer,
            case["id"],
            outcome="no_penalty",
            leniency_item=ITEM,
            corrected_in_time=False,
        ),
        422,
    )
    assert "corrected_in_time (及时改正): 未在期限内改正" in refused["detail"]
    assert "minor_harm (危害后果轻微): 未说明危害后果是否轻微" in refused["detail"]
    assert "first_offence" not in refused["detail"]
    orphan = handled_case(stack, officer, None)
    refused = problem(lenient_close(stack, officer, orphan["id"]), 422)
    assert "案件未关联经营主体" in refused["detail"]


def test_a_retired_item_is_refused_and_changes_are_logged(world: World) -> None:
    stack, admin, officer = world.stack, world.stack.auth("admin"), world.officer_x
    item = new_item(stack)
    code = item["code"]
    assert (item["version"], item["active"]) == (1, True)
    url = f"/v1/leniency-items/{code}"
    retired = ok(stack.client.patch(url, json={"active": False}, headers=admin))
    assert (retired["version"], retired["active"]) == (2, False)
    case = handled_case(stack, officer, new_entity(stack, officer))
    body = {"outcome": "no_penalty", "leniency_item": code, "corrected_in_time": True}
    refused = problem(close(stack, officer, case["id"], **body), 422)
    assert refused["field"] == "leniency_item" and "retired" in refused["detail"]
    listed = ok(stack.client.get("/v1/leniency-items", params={"active": "false"}, headers=admin))
    assert code in [i["code"] for i in listed["items"]]
    same = ok(stack.client.patch(url, json={"active": False}, headers=admin))
    assert same["version"] == 2  # nothing changed: no entry
    restored = ok(stack.client.patch(url, json={"active": True}, headers=admin))
    assert restored["version"] == 3
    ok(close(stack, officer, case["id"], **body))
    actions = [e["action"] for e in entries(stack, "leniency_item") if e["item"]["code"] == code]
    assert actions == ["created", "retired", "restored"]
    assert problem(stack.client.patch(url, json={"title": None}, headers=admin), 422)["field"] == (
        "title"
    )
    assert problem(stack.client.patch("/v1/leniency-items/nope-1", json={}, headers=admin), 404)
    dup = stack.client.post("/v1/leniency-items", json=item_body(code=code), headers=admin)
    assert problem(dup, 409)["field"] == "code"
    none = item_body(conditions={"corrected_in_time": False})
    assert problem(stack.client.post("/v1/leniency-items", json=none, headers=admin), 422)
    long_window = item_body(conditions={"first_offence": {"window_days": 3651}})
    bad = problem(stack.client.post("/v1/leniency-items", json=long_window, headers=admin), 422)
    assert "window_days" in bad["field"]
    for code_text in ("QZ-1", "-a", "a" * 33, "a"):
        bad_code = stack.client.post(
            "/v1/leniency-items", json=item_body(code=code_text), headers=admin
        )
        assert problem(bad_code, 422)["field"] == "code", code_text


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "outcome", "required to close a handled case"),
        ({"outcome": "not_filed"}, "outcome", "not_filed is a clue closed directly"),
        ({"outcome": "penalty", "leniency_item": ITEM}, "leniency_item", "cites no leniency"),
        ({"outcome": "no_penalty"}, "leniency_item", "required for no_penalty"),
        ({"outcome": "reduced", "leniency_item": ITEM}, "leniency_item", "allows no_penalty"),
        ({"outcome": "no_penalty", "leniency_item": "qz-ec-77"}, "leniency_item", "no leniency"),
        ({"outcome": "no_penalty", "leniency_item": "QZ EC"}, "leniency_item", "pattern"),
        ({"outcome": "fine"}, "outcome", "Input should be"),
        ({"outcome": "penalty", "minor_harm": "maybe"}, "minor_harm", "boolean"),
        (
            {"outcome": "penalty", "evidence_ids": ["ev-" + "0" * 28]},
            "evidence_ids",
            "no evidence",
        ),
        (
            {"outcome": "penalty", "evidence_ids": [f"ev-{n:028x}" for n in range(21)]},
            "evidence_ids",
            "at most 20",
        ),
    ],
    ids=[
        "no-outcome",
        "not-filed-after-handling",
        "penalty-with-item",
        "lenient-without-item",
        "outcome-the-item-does-not-allow",
        "unknown-item",
        "malformed-item",
        "unknown-outcome",
        "non-boolean-fact",
        "unknown-evidence",
        "too-much-evidence",
    ],
)
def test_bad_closing_bodies_are_422_and_change_nothing(
    world: World, body: dict[str, Any], field: str, words: str
) -> None:
    stack, officer = world.stack, world.officer_x
    case = handled_case(stack, officer, new_entity(stack, officer))
    refused = problem(close(stack, officer, case["id"], **body), 422)
    assert refused["field"].startswith(field) and words in refused["detail"], refused
    after = ok(stack.client.get(f"/v1/cases/{case['id']}", headers=officer))
    assert after["status"]["code"] == "handling" and after["outcome"] is None


def test_outcomes_belong_to_closing_and_a_clue_closes_as_not_filed(world: World) -> None:
    stack, officer = world.stack, world.officer_x
    entity = new_entity(stack, officer)
    clue = handled_case(stack, officer, entity, steps=())
    moved = stack.client.post(
        f"/v1/cases/{clue['id']}/transition",
        json={"to": "filed", "outcome": "penalty"},
        headers=officer,
    )
    assert problem(moved, 422)["field"] == "outcome"
    assert problem(lenient_close(stack, officer, clue["id"]), 422)["field"] == "outcome"
    not_filed = ok(close(stack, officer, clue["id"], note="证据不足"))
    assert not_filed["outcome"] == {"code": "not_filed", "label": "不予立案"}
    assert not_filed["outcome_reasoning"] is None
    assert credit_records(stack, clue["id"]) == []
    # not_filed is no offence: a later first offence still closes without penalty
    ok(lenient_close(stack, officer, handled_case(stack, officer, entity)["id"]))


def test_jurisdiction_hides_cases_and_withholds_other_units_numbers(world: World) -> None:
    stack, x, y = world.stack, world.officer_x, world.officer_y
    entity = new_entity(stack, x)
    first = handled_case(stack, x, entity)
    ok(lenient_close(stack, x, first["id"]))
    assert problem(lenient_close(stack, y, first["id"]), 404)["detail"] == f"no case {first['id']}"
    dry = stack.client.get(
        f"/v1/leniency-items/{ITEM}/check", params={"case_id": first["id"]}, headers=y
    )
    assert problem(dry, 404)
    # a case of unit Y about the same entity (assigned by the top): the earlier offence
    # counts, but unit Y does not learn the other case's number
    admin = stack.auth("admin")
    made = stack.client.post(
        "/v1/cases",
        json={"number": f"鲤市监网案{uuid.uuid4().hex[:8]}", "title": "t", "entity_id": entity},
        headers=admin,
    )
    second = ok(made, 201)
    ok(stack.client.patch(f"/v1/cases/{second['id']}", json={"unit": world.unit_y}, headers=admin))
    for step in ("filed", "investigating", "handling"):
        ok(stack.client.post(f"/v1/cases/{second['id']}/transition", json={"to": step}, headers=y))
    refused = problem(lenient_close(stack, y, second["id"]), 422)
    assert "非首次违法：其他单位办理的一件案件 于" in refused["detail"]
    assert first["number"] not in refused["detail"]


def test_two_first_offences_of_one_entity_closing_at_once_let_one_through(world: World) -> None:
    stack, officer = world.stack, world.officer_x
    entity = new_entity(stack, officer)
    cases = [handled_case(stack, officer, entity) for _ in range(2)]
    with stack.runtime.session() as session:
        _, token = create_token(session, role="officer", name="racer", unit=world.unit_x)
    with stack.runtime.session() as session:
        principal = authenticate(session, f"Bearer {token}")
    start = threading.Barrier(2)
    results: list[str] = []
    body = CaseTransition(
        to="closed",
        outcome="no_penalty",
        leniency_item=ITEM,
        corrected_in_time=True,
        minor_harm=True,
    )

    def race(case_id: int) -> None:
        start.wait()
        try:
            with stack.runtime.session() as session:
                registry_cases.transition_case(
                    session, stack.runtime.sign_receipt, principal, case_id, body
                )
            results.append("closed")
        except Exception as exc:  # the type is what is asserted
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=race, args=(c["id"],)) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["InvalidInputError", "closed"]
    outcomes = [
        ok(stack.client.get(f"/v1/cases/{c['id']}", headers=officer))["outcome"] for c in cases
    ]
    assert sorted(o["code"] if o else "open" for o in outcomes) == ["no_penalty", "open"]


# --- console --------------------------------------------------------------------------------


def test_console_close_form_checks_conditions_and_shows_the_reasoning(world: World) -> None:
    stack = world.stack
    person = Person(stack, "officer", f"李执法{uuid.uuid4().hex[:4]}")
    entity = new_entity(stack, stack.auth("officer"))
    first, second = (handled_case(stack, stack.auth("officer"), entity) for _ in range(2))
    page = person.get(f"/console/cases/{first['id']}").text
    assert 'id="close-outcome"' in page and 'id="outcome-no_penalty"' in page
    assert f'<option value="{ITEM}"' in page
    url = f"/console/cases/{first['id']}/transition"
    missing = person.post(url, {"to": "closed"})
    assert missing.status_code == 422 and 'id="e-outcome"' in missing.text
    form = {
        "to": "closed",
        "outcome": "no_penalty",
        "leniency_item": ITEM,
        "corrected_in_time": "1",
        "minor_harm": "1",
    }
    assert person.post(url, form).status_code == 303
    closed = ok(stack.client.get(f"/v1/cases/{first['id']}", headers=stack.auth("officer")))
    assert closed["outcome"]["code"] == "no_penalty"
    shown = person.get(f"/console/cases/{first['id']}").text
    assert 'data-outcome="no_penalty"' in shown and "不予处罚" in shown
    assert shown.count('data-passed="true"') == 3 and 'id="close-outcome"' not in shown
    refused = person.post(f"/console/cases/{second['id']}/transition", form)
    assert refused.status_code == 422
    error = field_error(refused.text, "leniency_item")
    assert f"非首次违法：案件 {first['number']}" in html.unescape(error)
    assert 'id="outcome-no_penalty" checked' in refused.text  # the form refilled


def test_console_admin_adds_and_retires_items(world: World) -> None:
    stack = world.stack
    admin = Person(stack, "admin", f"管理员{uuid.uuid4().hex[:4]}")
    officer = Person(stack, "officer", f"王执法{uuid.uuid4().hex[:4]}")
    assert officer.get("/console/admin/leniency").status_code == 403
    page = admin.get("/console/admin/leniency").text
    assert f'data-code="{ITEM}"' in page
    code = f"t-{uuid.uuid4().hex[:8]}"
    form = {
        "code": code,
        "title": "网店未公示退货规则",
        "violation": "未公示七日无理由退货规则",
        "legal_basis": "《中华人民共和国行政处罚法》第三十三条第一款",
        "outcome": "reduced",
        "first_offence": "1",
        "window_days": "365",
        "scope": "any_case",
        "corrected_in_time": "1",
    }
    assert admin.post("/console/admin/leniency", form).status_code == 303
    made = ok(stack.client.get(f"/v1/leniency-items/{code}", headers=stack.auth("admin")))
    assert made["outcome"] == "reduced"
    assert made["conditions"]["first_offence"] == {"window_days": 365, "scope": "any_case"}
    assert made["conditions"]["minor_harm"] is False
    bad = admin.post("/console/admin/leniency", {**form, "code": "Bad Code"})
    assert bad.status_code == 422 and field_error(bad.text, "code")
    nothing = {k: v for k, v in form.items() if k not in ("first_offence", "corrected_in_time")}
    none = admin.post("/console/admin/leniency", {**nothing, "code": f"t-{uuid.uuid4().hex[:8]}"})
    assert none.status_code == 422 and "at least one condition" in html.unescape(none.text)
    assert admin.post(f"/console/admin/leniency/{code}/active", {"active": "0"}).status_code == 303
    listed = admin.get("/console/admin/leniency").text
    assert f'data-code="{code}" data-active="false"' in listed
    after = ok(stack.client.get(f"/v1/leniency-items/{code}", headers=stack.auth("admin")))
    assert (after["active"], after["version"]) == (False, 2)
